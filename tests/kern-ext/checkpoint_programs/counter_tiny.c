/* A tiny program without libc (no TLS, no rseq, no vdso use): counts in memory and
 * reports "progress N" on fd 1 after each step, then "done SUM" where SUM = 1+2+...+total.
 * Checkpointed mid-count and restored, it must continue from where it was. */
#define STEPS 200
#define PER_STEP (1ul << 21)

static volatile unsigned long counter;
static volatile unsigned long sum;

static long syscall3(long n, long a, long b, long c) {
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}

static void put_line(const char* word, unsigned long v) {
    char buf[64];
    int n = 0;
    while (*word) buf[n++] = *word++;
    buf[n++] = ' ';
    char digits[24];
    int d = 0;
    do {
        digits[d++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (d) buf[n++] = digits[--d];
    buf[n++] = '\n';
    syscall3(1 /* write */, 1, (long)buf, n);
}

__attribute__((force_align_arg_pointer, noreturn)) void _start(void) {
    for (unsigned long step = 1; step <= STEPS; ++step) {
        for (unsigned long i = 0; i < PER_STEP; ++i) {
            counter = counter + 1;
            sum = sum + counter;
        }
        put_line("progress", step);
    }
    put_line("done", sum);
    syscall3(60 /* exit */, 0, 0, 0);
    __builtin_unreachable();
}
