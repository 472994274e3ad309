// Interval timers, by injected setitimer(2) with the saved time left and interval: the
// last step before resume_restored, so little of the remaining time passes before the
// process runs. The time the process spent saved does not count (as in CRIU). Disarmed
// timers are set too (to zero): the process being rebuilt need not be a fresh fork.
#include "kern-ext/checkpoint/steps.h"

#include <sys/syscall.h>
#include <sys/time.h>

namespace ssi::ckpt {

Result<void> restore_itimers(RemoteSyscaller& sys, const RestoreRegion& region, const ProcessImage& image) {
    for (int which : {ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF}) {
        const IntervalTimer& t = image.attributes.itimers[size_t(which)];
        itimerval v{};
        v.it_value = {time_t(t.value_sec), suseconds_t(t.value_usec)};
        v.it_interval = {time_t(t.interval_sec), suseconds_t(t.interval_usec)};
        TRY(write_remote(sys.pid(), region.scratch(), {reinterpret_cast<const char*>(&v), sizeof v}));
        TRY(sys.call("setitimer", SYS_setitimer, uint64_t(which), region.scratch().addr, 0));
    }
    return ok();
}

}  // namespace ssi::ckpt
