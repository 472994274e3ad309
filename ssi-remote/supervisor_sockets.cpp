// The supervisor's part in "sockets are home's" (docs/remote-exec.md, Sockets): a socket
// service with a link of its own to the deputy, and the program's socket calls routed to it.
#include "ssi-remote/socket_calls.h"
#include "ssi-remote/supervisor.h"

namespace ssi::remote {

Result<void> Supervisor::start_sockets() {
    sockets_ = TRY(SocketService::start([this] { return connect_to_deputy(context_, keys_); }));
    add_socket_calls(dispatch_, *sockets_);
    return ok();
}

}  // namespace ssi::remote
