/* Interval timers survive: ITIMER_REAL (2 s left, 60 s interval), ITIMER_VIRTUAL and
 * ITIMER_PROF (CPU-time timers, which a blocked process does not use). After restore the
 * real timer has less left than before but more than 0, the same interval, and its
 * SIGALRM comes when it says. */
#include "ckpt_check.h"
#include <signal.h>
#include <sys/time.h>
#include <time.h>

static volatile sig_atomic_t alarms;
static void on_alarm(int sig) { (void)sig; alarms++; }

static double secs(struct timeval t) { return (double)t.tv_sec + (double)t.tv_usec / 1e6; }
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(void) {
    signal(SIGALRM, on_alarm);
    struct itimerval real = {{60, 0}, {2, 0}}, virt = {{50, 0}, {40, 0}}, prof = {{30, 0}, {20, 0}};
    setitimer(ITIMER_REAL, &real, NULL);
    setitimer(ITIMER_VIRTUAL, &virt, NULL);
    setitimer(ITIMER_PROF, &prof, NULL);
    struct itimerval before;
    getitimer(ITIMER_REAL, &before);
    ready("timers");
    wait_line();

    struct itimerval r, v, p;
    getitimer(ITIMER_REAL, &r);
    getitimer(ITIMER_VIRTUAL, &v);
    getitimer(ITIMER_PROF, &p);
    double left = secs(r.it_value);
    CHECK(alarms == 0, "SIGALRM came before the check (checkpoint too slow?)");
    CHECK(left > 0 && left < secs(before.it_value), "real timer: %.3f s left, was %.3f s", left, secs(before.it_value));
    CHECK(r.it_interval.tv_sec == 60, "real timer interval %ld s, expected 60", (long)r.it_interval.tv_sec);
    CHECK(secs(v.it_value) > 39 && secs(v.it_value) <= 40.1 && v.it_interval.tv_sec == 50,
          "virtual timer %.3f s left / %ld s interval, expected ~40 / 50", secs(v.it_value), (long)v.it_interval.tv_sec);
    CHECK(secs(p.it_value) > 19 && secs(p.it_value) <= 20.1 && p.it_interval.tv_sec == 30,
          "prof timer %.3f s left / %ld s interval, expected ~20 / 30", secs(p.it_value), (long)p.it_interval.tv_sec);
    double t0 = now();
    while (alarms == 0) pause();
    double waited = now() - t0;
    CHECK(waited > left - 0.1 && waited < left + 0.5, "SIGALRM after %.3f s, the timer said %.3f s", waited, left);
    return pass();
}
