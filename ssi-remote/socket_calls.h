// The program's socket system calls, intercepted (seccomp user notification, through
// SyscallDispatch) so that its TCP sockets are home's: socket(AF_INET/AF_INET6,
// SOCK_STREAM) is made at home by the deputy and the program gets a Unix stream end in its
// place (SECCOMP_IOCTL_NOTIF_ADDFD, as socket()'s own result); connect, bind, listen,
// accept, accept4, getsockname, getpeername, setsockopt and getsockopt on such an end are
// answered from the home socket. The same calls on any other descriptor, and sockets of
// other families or types, are let through to the kernel here. Reads, writes, poll,
// shutdown and close on the end need nothing: they are the kernel's, and the relay sees
// their effect on its own end (docs/remote-exec.md, "Sockets").
#pragma once

#include "ssi-remote/socket_service.h"
#include "ssi-remote/syscall_dispatch.h"

namespace ssi::remote {

// Adds the rules and handlers; `service` must outlive the dispatch's thread's use of it
// (it is stopped first).
void add_socket_calls(SyscallDispatch& dispatch, SocketService& service);

}  // namespace ssi::remote
