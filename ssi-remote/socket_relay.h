// SocketRelay: the supervisor's end of the socket protocol (libssi/remote/socket_protocol.h).
// For each TCP socket the program makes, the deputy holds the real socket at home and the
// program holds one end of a Unix stream pair made here; the relay holds the other end and
// moves bytes between it and the deputy, under the protocol's window (a fast sender is
// slowed by its own socket buffer filling, never by us growing). The program's reads,
// writes, poll and epoll on its end are the kernel's own; the calls that are not about
// bytes (connect, bind, listen, accept, names, options) come here from the seccomp
// handlers (socket_calls.cpp) and are answered by the deputy.
//
// It owns no thread: its owner polls watches() and calls on_ready(), hands it the deputy's
// messages (handle), and `send` carries its own. Calls complete through callbacks, maybe
// later (a blocking connect, an accept with nothing to accept yet), always on that loop.
#pragma once

#include "kern-ext/unique_fd.h"
#include "libssi/remote/byte_queue.h"
#include "libssi/remote/socket_protocol.h"

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ssi::remote {

class SocketRelay {
public:
    using Send = std::function<void(const SocketMessage&)>;
    using Done = std::function<void(int err)>;
    using DoneBytes = std::function<void(int err, std::string data)>;
    struct Accepted {
        uint64_t sock = 0;
        UniqueFd end;      // the program's end of the new connection
        std::string peer;  // sockaddr bytes
    };
    using DoneAccept = std::function<void(int err, Accepted accepted)>;
    struct Opened {
        uint64_t sock = 0;
        UniqueFd end;  // the program's end; its inode names the socket from now on
    };
    using DoneOpen = std::function<void(int err, Opened opened)>;

    explicit SocketRelay(Send send) : send_(std::move(send)) {}

    // A message from the deputy; a malformed one is ignored.
    void handle(std::span<const char> payload);
    void handle(const SocketMessage& message);
    std::vector<SocketWatch> watches() const;
    void on_ready(uint64_t sock, short revents);

    // ---- the program's calls ------------------------------------------------------------
    // socket(family, SOCK_STREAM [| SOCK_NONBLOCK], protocol): made at home first.
    void open(int family, int type, int protocol, DoneOpen done);
    // The socket whose program end has this inode, if it is one of ours.
    std::optional<uint64_t> find(ino_t inode) const;
    // Blocking: done when home knows. Non-blocking: done(EINPROGRESS) at once; the outcome
    // is then SO_ERROR's (get_option waits for it) and the end becomes usable.
    void connect(uint64_t sock, std::string addr, bool nonblocking, Done done);
    void bind(uint64_t sock, std::string addr, mode_t umask, Done done);
    void listen(uint64_t sock, int backlog, Done done);
    // The next connection home accepted; with none waiting, EAGAIN if nonblocking, else
    // done when one comes. `program_listener` is the program's end of the listener (a
    // copy, by pidfd_getfd): its readability, one byte per waiting connection, is drained
    // by one. A connection the caller could not hand to the program goes back (give_back).
    // `wanted`, if given, says whether the call still waits (a waiter that no longer does
    // is dropped, with its copy of the listener, by prune_waiters or when its turn comes).
    void accept(uint64_t listener, UniqueFd program_listener, bool nonblocking, DoneAccept done,
                std::function<bool()> wanted = {});
    void prune_waiters();
    void give_back(uint64_t listener, Accepted accepted);
    void name(uint64_t sock, bool peer, DoneBytes done);
    void set_option(uint64_t sock, int level, int name, std::string value, Done done);
    void get_option(uint64_t sock, int level, int name, uint32_t size, DoneBytes done);
    // Forgets a socket the program never got (a home Unix socket whose connect failed).
    void discard(uint64_t sock) { close(sock); }

    size_t socket_count() const { return socks_.size(); }
    size_t buffered_bytes() const;

private:
    enum class State { fresh, connecting, connected, failed, listening };
    struct Relayed {
        UniqueFd end;                    // ours
        ino_t inode = 0;                 // of the program's end
        State state = State::fresh;
        int connect_error = 0;           // for SO_ERROR, until read
        std::vector<std::function<void()>> on_connected;  // SO_ERROR readers waiting
        ByteQueue to_program;            // from home, not yet in the pair
        bool home_eof = false;
        int home_error = 0;
        bool shut_down = false;          // we shut our end for writing
        uint64_t unacked = 0;            // sent home, not yet acknowledged
        bool program_eof = false;        // the program will send no more
        bool hung_up = false;            // POLLHUP seen: the program closed it
        // A listener's connections accepted at home, and the program's accepts waiting.
        std::deque<Accepted> ready;
        struct Waiter {
            UniqueFd program_listener;
            DoneAccept done;
            std::function<bool()> wanted;
        };
        std::deque<Waiter> waiting;
    };

    uint64_t call(const SocketMessage& message, DoneBytes done);
    Relayed* find_sock(uint64_t id);
    void on_accepted(const SockAccepted& m);
    void serve_accepts(uint64_t listener, Relayed& l);
    void connected(uint64_t id, int err);
    void read_from_program(uint64_t id, Relayed& r);
    void write_to_program(uint64_t id, Relayed& r);
    void close(uint64_t id);

    Send send_;
    std::map<uint64_t, Relayed> socks_;
    std::map<uint64_t, DoneBytes> calls_;
    uint64_t next_call_ = 1;
    uint64_t next_sock_ = 1;  // ours are odd; home's accepted ones even
};

}  // namespace ssi::remote
