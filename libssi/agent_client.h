// How tools talk to their node's agent: one request, one reply, over the Unix socket.
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"
#include "libssi/wire/messages.h"

#include <functional>
#include <string>

namespace ssi {

class AgentClient {
public:
    // path defaults to $SSI_SOCKET or /run/ssi/agent.sock. A missing agent is an error
    // saying so ("is ssi-agent running?").
    static Result<AgentClient> connect(const std::string& path = {});
    // The same one-request-one-reply exchange over another connected stream socket (the
    // home agent ordering a deputy); `who` names the other side in errors.
    static AgentClient over(UniqueFd fd, std::string who) { return AgentClient(std::move(fd), std::move(who), ""); }

    // Sends `request`, waits up to timeout_ms for its reply. An ErrorReply comes back as
    // an Error carrying its errno and message. `meanwhile`, if given, runs once the
    // request is sent: work the caller would do anyway, done while the agent works.
    Result<wire::Message> call(const wire::Message& request, int timeout_ms = 5000,
                               const std::function<void()>& meanwhile = {});

private:
    AgentClient(UniqueFd fd, std::string who, std::string path)
        : fd_(std::move(fd)), who_(std::move(who)), path_(std::move(path)) {}
    UniqueFd fd_;
    std::string who_;
    std::string path_;
    uint64_t next_id_ = 1;
};

}  // namespace ssi
