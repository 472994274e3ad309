#include "kern-ext/process_state.h"

#include "kern-ext/detached_close.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/utsname.h>

namespace ssi {

mode_t exchange_umask(mode_t mask) { return ::umask(mask); }

std::vector<std::pair<int, rlimit>> current_rlimits() {
    std::vector<std::pair<int, rlimit>> out;
    for (int r = 0; r < RLIM_NLIMITS; ++r) {
        rlimit l{};
        if (::getrlimit(r, &l) == 0) out.emplace_back(r, l);
    }
    return out;
}

void die_of_signal(int signal) {
    rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(signal, &dfl, nullptr);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signal);
    hold_slow_closes_past_exit();  // our death must not wait for their last close
    ::sigprocmask(SIG_UNBLOCK, &set, nullptr);
    ::raise(signal);
}

Result<std::string> host_name() {
    struct utsname uts {};
    if (::uname(&uts) < 0) return sys_error("uname");
    return std::string(uts.nodename);
}

}  // namespace ssi
