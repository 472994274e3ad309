/* glibc's rseq registration survives: the kernel still updates the area's cpu_id (we
 * spoil it and let a signal delivery refresh it), registering it again says EBUSY (the
 * same area is registered), and sched_getcpu() agrees with getcpu(2). */
#define _GNU_SOURCE
#include "ckpt_check.h"
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/rseq.h>
#include <sys/syscall.h>

static void on_usr1(int sig) { (void)sig; }

static struct rseq* area(void) { return (struct rseq*)((char*)__builtin_thread_pointer() + __rseq_offset); }

int main(void) {
    CHECK(__rseq_size > 0, "glibc did not register rseq (glibc.pthread.rseq=0?)");
    signal(SIGUSR1, on_usr1);
    ready("rseq");
    wait_line();
    volatile struct rseq* r = area();
    r->cpu_id = 0x7ffff;  /* spoiled: only the kernel puts it right */
    raise(SIGUSR1);
    unsigned cpu = 0;
    syscall(SYS_getcpu, &cpu, NULL, NULL);
    CHECK(r->cpu_id == cpu || r->cpu_id_start == cpu, "rseq cpu_id %u not updated (cpu %u): not registered", r->cpu_id, cpu);
    /* glibc registers at least 32 bytes (struct rseq's original size). */
    long again = syscall(SYS_rseq, area(), __rseq_size > 32 ? __rseq_size : 32, 0, RSEQ_SIG);
    CHECK(again < 0 && errno == EBUSY, "registering the area again: %ld errno %d, expected EBUSY", again, errno);
    int c = sched_getcpu();
    CHECK(c >= 0, "sched_getcpu failed");
    return pass();
}
