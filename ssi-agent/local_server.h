// LocalServer: the agent's Unix socket, where local tools (ssi-ps, ssi-kill, ...) ask it
// things. The kernel tells us each caller's uid (SO_PEERCRED), so permission checks never
// rely on what a caller claims. A caller that sends garbage is disconnected; others are
// unaffected.
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/unix_socket.h"
#include "libssi/wire/messages.h"
#include "ssi-agent/event_loop.h"

#include <functional>
#include <map>
#include <memory>
#include <string>

namespace ssi::agent {

class LocalServer;

// Where a reply goes. Cheap to copy; replying after the caller hung up is a no-op.
class Responder {
public:
    Responder() = default;
    void send(wire::Message reply) const;

private:
    friend class LocalServer;
    Responder(LocalServer* server, uint64_t connection, uint64_t request_id)
        : server_(server), connection_(connection), request_id_(request_id) {}
    LocalServer* server_ = nullptr;
    uint64_t connection_ = 0;
    uint64_t request_id_ = 0;
};

struct LocalRequest {
    PeerCredentials caller;
    wire::Message body;
    Responder respond;
};

class LocalServer {
public:
    using Handler = std::function<void(LocalRequest&&)>;

    static Result<std::unique_ptr<LocalServer>> create(EventLoop& loop, const std::string& path, Handler handler);
    ~LocalServer();

    void reply(uint64_t connection, uint64_t request_id, const wire::Message& body);
    size_t connections() const { return connections_.size(); }

    struct Connection;

private:
    LocalServer(EventLoop& loop, std::string path, Handler handler);
    void accept_one();
    void on_bytes(uint64_t id, const char* data, size_t n);
    void close_connection(uint64_t id);

    EventLoop& loop_;
    std::string path_;
    Handler handler_;
    uv_pipe_t* listener_ = nullptr;
    std::map<uint64_t, Connection*> connections_;
    uint64_t next_id_ = 1;
};

}  // namespace ssi::agent
