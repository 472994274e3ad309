/* umask survives: set 027, after restore umask() still returns 027. */
#include "ckpt_check.h"
#include <sys/stat.h>

int main(void) {
    umask(027);
    ready("umask");
    wait_line();
    mode_t now = umask(027);
    CHECK(now == 027, "umask %03o, expected 027", (unsigned)now);
    return pass();
}
