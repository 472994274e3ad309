// Interval timers (ITIMER_REAL, which alarm() also uses; ITIMER_VIRTUAL; ITIMER_PROF):
// only the process can ask for them, by getitimer(2), injected while it is stopped
// (run from dump_injected_state, which lends the gadget and a scratch page). The real
// timer runs on while the process is stopped and while it is saved; the time between
// the checkpoint and the restore is not counted against it (restore_itimers.cpp).
#include "kern-ext/checkpoint/steps.h"

#include <sys/syscall.h>
#include <sys/time.h>

namespace ssi::ckpt {

Result<void> dump_itimers(RemoteSyscaller& sys, RemotePtr scratch, ProcessImage& image) {
    for (int which : {ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF}) {
        TRY(sys.call("getitimer", SYS_getitimer, uint64_t(which), scratch.addr));
        itimerval t{};
        TRY(read_remote(sys.pid(), scratch, {reinterpret_cast<char*>(&t), sizeof t}));
        image.attributes.itimers[size_t(which)] =
            IntervalTimer{uint64_t(t.it_value.tv_sec), uint64_t(t.it_value.tv_usec), uint64_t(t.it_interval.tv_sec),
                          uint64_t(t.it_interval.tv_usec)};
    }
    return ok();
}

}  // namespace ssi::ckpt
