/* Every resource limit survives; a few are set to values the restorer does not have. */
#include "ckpt_check.h"
#include <sys/resource.h>

int main(void) {
    struct rlimit set[] = {{100, 200}, {0, 12345 * 1024}, {1000, 2000}};
    setrlimit(RLIMIT_NOFILE, &set[0]);
    setrlimit(RLIMIT_CORE, &set[1]);
    setrlimit(RLIMIT_CPU, &set[2]);
    struct rlimit before[RLIM_NLIMITS];
    for (int r = 0; r < RLIM_NLIMITS; ++r) getrlimit(r, &before[r]);
    CHECK(before[RLIMIT_NOFILE].rlim_max == 200, "could not set RLIMIT_NOFILE");
    ready("rlimits");
    wait_line();
    for (int r = 0; r < RLIM_NLIMITS; ++r) {
        struct rlimit now;
        getrlimit(r, &now);
        CHECK(now.rlim_cur == before[r].rlim_cur && now.rlim_max == before[r].rlim_max,
              "resource %d: %llu/%llu, expected %llu/%llu", r, (unsigned long long)now.rlim_cur,
              (unsigned long long)now.rlim_max, (unsigned long long)before[r].rlim_cur,
              (unsigned long long)before[r].rlim_max);
    }
    return pass();
}
