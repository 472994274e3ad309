/* Reads the file at fd 3 one byte per command: for each byte that arrives on stdin it
 * reads one byte of fd 3 and prints "<byte> <FD_CLOEXEC of fd 3>". With the argument
 * "cloexec" it sets FD_CLOEXEC on fd 3 first. Prints "ready" at start; ends at EOF on
 * stdin. Checkpointed between commands, a restore must continue at the saved offset. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
    if (argc > 1 && strcmp(argv[1], "cloexec") == 0 && fcntl(3, F_SETFD, FD_CLOEXEC) < 0) return 2;
    printf("ready\n");
    fflush(stdout);
    char command;
    while (read(0, &command, 1) == 1) {
        char c = '-';
        if (read(3, &c, 1) != 1) c = '-';
        printf("%c %d\n", c, fcntl(3, F_GETFD));
        fflush(stdout);
    }
    return 0;
}
