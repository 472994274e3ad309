/* A glibc program: dirties MIB MiB of malloc'd memory, then for STEPS steps updates it,
 * prints progress with printf and sleeps a second (so a checkpoint usually finds it in
 * nanosleep). It also reads the clock through the vdso each step and checks it never
 * goes backwards. Its output depends only on its arguments: a restored run must print
 * exactly what an uninterrupted one prints.
 *   usage: counter_glibc STEPS MIB */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
    if (argc != 3) return 2;
    int steps = atoi(argv[1]);
    size_t words = ((size_t)atoi(argv[2]) << 20) / sizeof(uint64_t);
    uint64_t* a = malloc(words * sizeof *a);
    if (!a) return 3;
    for (size_t i = 0; i < words; ++i) a[i] = i * 2654435761u;
    printf("started %zu words\n", words);
    fflush(stdout);

    struct timespec last;
    clock_gettime(CLOCK_MONOTONIC, &last);
    uint64_t acc = 0;
    for (int s = 1; s <= steps; ++s) {
        for (size_t i = 0; i < words; i += 61) {
            a[i] += (uint64_t)s;
            acc = acc * 31 + a[i];
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int clock_ok = now.tv_sec > last.tv_sec || (now.tv_sec == last.tv_sec && now.tv_nsec >= last.tv_nsec);
        last = now;
        printf("progress %d %llu clock %s\n", s, (unsigned long long)acc, clock_ok ? "ok" : "BACKWARDS");
        fflush(stdout);
        sleep(1);
    }
    uint64_t check = 0;
    for (size_t i = 0; i < words; ++i) check += a[i];
    printf("done %llu %llu\n", (unsigned long long)acc, (unsigned long long)check);
    free(a);
    return 0;
}
