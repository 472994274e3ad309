/* Thread-local storage survives: the fs base (arch_prctl), a __thread variable's address
 * and value, pthread_self() and errno (which lives in TLS). */
#include "ckpt_check.h"
#include <asm/prctl.h>
#include <errno.h>
#include <pthread.h>
#include <sys/syscall.h>

static __thread unsigned long tls_value = 0;

int main(void) {
    unsigned long fs_before = 0, fs_after = 0;
    syscall(SYS_arch_prctl, ARCH_GET_FS, &fs_before);
    tls_value = 0x5eed1234abcdull;
    unsigned long* where = &tls_value;
    pthread_t self = pthread_self();
    ready("tls");
    wait_line();
    syscall(SYS_arch_prctl, ARCH_GET_FS, &fs_after);
    CHECK(fs_after == fs_before, "fs base %#lx, was %#lx", fs_after, fs_before);
    CHECK(&tls_value == where, "__thread variable moved: %p, was %p", (void*)&tls_value, (void*)where);
    CHECK(tls_value == 0x5eed1234abcdull, "__thread value %#lx", tls_value);
    CHECK(pthread_equal(pthread_self(), self), "pthread_self changed");
    errno = 0;
    CHECK(close(-1) < 0 && errno == EBADF, "errno through TLS broken (%d)", errno);
    return pass();
}
