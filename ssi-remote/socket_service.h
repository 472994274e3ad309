// SocketService: the supervisor's SocketRelay on a thread of its own, talking to the deputy
// through a DEALER of its own ('S' frames, libssi/remote/socket_protocol.h). The seccomp
// handlers (socket_calls.cpp) run on the dispatcher's thread and must not wait for home:
// they post their call here, and this thread answers it — at once, after the deputy's
// reply, or (accept) whenever a connection comes.
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"
#include "ssi-remote/socket_relay.h"

#include <zmq.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace ssi::remote {

class SocketService {
public:
    // `connect` makes the DEALER to the deputy (connect_to_deputy). It is called on the
    // service thread at the first message to send: most programs never make a socket,
    // and a CURVE handshake per run is start-up time they would pay for nothing.
    using Connect = std::function<zmq::socket_t()>;
    static Result<std::unique_ptr<SocketService>> start(Connect connect);
    ~SocketService();
    SocketService(const SocketService&) = delete;
    SocketService& operator=(const SocketService&) = delete;

    // Runs `work` on the service thread, which alone touches the relay.
    void post(std::function<void(SocketRelay&)> work);
    // After the program's end: waits until every socket it had is closed at home's side
    // too (its last bytes sent), then tells the deputy (SockDone), so that the deputy does
    // not exit before them. False if that takes longer than timeout_ms.
    bool finish(int timeout_ms);
    // Runs `tick` on the service thread about every interval_ms (set before calls come).
    void every(int interval_ms, std::function<void(SocketRelay&)> tick);

private:
    explicit SocketService(Connect connect);
    void run();
    void send(const SocketMessage& message);
    void on_dealer();

    Connect connect_;
    std::optional<zmq::socket_t> dealer_;  // made at the first send
    SocketRelay relay_;
    std::mutex mutex_;
    std::vector<std::function<void(SocketRelay&)>> posted_;
    UniqueFd wake_read_, wake_write_;  // a pipe: something was posted
    std::atomic<bool> stopping_{false};
    std::function<void()> on_empty_;  // finish(): run once the relay holds no socket
    std::function<void(SocketRelay&)> tick_;
    int tick_ms_ = 1000;
    std::thread thread_;
};

}  // namespace ssi::remote
