#include "kern-ext/inet_socket.h"

#include "kern-ext/unique_fd.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

namespace ssi {
namespace {

Result<sockaddr_in> ipv4(const std::string& address, uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (::inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1) return make_error("bad IPv4 address", address, EINVAL);
    return addr;
}

Result<void> no_delay(int fd) {
    int one = 1;
    if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) return sys_error("setsockopt(TCP_NODELAY)");
    return ok();
}

}  // namespace

Result<bool> tcp_port_free(const std::string& address, uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (::inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1)
        return make_error("bad IPv4 address", address, EINVAL);
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return sys_error("socket", address);
    int one = 1;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        return sys_error("setsockopt(SO_REUSEADDR)", address);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return true;
    if (errno == EADDRINUSE) return false;
    return sys_error("bind", address + ":" + std::to_string(port));
}

Result<UniqueFd> listen_tcp(const std::string& address, uint16_t port, int backlog) {
    sockaddr_in addr = TRY(ipv4(address, port));
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return sys_error("socket", address);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
        return sys_error("bind", address + ":" + std::to_string(port));
    if (::listen(fd.get(), backlog) < 0) return sys_error("listen", address);
    return fd;
}

Result<uint16_t> bound_port(int fd) {
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) < 0) return sys_error("getsockname");
    return ntohs(addr.sin_port);
}

Result<UniqueFd> connect_tcp(const std::string& address, uint16_t port, int timeout_ms) {
    sockaddr_in addr = TRY(ipv4(address, port));
    std::string where = address + ":" + std::to_string(port);
    // Non-blocking for the connect alone, so that it can be given up on.
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return sys_error("socket", address);
    TRY(no_delay(fd.get()));
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
        if (errno != EINPROGRESS && errno != EINTR) return sys_error("connect", where);
        pollfd p{fd.get(), POLLOUT, 0};
        int ready;
        while ((ready = ::poll(&p, 1, timeout_ms)) < 0)
            if (errno != EINTR) return sys_error("poll", where);
        if (ready == 0) return make_error("connect", where, ETIMEDOUT);
        int err = 0;
        socklen_t len = sizeof err;
        if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) return sys_error("getsockopt(SO_ERROR)", where);
        if (err) return make_error("connect", where, err);
    }
    int flags = ::fcntl(fd.get(), F_GETFL);
    if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) < 0) return sys_error("fcntl(O_NONBLOCK)", where);
    return fd;
}

Result<UniqueFd> accept_tcp(int listener) {
    for (;;) {
        UniqueFd fd(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
        if (fd) {
            TRY(no_delay(fd.get()));
            return fd;
        }
        if (errno != EINTR && errno != ECONNABORTED) return sys_error("accept4");
    }
}

Result<void> set_receive_timeout(int fd, int ms) {
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) return sys_error("setsockopt(SO_RCVTIMEO)");
    return ok();
}

}  // namespace ssi
