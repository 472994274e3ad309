// PeerCalls: request/reply over the mesh. A call to a peer either gets its reply or,
// after its timeout, nothing — never both, never neither, so callers can always answer
// their own caller. A request that cannot leave yet (our link to the peer is still
// reconnecting, e.g. just after its agent restarted) is tried again until the timeout.
#pragma once

#include "libssi/wire/messages.h"
#include "ssi-agent/event_loop.h"
#include "ssi-agent/peer_mesh.h"

#include <functional>
#include <map>
#include <memory>
#include <optional>

namespace ssi::agent {

class PeerCalls {
public:
    using Done = std::function<void(std::optional<wire::Message>)>;

    PeerCalls(EventLoop& loop, PeerMesh& mesh) : loop_(loop), mesh_(mesh) {}

    void call(int32_t node, const wire::Message& request, uint32_t timeout_ms, Done done);
    // A reply arrived from `node`; true if it answered a call of ours.
    bool complete(int32_t node, uint64_t request_id, wire::Message&& reply);
    size_t pending() const { return pending_.size(); }

private:
    struct Pending {
        int32_t node;
        Done done;
        std::unique_ptr<Timer> timeout;
        std::string payload;             // while it has not left
        std::unique_ptr<Timer> resend;
        const char* what = "";           // the request's type, for the log
        uint32_t timeout_ms = 0;
    };
    void resend(uint64_t id);
    void timed_out(uint64_t id);
    void finish(uint64_t id, std::optional<wire::Message> reply);

    EventLoop& loop_;
    PeerMesh& mesh_;
    std::map<uint64_t, Pending> pending_;
    uint64_t next_id_ = 1;
};

}  // namespace ssi::agent
