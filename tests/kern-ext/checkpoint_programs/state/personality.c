/* The personality survives, with its effect: UNAME26 makes uname report a 2.6 kernel. */
#include "ckpt_check.h"
#include <string.h>
#include <sys/personality.h>
#include <sys/utsname.h>

int main(void) {
    unsigned want = PER_LINUX | ADDR_NO_RANDOMIZE | UNAME26;
    personality(want);
    unsigned before = (unsigned)personality(0xffffffff);
    CHECK(before == want, "could not set the personality (%#x)", before);
    ready("personality");
    wait_line();
    unsigned after = (unsigned)personality(0xffffffff);
    CHECK(after == want, "personality %#x, expected %#x", after, want);
    struct utsname u;
    uname(&u);
    CHECK(strncmp(u.release, "2.6.", 4) == 0, "UNAME26 without effect: release %s", u.release);
    return pass();
}
