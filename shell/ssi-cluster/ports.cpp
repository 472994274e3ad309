#include "shell/ssi-cluster/ports.h"

#include "kern-ext/inet_socket.h"
#include "shell/ssi-cluster/cluster_state.h"

#include <string>

namespace ssi::cluster {

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
