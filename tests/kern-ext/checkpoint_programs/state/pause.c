/* A process checkpointed in pause() stays in it after restore (the call restarts) and
 * a signal sent to the restored process wakes it and runs its handler. */
#include "ckpt_check.h"
#include <errno.h>
#include <signal.h>

static volatile sig_atomic_t woken;
static void on_usr1(int sig) { (void)sig; woken = 1; }

int main(void) {
    signal(SIGUSR1, on_usr1);
    ready("pause");
    int rv = pause();
    int err = errno;
    CHECK(woken == 1, "pause returned (%d, errno %d) without the handler", rv, err);
    CHECK(rv == -1 && err == EINTR, "pause returned %d errno %d, expected EINTR", rv, err);
    dprintf(1, "info woken\n");
    wait_line();
    return pass();
}
