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
    if (fd < 0) return send_message(socket, data, std::span<const int>{});
    return send_message(socket, data, std::span<const int>(&fd, 1));
}

Result<void> send_message(int socket, std::span<const char> data, std::span<const int> fds) {
    if (fds.size() > kMaxPassedFds) return make_error("sendmsg", "too many descriptors for one message", EINVAL);
    iovec iov{const_cast<char*>(data.data()), data.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds)] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (!fds.empty()) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    for (;;) {
        if (::sendmsg(socket, &msg, MSG_NOSIGNAL) >= 0) return ok();
        if (errno != EINTR) return sys_error("sendmsg", "socket " + std::to_string(socket));
    }
}

Result<ReceivedFds> receive_message_fds(int socket, std::span<char> buffer) {
    iovec iov{buffer.data(), buffer.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds)] = {};
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
    ReceivedFds out;
    out.size = size_t(n);
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0)) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            out.fds.emplace_back(fd);
        }
    }
    return out;
}

Result<ReceivedMessage> receive_message(int socket, std::span<char> buffer) {
    auto got = TRY(receive_message_fds(socket, buffer));
    ReceivedMessage out;
    out.size = got.size;
    if (!got.fds.empty()) out.fd = std::move(got.fds.front());  // any others close here
    return out;
}

}  // namespace ssi
