/* The working directory survives: usage: cwd DIR (DIR holds a file "marker"). */
#include "ckpt_check.h"
#include <fcntl.h>
#include <string.h>

int main(int argc, char** argv) {
    if (argc != 2 || chdir(argv[1]) != 0) return 2;
    char before[4096], after[4096];
    if (!getcwd(before, sizeof before)) return 2;
    ready("cwd");
    wait_line();
    CHECK(getcwd(after, sizeof after) != NULL, "getcwd failed");
    CHECK(strcmp(before, after) == 0, "cwd %s, expected %s", after, before);
    int fd = open("marker", O_RDONLY);
    CHECK(fd >= 0, "relative open of marker failed in %s", after);
    return pass();
}
