#include "ssi-agent/peer_calls.h"

#include "libssi/wire/codec.h"

namespace ssi::agent {

namespace {
constexpr uint64_t kResendMs = 50;
}  // namespace

void PeerCalls::call(int32_t node, const wire::Message& request, uint32_t timeout_ms, Done done) {
    uint64_t id = next_id_++;
    auto timer = std::make_unique<Timer>(loop_, [this, id] { finish(id, std::nullopt); });
    timer->start(timeout_ms);
    std::string payload = wire::encode(wire::Envelope{id, request});
    if (mesh_.send(node, payload)) {
        pending_.emplace(id, Pending{node, std::move(done), std::move(timer), {}, nullptr});
        return;
    }
    auto retry = std::make_unique<Timer>(loop_, [this, id] { resend(id); });
    retry->start(kResendMs, kResendMs);
    pending_.emplace(id, Pending{node, std::move(done), std::move(timer), std::move(payload), std::move(retry)});
}

void PeerCalls::resend(uint64_t id) {
    auto it = pending_.find(id);
    if (it == pending_.end() || !mesh_.send(it->second.node, it->second.payload)) return;
    it->second.payload.clear();
    it->second.resend->stop();
}

bool PeerCalls::complete(int32_t node, uint64_t request_id, wire::Message&& reply) {
    auto it = pending_.find(request_id);
    if (it == pending_.end() || it->second.node != node) return false;  // late, or not from whom we asked
    finish(request_id, std::move(reply));
    return true;
}

void PeerCalls::finish(uint64_t id, std::optional<wire::Message> reply) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    Done done = std::move(it->second.done);
    pending_.erase(it);
    done(std::move(reply));
}

}  // namespace ssi::agent
