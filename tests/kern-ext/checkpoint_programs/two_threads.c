/* Two threads, both waiting: a checkpoint must refuse it (naming "threads") and leave it
 * running. Prints "ready" once the second thread exists. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static void* idle(void* arg) {
    (void)arg;
    for (;;) pause();
    return NULL;
}

int main(void) {
    pthread_t t;
    if (pthread_create(&t, NULL, idle, NULL) != 0) return 1;
    printf("ready\n");
    fflush(stdout);
    for (;;) pause();
}
