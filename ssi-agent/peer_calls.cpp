#include "ssi-agent/peer_calls.h"

#include "libssi/wire/codec.h"

#include <spdlog/spdlog.h>

namespace ssi::agent {

namespace {
constexpr uint64_t kResendMs = 50;
}  // namespace

void PeerCalls::call(int32_t node, const wire::Message& request, uint32_t timeout_ms, Done done) {
    uint64_t id = next_id_++;
    auto timer = std::make_unique<Timer>(loop_, [this, id] { timed_out(id); });
    timer->start(timeout_ms);
    std::string payload = wire::encode(wire::Envelope{id, request});
    Pending pending{node, std::move(done), std::move(timer), {}, nullptr, wire::type_name(request), timeout_ms};
    if (!mesh_.send(node, payload)) {
        pending.payload = std::move(payload);
        pending.resend = std::make_unique<Timer>(loop_, [this, id] { resend(id); });
        pending.resend->start(kResendMs, kResendMs);
    }
    pending_.emplace(id, std::move(pending));
}

// Said in the log: the asker hears only "node N did not answer", and whether the request
// ever left tells a missing link from a peer that got it and stayed silent.
void PeerCalls::timed_out(uint64_t id) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    const Pending& p = it->second;
    spdlog::warn("peers: node {} did not answer a {} within {} ms ({})", p.node, p.what, p.timeout_ms,
                 p.payload.empty() ? "it was sent" : "it never left: no link to that node");
    finish(id, std::nullopt);
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
