#include "ssi-agent/signal_service.h"

#include "kern-ext/pidfd.h"
#include "kern-ext/proc_status.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <cstring>

namespace ssi::agent {
namespace {

wire::KillReply failure(int err) { return wire::KillReply{err, std::strerror(err)}; }

}  // namespace

wire::KillReply deliver_signal(const Gpid& target, int signal, uid_t caller_uid) {
    if (signal < 0 || signal > SIGRTMAX) return failure(EINVAL);
    // Open the handle first: the owner check and the signal then concern the same process
    // even if its PID is recycled in between.
    auto pidfd = Pidfd::open(target.pid);
    if (!pidfd) return failure(pidfd.error().err == EINVAL ? ESRCH : pidfd.error().err);
    auto uids = read_process_uids(target.pid);
    if (!uids) return failure(ESRCH);  // it exited between the two calls
    if (!may_signal(caller_uid, *uids)) return failure(EPERM);
    if (auto r = pidfd->send_signal(signal); !r) return failure(r.error().err);
    spdlog::debug("signal {} delivered to {} for uid {}", signal, target.str(), caller_uid);
    return wire::KillReply{0, {}};
}

}  // namespace ssi::agent
