/* pid and ppid are the same after restore (the ppid only when the restorer is the
 * parent, as in the test); both are printed so a test can compare them too. */
#include "ckpt_check.h"

int main(void) {
    pid_t pid = getpid(), ppid = getppid();
    ready("identity");
    wait_line();
    dprintf(1, "info pid %d ppid %d\n", getpid(), getppid());
    CHECK(getpid() == pid, "pid %d, was %d", getpid(), pid);
    CHECK(getppid() == ppid, "ppid %d, was %d", getppid(), ppid);
    return pass();
}
