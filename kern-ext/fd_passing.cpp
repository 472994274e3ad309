#include "kern-ext/fd_passing.h"

#include <sys/socket.h>

#include <cstring>
#include <string>

namespace ssi {

Result<std::pair<UniqueFd, UniqueFd>> make_message_pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0) return sys_error("socketpair");
    return std::pair<UniqueFd, UniqueFd>{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

Result<void> send_message(int socket, std::span<const char> data, int fd) {
    iovec iov{const_cast<char*>(data.data()), data.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (fd >= 0) {
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    for (;;) {
        if (::sendmsg(socket, &msg, MSG_NOSIGNAL) >= 0) return ok();
        if (errno != EINTR) return sys_error("sendmsg", "socket " + std::to_string(socket));
    }
}

Result<ReceivedMessage> receive_message(int socket, std::span<char> buffer) {
    iovec iov{buffer.data(), buffer.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n;
    for (;;) {
        n = ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
        if (n >= 0) break;
        if (errno != EINTR) return sys_error("recvmsg", "socket " + std::to_string(socket));
    }
    ReceivedMessage out;
    out.size = size_t(n);
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
            out.fd.reset(fd);
        }
    }
    return out;
}

}  // namespace ssi
