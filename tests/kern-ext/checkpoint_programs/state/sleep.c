/* A process checkpointed in nanosleep() completes its sleep after restore: the call
 * returns EINTR with the time left (the kernel's restart block stays in the old task)
 * and the usual loop sleeps the rest, so the whole sleep lasts at least what was asked.
 * usage: sleep MS (the sleep starts right after "ready"). */
#include "ckpt_check.h"
#include <errno.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
    if (argc != 2) return 2;
    long ms = atol(argv[1]);
    struct timespec req = {ms / 1000, (ms % 1000) * 1000000}, rem;
    ready("sleep");
    double t0 = now();
    int interrupted = 0;
    while (nanosleep(&req, &rem) < 0 && errno == EINTR) {
        interrupted++;
        req = rem;
    }
    double slept = now() - t0;
    dprintf(1, "info slept %.3f s, interrupted %d times\n", slept, interrupted);
    wait_line();
    CHECK(slept >= (double)ms / 1000, "slept %.3f s, asked for %.3f s", slept, (double)ms / 1000);
    CHECK(slept < (double)ms / 1000 + 5, "slept %.3f s, asked for %.3f s", slept, (double)ms / 1000);
    return pass();
}
