// Signal delivery to this node's processes on behalf of a caller anywhere in the cluster,
// under kill(2)'s permission rule. The caller's uid is the one the kernel vouched for
// (SO_PEERCRED) on the node where ssi-kill ran, carried by an authenticated peer.
#pragma once

#include "libssi/gpid.h"
#include "libssi/wire/messages.h"

#include <sys/types.h>

namespace ssi::agent {

wire::KillReply deliver_signal(const Gpid& target, int signal, uid_t caller_uid);

}  // namespace ssi::agent
