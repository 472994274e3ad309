#include "libssi/agent_client.h"

#include "kern-ext/files.h"
#include "kern-ext/unix_socket.h"
#include "libssi/config.h"
#include "libssi/wire/codec.h"
#include "libssi/wire/framing.h"

#include <chrono>

namespace ssi {

Result<AgentClient> AgentClient::connect(const std::string& path) {
    std::string p = path.empty() ? socket_path_from_env() : path;
    auto fd = connect_unix(p);
    if (!fd) {
        Error e = fd.error();
        e.call = "cannot reach the local ssi-agent at " + p + " (is it running?)";
        e.context.clear();
        return e;
    }
    return AgentClient(std::move(*fd), "the local ssi-agent", p);
}

Result<wire::Message> AgentClient::call(const wire::Message& request, int timeout_ms,
                                        const std::function<void()>& meanwhile) {
    uint64_t id = next_id_++;
    std::string bytes = wire::frame(wire::encode(wire::Envelope{id, request}));
    TRY(write_all(fd_.get(), bytes));
    if (meanwhile) meanwhile();

    using clock = std::chrono::steady_clock;
    auto deadline = clock::now() + std::chrono::milliseconds(timeout_ms);
    wire::FrameReader reader(wire::kMaxMessageBytes);
    char buf[65536];
    for (;;) {
        auto frame = TRY(reader.next());
        if (frame) {
            wire::Envelope env = TRY(wire::decode(*frame));
            if (env.request_id != id) continue;  // not ours (cannot happen on a private socket)
            if (auto* err = std::get_if<wire::ErrorReply>(&env.body))
                return Error{err->message, 0, {}};  // the agent's words are the whole message
            return std::move(env.body);
        }
        int left = int(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count());
        if (left <= 0 || !TRY(wait_readable(fd_.get(), left)))
            return make_error("no reply from " + who_, path_, ETIMEDOUT);
        size_t n = TRY(read_some(fd_.get(), buf));
        if (n == 0) return make_error(who_ + " closed the connection", path_, ECONNRESET);
        reader.feed(std::span<const char>(buf, n));
    }
}

}  // namespace ssi
