#include "kern-ext/inet_socket.h"

#include "kern-ext/unique_fd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace ssi {

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

}  // namespace ssi
