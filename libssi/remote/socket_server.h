// SocketServer: the deputy's end of the socket protocol (socket_protocol.h). It holds the
// remote program's real TCP sockets at home, and its Unix stream sockets named in the home
// filesystem — made, connected, bound and listened on here, with the deputy's
// credentials, which are the user's — and moves their bytes to and from the supervisor
// under the protocol's window. It owns no thread: the deputy's loop polls what watches()
// names and calls on_ready(); handle() takes the supervisor's messages, and `send` carries
// ours. Everything it holds is bounded: a window of bytes per socket each way,
// kAcceptAhead unclaimed connections per listener, kMaxSockets sockets.
#pragma once

#include "kern-ext/unique_fd.h"
#include "libssi/remote/byte_queue.h"
#include "libssi/remote/socket_protocol.h"

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace ssi::remote {

inline constexpr size_t kMaxSockets = 4096;

class SocketServer {
public:
    using Send = std::function<void(const SocketMessage&)>;
    explicit SocketServer(Send send) : send_(std::move(send)) {}

    // One message from the supervisor; a malformed one is ignored.
    void handle(std::span<const char> payload);
    void handle(const SocketMessage& message);
    // What to wait for now, and what came of it.
    std::vector<SocketWatch> watches() const;
    void on_ready(uint64_t sock, short revents);

    size_t socket_count() const { return socks_.size(); }
    // The supervisor said SockDone, and every byte the program sent is out: nothing is
    // left to do before the deputy exits.
    bool finished() const { return done_ && socks_.empty(); }
    // Bytes held for the network (received from the supervisor, not yet sent).
    size_t buffered_bytes() const;

private:
    enum class State { fresh, connecting, connected, listening };
    struct Sock {
        UniqueFd fd;
        int family = 0;
        State state = State::fresh;
        uint64_t connect_call = 0;  // a SockConnect waiting for its outcome
        ByteQueue out;              // from the program, for the network
        bool out_eof = false;       // the program will send no more: shut down after `out`
        bool shut_down = false;
        bool closing = false;       // the program closed it: gone once `out` is sent
        uint64_t unacked = 0;       // sent to the supervisor, not yet acknowledged
        bool in_eof = false;
        int unclaimed = 0;          // a listener's connections not yet taken by the program
    };

    static bool acceptable_address(const Sock& s, const SocketBytes& addr);
    void open(const SockOpen& m);
    void connect(const SockConnect& m);
    void data(const SockData& m);
    void reply(uint64_t call, int err, std::string data = {});
    void read_from_network(uint64_t id, Sock& s);
    void write_to_network(uint64_t id, Sock& s);
    void accept_connections(uint64_t id, Sock& s);
    Sock* find(uint64_t id);

    Send send_;
    std::map<uint64_t, Sock> socks_;
    uint64_t next_accepted_ = 2;  // ours are even; the supervisor's odd
    bool done_ = false;
};

}  // namespace ssi::remote
