#include "ssi-remote/socket_service.h"

#include "ssi-remote/standby_threads.h"
#include "kern-ext/files.h"
#include "kern-ext/process.h"
#include "libssi/remote/session.h"

#include <poll.h>

#include <zmq_addon.hpp>

#include <array>
#include <future>

namespace ssi::remote {

SocketService::SocketService(Connect connect)
    : connect_(std::move(connect)), relay_([this](const SocketMessage& m) { send(m); }) {}

Result<std::unique_ptr<SocketService>> SocketService::start(Connect connect) {
    std::unique_ptr<SocketService> s(new SocketService(std::move(connect)));
    std::tie(s->wake_read_, s->wake_write_) = TRY(make_pipe());
    TRY(set_nonblocking(s->wake_read_.get()));
    TRY(set_nonblocking(s->wake_write_.get()));
    s->thread_ = start_thread([raw = s.get()] { raw->run(); });
    return s;
}

SocketService::~SocketService() {
    stopping_ = true;
    (void)write_some(wake_write_.get(), std::string_view("x", 1));
    if (thread_.joinable()) thread_.join();
}

void SocketService::post(std::function<void(SocketRelay&)> work) {
    {
        std::lock_guard lock(mutex_);
        posted_.push_back(std::move(work));
    }
    (void)write_some(wake_write_.get(), std::string_view("x", 1));  // full: a wake-up is pending anyway
}

bool SocketService::finish(int timeout_ms) {
    auto done = std::make_shared<std::promise<void>>();
    auto future = done->get_future();
    post([this, done](SocketRelay&) {
        on_empty_ = [this, done] {
            if (!dealer_) {  // the deputy never heard of a socket: it waits for no SockDone
                done->set_value();
                return;
            }
            send(SockDone{});
            // What is queued here (up to a window of the program's last bytes) must still
            // leave once the supervisor exits; the dealer was made to drop it (linger 0).
            dealer_->set(zmq::sockopt::linger, kSocketFlushMs);
            done->set_value();
        };
    });
    return future.wait_for(std::chrono::milliseconds(timeout_ms)) == std::future_status::ready;
}

void SocketService::every(int interval_ms, std::function<void(SocketRelay&)> tick) {
    post([this, interval_ms, tick = std::move(tick)](SocketRelay&) {
        tick_ = tick;
        tick_ms_ = interval_ms;
    });
}

void SocketService::send(const SocketMessage& message) {
    std::string bytes = encode_socket_message(message);
    std::array<zmq::const_buffer, 2> frames = {zmq::buffer(&kSocketKind, 1), zmq::buffer(bytes)};
    try {
        if (!dealer_) dealer_.emplace(connect_());
        zmq::send_multipart(*dealer_, frames);
    } catch (const zmq::error_t&) {
        // The deputy is gone: the supervisor ends the program.
    }
}

void SocketService::on_dealer() {
    while (dealer_) {
        std::vector<zmq::message_t> frames;
        try {
            if (!zmq::recv_multipart(*dealer_, std::back_inserter(frames), zmq::recv_flags::dontwait)) return;
        } catch (const zmq::error_t&) {
            return;
        }
        if (frames.size() != 2 || frames[0].size() != 1 || *frames[0].data<char>() != kSocketKind) continue;
        relay_.handle(std::span<const char>(frames[1].data<char>(), frames[1].size()));
    }
}

void SocketService::run() {
    auto last_tick = std::chrono::steady_clock::now();
    while (!stopping_) {
        // Without a link yet, the wake-up pipe stands in its place (nothing comes from home).
        std::vector<zmq::pollitem_t> items = {dealer_ ? zmq::pollitem_t{dealer_->handle(), 0, ZMQ_POLLIN, 0}
                                                      : zmq::pollitem_t{nullptr, wake_read_.get(), ZMQ_POLLIN, 0},
                                              {nullptr, wake_read_.get(), ZMQ_POLLIN, 0}};
        auto watches = relay_.watches();
        for (const auto& w : watches) {
            short events = short(((w.events & POLLIN) ? ZMQ_POLLIN : 0) | ((w.events & POLLOUT) ? ZMQ_POLLOUT : 0));
            items.push_back({nullptr, w.fd, events, 0});
        }
        try {
            zmq::poll(items.data(), items.size(), std::chrono::milliseconds(tick_ms_));
        } catch (const zmq::error_t&) {
            continue;  // EINTR
        }
        if (items[1].revents) {
            char buf[256];
            while (read_some(wake_read_.get(), std::span<char>(buf, sizeof buf)).value_or(0) > 0) {
            }
            std::vector<std::function<void(SocketRelay&)>> work;
            {
                std::lock_guard lock(mutex_);
                work.swap(posted_);
            }
            for (auto& w : work) w(relay_);
        }
        // The deputy's messages before our descriptors: an Ack may open a window.
        on_dealer();
        for (size_t i = 0; i < watches.size(); ++i) {
            short r = items[2 + i].revents;
            if (!r) continue;
            // zmq_poll reports a hang-up of a plain descriptor as ZMQ_POLLERR.
            short revents = short(((r & ZMQ_POLLIN) ? POLLIN : 0) | ((r & ZMQ_POLLOUT) ? POLLOUT : 0) |
                                  ((r & ZMQ_POLLERR) ? (POLLHUP | POLLERR) : 0));
            relay_.on_ready(watches[i].sock, revents);
        }
        on_dealer();
        if (on_empty_ && relay_.socket_count() == 0) std::exchange(on_empty_, nullptr)();
        if (tick_ && std::chrono::steady_clock::now() - last_tick >= std::chrono::milliseconds(tick_ms_)) {
            last_tick = std::chrono::steady_clock::now();
            tick_(relay_);
        }
    }
}

}  // namespace ssi::remote
