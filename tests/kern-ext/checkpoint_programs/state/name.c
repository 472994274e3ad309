/* The process name (prctl PR_SET_NAME) survives. */
#include "ckpt_check.h"
#include <string.h>
#include <sys/prctl.h>

int main(void) {
    prctl(PR_SET_NAME, "ckpt-name-42");
    ready("name");
    wait_line();
    char name[17] = {0};
    prctl(PR_GET_NAME, name);
    CHECK(strcmp(name, "ckpt-name-42") == 0, "name '%s', expected 'ckpt-name-42'", name);
    return pass();
}
