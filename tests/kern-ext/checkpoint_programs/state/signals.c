/* Signal state survives: a SIGUSR1 handler (SA_SIGINFO|SA_ONSTACK, its own mask),
 * SIGTERM ignored, the blocked mask, a pending SIGUSR2 (blocked and raised) and a
 * pending queued SIGRTMIN+1 with its value, and the alternate stack (the handler runs
 * on it). After restore the pending signals are still pending and are delivered, with
 * their data, once unblocked. */
#include "ckpt_check.h"
#include <signal.h>
#include <stdint.h>
#include <string.h>

static char altstack[64 * 1024];
static volatile sig_atomic_t usr1_on_altstack = -1, usr2_seen, rt_value = -1;

static void on_usr1(int sig, siginfo_t* info, void* uc) {
    (void)sig, (void)info, (void)uc;
    char here;
    usr1_on_altstack = &here >= altstack && &here < altstack + sizeof altstack;
}
static void on_usr2(int sig) { (void)sig; usr2_seen = 1; }
static void on_rt(int sig, siginfo_t* info, void* uc) { (void)sig, (void)uc; rt_value = info->si_value.sival_int; }

int main(void) {
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    sigaltstack(&ss, NULL);
    struct sigaction a = {.sa_sigaction = on_usr1, .sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART};
    sigaddset(&a.sa_mask, SIGHUP);
    sigaction(SIGUSR1, &a, NULL);
    signal(SIGUSR2, on_usr2);
    struct sigaction rt = {.sa_sigaction = on_rt, .sa_flags = SA_SIGINFO};
    sigaction(SIGRTMIN + 1, &rt, NULL);
    signal(SIGTERM, SIG_IGN);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR2);
    sigaddset(&block, SIGRTMIN + 1);
    sigaddset(&block, SIGWINCH);
    sigprocmask(SIG_BLOCK, &block, NULL);
    raise(SIGUSR2);
    sigqueue(getpid(), SIGRTMIN + 1, (union sigval){.sival_int = 42});

    struct sigaction usr1_before;
    sigaction(SIGUSR1, NULL, &usr1_before);
    sigset_t mask_before, mask;
    sigemptyset(&mask_before);
    sigemptyset(&mask);
    sigprocmask(SIG_BLOCK, NULL, &mask_before);
    ready("signals");
    wait_line();

    struct sigaction now;
    sigaction(SIGUSR1, NULL, &now);
    CHECK(now.sa_sigaction == on_usr1 && now.sa_flags == usr1_before.sa_flags, "SIGUSR1 handler/flags changed (%#x)", now.sa_flags);
    CHECK(sigismember(&now.sa_mask, SIGHUP) == 1, "SIGUSR1's handler mask lost SIGHUP");
    sigaction(SIGTERM, NULL, &now);
    CHECK(now.sa_handler == SIG_IGN, "SIGTERM no longer ignored");
    sigprocmask(SIG_BLOCK, NULL, &mask);
    for (int sig = 1; sig < 65; ++sig)  /* sigset_t is larger than the kernel's: compare signals, not bytes */
        CHECK(sigismember(&mask, sig) == sigismember(&mask_before, sig), "signal %d's blocked bit changed", sig);
    stack_t ss_now;
    sigaltstack(NULL, &ss_now);
    CHECK(ss_now.ss_sp == altstack && ss_now.ss_size == sizeof altstack && !(ss_now.ss_flags & SS_DISABLE),
          "sigaltstack %p/%zu/%d", ss_now.ss_sp, ss_now.ss_size, ss_now.ss_flags);
    sigset_t pending;
    sigpending(&pending);
    CHECK(sigismember(&pending, SIGUSR2) == 1, "SIGUSR2 no longer pending");
    CHECK(sigismember(&pending, SIGRTMIN + 1) == 1, "SIGRTMIN+1 no longer pending");
    CHECK(!usr2_seen && rt_value == -1, "a blocked signal was delivered");

    raise(SIGUSR1);
    CHECK(usr1_on_altstack == 1, "SIGUSR1 handler %s", usr1_on_altstack < 0 ? "did not run" : "ran off the altstack");
    sigprocmask(SIG_UNBLOCK, &block, NULL);
    CHECK(usr2_seen, "SIGUSR2 not delivered once unblocked");
    CHECK(rt_value == 42, "SIGRTMIN+1 delivered with value %d, expected 42", (int)rt_value);
    return pass();
}
