#include "shell/ssi-cluster/ports.h"

#include "kern-ext/unique_fd.h"
#include "shell/ssi-cluster/cluster_state.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

namespace ssi::cluster {

// TODO(kern-ext): socket/bind belong in a kern-ext wrapper (e.g. kern-ext/inet_socket.h);
// they live here until that file exists.
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
    int err = errno;
    if (err == EADDRINUSE) return false;
    errno = err;
    return sys_error("bind", address + ":" + std::to_string(port));
}

Result<void> check_base_port(uint16_t base, int n) {
    if (int(base) + n - 1 > 65535) return make_error("base port " + std::to_string(base) + " leaves no room for " +
                                                         std::to_string(n) + " nodes", {}, 0);
    for (int k = 1; k <= n; ++k) {
        uint16_t port = node_port(base, k);
        if (!TRY(tcp_port_free(node_address(k), port)))
            return make_error("port " + node_address(k) + ":" + std::to_string(port) + " is in use", {}, EADDRINUSE);
    }
    return ok();
}

Result<uint16_t> pick_base_port(int n) {
    for (int base = kFirstBasePort; base + n - 1 <= 65535; base += n) {
        auto r = check_base_port(uint16_t(base), n);
        if (r) return uint16_t(base);
        if (r.error().err != EADDRINUSE) return r.error();
    }
    return make_error("no free ports for " + std::to_string(n) + " nodes from " + std::to_string(kFirstBasePort), {},
                      EADDRINUSE);
}

}  // namespace ssi::cluster
