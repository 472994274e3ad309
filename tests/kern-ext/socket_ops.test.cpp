// kern-ext/socket_ops: the socket wrappers the relay stands on keep the kernel's errno
// (the program is told it), never block where they say so, and name a socket by its inode.
#include "kern-ext/socket_ops.h"

#include "kern-ext/files.h"
#include "kern-ext/unix_socket.h"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

using namespace ssi;

namespace {

std::string loopback_any_port() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return std::string(reinterpret_cast<const char*>(&a), sizeof a);
}

}  // namespace

TEST_CASE("socket_ops: a stream pair's ends are named by their inodes, and flags are the file's", "[sockets]") {
    auto [a, b] = make_stream_pair().value();
    UniqueFd copy = duplicate_fd_cloexec(a.get()).value();
    CHECK(fd_inode(copy.get()).value() == fd_inode(a.get()).value());
    CHECK(fd_inode(b.get()).value() != fd_inode(a.get()).value());
    CHECK_FALSE(is_nonblocking(a.get()).value());
    REQUIRE(set_blocking_mode(copy.get(), true));
    CHECK(is_nonblocking(a.get()).value());  // one open file: the copy's flag is a's

    // Non-blocking: an empty end is EAGAIN, a full one takes 0 bytes.
    char buf[16];
    auto empty = receive_some(a.get(), std::span<char>(buf, sizeof buf));
    REQUIRE_FALSE(empty.ok());
    CHECK(empty.error().err == EAGAIN);
    std::string block(1 << 16, 'x');
    size_t sent = 0;
    for (int i = 0; i < 1000; ++i) {
        size_t n = send_some(a.get(), block).value();
        if (n == 0) break;
        sent += n;
    }
    CHECK(sent > 0);
    CHECK(send_some(a.get(), block).value() == 0);
    // A closed peer is EPIPE, not SIGPIPE (the test would die of it).
    b.reset();
    auto broken = send_some(a.get(), std::string_view("y"));
    REQUIRE_FALSE(broken.ok());
    CHECK(broken.error().err == EPIPE);
}

TEST_CASE("socket_ops: TCP calls keep the kernel's errno", "[sockets]") {
    UniqueFd listener = open_socket(AF_INET, SOCK_STREAM, 0).value();
    REQUIRE(set_socket_option(listener.get(), SOL_SOCKET, SO_REUSEADDR, std::string("\1\0\0\0", 4)));
    REQUIRE(bind_socket(listener.get(), loopback_any_port()));
    REQUIRE(listen_socket(listener.get(), 4));
    std::string name = socket_name(listener.get()).value();
    CHECK(name.size() == sizeof(sockaddr_in));

    // A second bind to the same port: EADDRINUSE, as the program would hear it.
    UniqueFd other = open_socket(AF_INET, SOCK_STREAM, 0).value();
    auto taken = bind_socket(other.get(), name);
    REQUIRE_FALSE(taken.ok());
    CHECK(taken.error().err == EADDRINUSE);

    // A non-blocking connect: EINPROGRESS or done, then SO_ERROR 0 and names that match.
    UniqueFd client = open_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value();
    auto connecting = connect_socket(client.get(), name);
    if (!connecting) CHECK(connecting.error().err == EINPROGRESS);
    REQUIRE(wait_readable(listener.get(), 5000).value());
    std::string peer;
    UniqueFd accepted = accept_socket(listener.get(), peer).value();
    CHECK(is_nonblocking(accepted.get()).value());
    CHECK(socket_error(client.get()).value() == 0);
    CHECK(peer == socket_name(client.get()).value());
    CHECK(peer_name(accepted.get()).value() == socket_name(client.get()).value());
    REQUIRE(set_socket_option(client.get(), IPPROTO_TCP, TCP_NODELAY, std::string("\1\0\0\0", 4)));
    CHECK(get_socket_option(client.get(), IPPROTO_TCP, TCP_NODELAY, 4).value() == std::string("\1\0\0\0", 4));
    // End of stream after shutdown(SHUT_WR).
    REQUIRE(shutdown_socket(client.get(), SHUT_WR));
    REQUIRE(wait_readable(accepted.get(), 5000).value());
    char c;
    CHECK(receive_some(accepted.get(), std::span<char>(&c, 1)).value() == 0);

    // A refused connection.
    uint16_t closed = ntohs(reinterpret_cast<const sockaddr_in*>(name.data())->sin_port);
    listener.reset();
    other.reset();
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(closed);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    UniqueFd refused = open_socket(AF_INET, SOCK_STREAM, 0).value();
    auto r = connect_socket(refused.get(), std::string_view(reinterpret_cast<const char*>(&to), sizeof to));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().err == ECONNREFUSED);
}
