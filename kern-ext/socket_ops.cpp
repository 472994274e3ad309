#include "kern-ext/socket_ops.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>

namespace ssi {
namespace {

std::string fd_context(int fd) { return "fd " + std::to_string(fd); }

const sockaddr* as_addr(std::span<const char> addr) { return reinterpret_cast<const sockaddr*>(addr.data()); }

}  // namespace

Result<UniqueFd> open_socket(int family, int type, int protocol) {
    int fd = ::socket(family, type | SOCK_CLOEXEC, protocol);
    if (fd < 0) return sys_error("socket", "family " + std::to_string(family));
    return UniqueFd(fd);
}

Result<std::pair<UniqueFd, UniqueFd>> make_stream_pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) return sys_error("socketpair");
    return std::pair{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

Result<void> connect_socket(int fd, std::span<const char> addr) {
    if (::connect(fd, as_addr(addr), socklen_t(addr.size())) < 0) return sys_error("connect", fd_context(fd));
    return ok();
}

Result<void> bind_socket(int fd, std::span<const char> addr) {
    if (::bind(fd, as_addr(addr), socklen_t(addr.size())) < 0) return sys_error("bind", fd_context(fd));
    return ok();
}

Result<void> listen_socket(int fd, int backlog) {
    if (::listen(fd, backlog) < 0) return sys_error("listen", fd_context(fd));
    return ok();
}

Result<UniqueFd> accept_socket(int fd, std::string& peer) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    for (;;) {
        int c = ::accept4(fd, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c >= 0) {
            peer.assign(reinterpret_cast<const char*>(&addr), std::min<size_t>(len, sizeof addr));
            return UniqueFd(c);
        }
        if (errno == EINTR) continue;
        return sys_error("accept4", fd_context(fd));
    }
}

Result<std::string> socket_name(int fd) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) < 0) return sys_error("getsockname", fd_context(fd));
    return std::string(reinterpret_cast<const char*>(&addr), std::min<size_t>(len, sizeof addr));
}

Result<std::string> peer_name(int fd) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) < 0) return sys_error("getpeername", fd_context(fd));
    return std::string(reinterpret_cast<const char*>(&addr), std::min<size_t>(len, sizeof addr));
}

Result<void> set_socket_option(int fd, int level, int name, std::span<const char> value) {
    if (::setsockopt(fd, level, name, value.data(), socklen_t(value.size())) < 0)
        return sys_error("setsockopt", fd_context(fd) + " option " + std::to_string(level) + "/" + std::to_string(name));
    return ok();
}

Result<std::string> get_socket_option(int fd, int level, int name, size_t size) {
    std::string value(size, '\0');
    socklen_t len = socklen_t(size);
    if (::getsockopt(fd, level, name, value.data(), &len) < 0)
        return sys_error("getsockopt", fd_context(fd) + " option " + std::to_string(level) + "/" + std::to_string(name));
    value.resize(std::min<size_t>(len, size));
    return value;
}

Result<int> socket_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return sys_error("getsockopt(SO_ERROR)", fd_context(fd));
    return err;
}

Result<void> shutdown_socket(int fd, int how) {
    if (::shutdown(fd, how) < 0) return sys_error("shutdown", fd_context(fd));
    return ok();
}

Result<size_t> receive_some(int fd, std::span<char> buffer) {
    for (;;) {
        ssize_t n = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
        if (n >= 0) return size_t(n);
        if (errno == EINTR) continue;
        return sys_error("recv", fd_context(fd));
    }
}

Result<size_t> send_some(int fd, std::string_view data) {
    for (;;) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0) return size_t(n);
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return size_t(0);
        return sys_error("send", fd_context(fd));
    }
}

Result<ino_t> fd_inode(int fd) {
    struct stat st{};
    if (::fstat(fd, &st) < 0) return sys_error("fstat", fd_context(fd));
    return st.st_ino;
}

Result<bool> is_nonblocking(int fd) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0) return sys_error("fcntl(F_GETFL)", fd_context(fd));
    return (flags & O_NONBLOCK) != 0;
}

Result<void> set_blocking_mode(int fd, bool nonblocking) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0) return sys_error("fcntl(F_GETFL)", fd_context(fd));
    flags = nonblocking ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    if (::fcntl(fd, F_SETFL, flags) < 0) return sys_error("fcntl(F_SETFL)", fd_context(fd));
    return ok();
}

}  // namespace ssi
