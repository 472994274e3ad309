/* The vdso still works after restore: it is at the auxv's address, clock_gettime and
 * gettimeofday through it agree with the system calls, and CLOCK_MONOTONIC did not go
 * backwards across the checkpoint. */
#include "ckpt_check.h"
#include <stdint.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

static double ts(struct timespec t) { return (double)t.tv_sec + (double)t.tv_nsec / 1e9; }

static int is_vdso(unsigned long addr) {
    FILE* f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && addr >= lo && addr < hi) found = strstr(line, "[vdso]") != NULL;
    }
    if (f) fclose(f);
    return found;
}

int main(void) {
    struct timespec before;
    clock_gettime(CLOCK_MONOTONIC, &before);
    unsigned long vdso = getauxval(AT_SYSINFO_EHDR);
    CHECK(vdso && is_vdso(vdso), "no vdso before the checkpoint");
    ready("vdso");
    wait_line();
    CHECK(is_vdso(vdso), "no [vdso] at %#lx after restore", vdso);
    struct timespec last = before;
    for (int i = 0; i < 1000; ++i) {
        struct timespec v, s;
        clock_gettime(CLOCK_MONOTONIC, &v);
        syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &s);
        CHECK(ts(v) >= ts(last), "CLOCK_MONOTONIC went backwards: %.6f < %.6f", ts(v), ts(last));
        CHECK(ts(s) - ts(v) >= 0 && ts(s) - ts(v) < 0.1, "vdso monotonic %.6f, system call %.6f", ts(v), ts(s));
        last = v;
    }
    struct timeval tv;
    struct timespec real;
    gettimeofday(&tv, NULL);
    syscall(SYS_clock_gettime, CLOCK_REALTIME, &real);
    double diff = ts(real) - ((double)tv.tv_sec + (double)tv.tv_usec / 1e6);
    CHECK(diff > -0.001 && diff < 0.1, "gettimeofday is %.6f s off the system call", diff);
    return pass();
}
