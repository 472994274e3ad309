/* alarm() survives (it is ITIMER_REAL without an interval): after restore the alarm is
 * still set, with less time left, and its SIGALRM arrives. */
#include "ckpt_check.h"
#include <signal.h>
#include <sys/time.h>

static volatile sig_atomic_t alarms;
static void on_alarm(int sig) { (void)sig; alarms++; }

int main(void) {
    signal(SIGALRM, on_alarm);
    alarm(3);
    ready("alarm");
    wait_line();
    struct itimerval r;
    getitimer(ITIMER_REAL, &r);
    CHECK(alarms == 0, "SIGALRM came before the check");
    CHECK((r.it_value.tv_sec > 0 || r.it_value.tv_usec > 0) && r.it_value.tv_sec < 3,
          "alarm: %ld.%06ld s left, expected between 0 and 3", (long)r.it_value.tv_sec, (long)r.it_value.tv_usec);
    CHECK(r.it_interval.tv_sec == 0 && r.it_interval.tv_usec == 0, "alarm got an interval");
    while (alarms == 0) pause();
    return pass();
}
