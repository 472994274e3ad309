#include "ssi-agent/local_server.h"

#include "libssi/wire/codec.h"
#include "libssi/wire/framing.h"

#include <spdlog/spdlog.h>

#include <unistd.h>

namespace ssi::agent {

// Local requests are small; anything bigger is a confused or hostile caller.
constexpr size_t kMaxLocalRequest = 1 << 20;

struct LocalServer::Connection {
    uv_pipe_t pipe;
    LocalServer* server;
    uint64_t id;
    PeerCredentials caller;
    wire::FrameReader reader{kMaxLocalRequest};
};

namespace {

struct WriteRequest {
    uv_write_t req;
    std::string bytes;
};

void free_connection(uv_handle_t* h) { delete static_cast<LocalServer::Connection*>(h->data); }

}  // namespace

void Responder::send(wire::Message reply) const {
    if (server_) server_->reply(connection_, request_id_, reply);
}

LocalServer::LocalServer(EventLoop& loop, std::string path, Handler handler)
    : loop_(loop), path_(std::move(path)), handler_(std::move(handler)) {}

Result<std::unique_ptr<LocalServer>> LocalServer::create(EventLoop& loop, const std::string& path, Handler handler) {
    std::unique_ptr<LocalServer> server(new LocalServer(loop, path, std::move(handler)));
    // Everyone may connect; what each caller may do is decided per request from its uid.
    UniqueFd fd = TRY(listen_unix(path, 128, 0666));
    server->listener_ = new uv_pipe_t;
    uv_pipe_init(loop.raw(), server->listener_, 0);
    server->listener_->data = server.get();
    if (int rc = uv_pipe_open(server->listener_, fd.get()); rc != 0) return Error{"uv_pipe_open", -rc, path};
    fd.release();  // libuv owns it now
    if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(server->listener_), 128,
                           [](uv_stream_t* s, int status) {
                               if (status == 0) static_cast<LocalServer*>(s->data)->accept_one();
                           });
        rc != 0)
        return Error{"uv_listen", -rc, path};
    return server;
}

LocalServer::~LocalServer() {
    for (auto& [id, c] : connections_) uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe), free_connection);
    connections_.clear();
    if (listener_) {
        uv_close(reinterpret_cast<uv_handle_t*>(listener_), [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
        ::unlink(path_.c_str());
    }
}

void LocalServer::accept_one() {
    auto* c = new Connection{};
    c->server = this;
    c->id = next_id_++;
    uv_pipe_init(loop_.raw(), &c->pipe, 0);
    c->pipe.data = c;
    if (uv_accept(reinterpret_cast<uv_stream_t*>(listener_), reinterpret_cast<uv_stream_t*>(&c->pipe)) != 0) {
        uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe), free_connection);
        return;
    }
    uv_os_fd_t fd = -1;
    uv_fileno(reinterpret_cast<uv_handle_t*>(&c->pipe), &fd);
    auto cred = peer_credentials(fd);
    if (!cred) {
        spdlog::warn("local: {}", cred.error().message());
        uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe), free_connection);
        return;
    }
    c->caller = *cred;
    connections_[c->id] = c;
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c->pipe),
        [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
            buf->base = new char[suggested];
            buf->len = suggested;
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
            auto* conn = static_cast<Connection*>(s->data);
            LocalServer* self = conn->server;
            uint64_t id = conn->id;
            if (n > 0) self->on_bytes(id, buf->base, size_t(n));
            else if (n < 0) self->close_connection(id);
            delete[] buf->base;
        });
}

void LocalServer::on_bytes(uint64_t id, const char* data, size_t n) {
    auto it = connections_.find(id);
    if (it == connections_.end()) return;
    Connection* c = it->second;
    c->reader.feed(std::span<const char>(data, n));
    for (;;) {
        auto frame = c->reader.next();
        if (!frame) {
            spdlog::warn("local: caller pid {} uid {}: {}; disconnected", c->caller.pid, c->caller.uid,
                         frame.error().message());
            close_connection(id);
            return;
        }
        if (!*frame) return;
        auto envelope = wire::decode(**frame);
        if (!envelope) {
            spdlog::warn("local: caller pid {} uid {}: {}; disconnected", c->caller.pid, c->caller.uid,
                         envelope.error().message());
            close_connection(id);
            return;
        }
        handler_(LocalRequest{c->caller, std::move(envelope->body), Responder(this, id, envelope->request_id)});
        if (!connections_.count(id)) return;  // the handler may have closed it
    }
}

void LocalServer::reply(uint64_t connection, uint64_t request_id, const wire::Message& body) {
    auto it = connections_.find(connection);
    if (it == connections_.end()) return;  // caller went away; nothing to do
    auto* w = new WriteRequest{};
    w->req.data = w;
    w->bytes = wire::frame(wire::encode(wire::Envelope{request_id, body}));
    uv_buf_t buf = uv_buf_init(w->bytes.data(), unsigned(w->bytes.size()));
    int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&it->second->pipe), &buf, 1,
                      [](uv_write_t* req, int) { delete static_cast<WriteRequest*>(req->data); });
    if (rc != 0) {
        delete w;
        close_connection(connection);
    }
}

void LocalServer::close_connection(uint64_t id) {
    auto it = connections_.find(id);
    if (it == connections_.end()) return;
    uv_close(reinterpret_cast<uv_handle_t*>(&it->second->pipe), free_connection);
    connections_.erase(it);
}

}  // namespace ssi::agent
