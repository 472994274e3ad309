#include "kern-ext/unix_socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <utility>

namespace ssi {
namespace {

Result<sockaddr_un> make_address(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) return make_error("socket path too long", path, ENAMETOOLONG);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
}

}  // namespace

Result<UniqueFd> listen_unix(const std::string& path, int backlog, mode_t mode) {
    sockaddr_un addr = TRY(make_address(path));
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return sys_error("socket", path);
    ::unlink(path.c_str());
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) return sys_error("bind", path);
    if (::chmod(path.c_str(), mode) < 0) return sys_error("chmod", path);
    if (::listen(fd.get(), backlog) < 0) return sys_error("listen", path);
    return fd;
}

Result<UniqueFd> connect_unix(const std::string& path) {
    sockaddr_un addr = TRY(make_address(path));
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return sys_error("socket", path);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) return sys_error("connect", path);
    return fd;
}

namespace {
// An abstract address: no file, gone with the socket; "@name" in ss(8).
Result<std::pair<sockaddr_un, socklen_t>> abstract_address(const std::string& name) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (name.size() + 1 > sizeof(addr.sun_path)) return make_error("socket name too long", name, ENAMETOOLONG);
    std::memcpy(addr.sun_path + 1, name.data(), name.size());
    return std::pair{addr, socklen_t(offsetof(sockaddr_un, sun_path) + 1 + name.size())};
}
}  // namespace

Result<UniqueFd> listen_abstract(const std::string& name, int backlog) {
    auto [addr, len] = TRY(abstract_address(name));
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return sys_error("socket", "@" + name);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) < 0) return sys_error("bind", "@" + name);
    if (::listen(fd.get(), backlog) < 0) return sys_error("listen", "@" + name);
    return fd;
}

Result<UniqueFd> connect_abstract(const std::string& name) {
    auto [addr, len] = TRY(abstract_address(name));
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return sys_error("socket", "@" + name);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) < 0) return sys_error("connect", "@" + name);
    return fd;
}

Result<UniqueFd> accept_connection(int listener) {
    UniqueFd fd(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    if (!fd) return sys_error("accept4");
    return fd;
}

Result<PeerCredentials> peer_credentials(int fd) {
    struct ucred cred {};
    socklen_t len = sizeof(cred);
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return sys_error("getsockopt(SO_PEERCRED)");
    return PeerCredentials{cred.pid, cred.uid, cred.gid};
}

Result<bool> wait_readable(int fd, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    for (;;) {
        int n = ::poll(&p, 1, timeout_ms);
        if (n >= 0) return n > 0;
        if (errno != EINTR) return sys_error("poll");
    }
}

}  // namespace ssi
