// Whether a thread has a signal waiting that it would act on now (pending, not blocked, not
// ignored), from /proc/TID/status. A supervisor holding a thread in a system call it
// answers late uses it to let the signal through (the call is then restarted, or fails with
// EINTR, as the kernel's own blocking calls do).
#pragma once

#include "kern-ext/result.h"

#include <sys/types.h>

namespace ssi {

Result<bool> deliverable_signal_pending(pid_t tid);

}  // namespace ssi
