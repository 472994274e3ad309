// The deputy's part in "sockets are home's" (docs/remote-exec.md, Sockets): the program's
// TCP sockets are real sockets of this process, held by SocketServer; their messages travel
// as 'S' frames on the supervisor's socket connection, and the real sockets join our poll.
#include "shell/ssi-run/deputy.h"

#include "libssi/remote/session.h"

#include <poll.h>

#include <zmq_addon.hpp>

#include <chrono>

namespace ssi::run {

void Deputy::on_socket_frame(const zmq::message_t& routing_id, const zmq::message_t& payload) {
    // The supervisor speaks for sockets on a connection of its own; answers go back there.
    sockets_id_ = routing_id.to_string();
    sockets_->handle(std::span<const char>(payload.data<char>(), payload.size()));
}

void Deputy::send_socket(const remote::SocketMessage& message) {
    if (sockets_id_.empty()) return;
    std::string bytes = remote::encode_socket_message(message);
    std::array<zmq::const_buffer, 3> frames = {zmq::buffer(sockets_id_), zmq::buffer(&remote::kSocketKind, 1),
                                               zmq::buffer(bytes)};
    try {
        zmq::send_multipart(router_, frames);
    } catch (const zmq::error_t&) {
        // The supervisor is gone; its program with it.
    }
}

std::vector<remote::SocketWatch> Deputy::add_socket_watches(std::vector<zmq::pollitem_t>& items) const {
    auto watches = sockets_->watches();
    for (const auto& w : watches) {
        short events = short(((w.events & POLLIN) ? ZMQ_POLLIN : 0) | ((w.events & POLLOUT) ? ZMQ_POLLOUT : 0));
        items.push_back({nullptr, w.fd, events, 0});
    }
    return watches;
}

void Deputy::on_socket_events(const std::vector<remote::SocketWatch>& watches, const zmq::pollitem_t* items) {
    for (size_t i = 0; i < watches.size(); ++i) {
        short r = items[i].revents;
        if (!r) continue;
        // zmq_poll reports a hang-up or an error of a plain descriptor as ZMQ_POLLERR.
        short revents = short(((r & ZMQ_POLLIN) ? POLLIN : 0) | ((r & ZMQ_POLLOUT) ? POLLOUT : 0) |
                              ((r & ZMQ_POLLERR) ? (POLLHUP | POLLERR) : 0));
        sockets_->on_ready(watches[i].sock, revents);
    }
}

// The program has ended: what it sent before its sockets closed still goes out before we
// exit (SockDone says the supervisor has sent all of it), within kSocketFlushMs.
void Deputy::finish_sockets() {
    if (sockets_id_.empty()) return;  // it never had a socket
    auto start = std::chrono::steady_clock::now();
    while (!sockets_->finished() && std::chrono::steady_clock::now() - start < std::chrono::milliseconds(remote::kSocketFlushMs)) {
        std::vector<zmq::pollitem_t> items = {{router_.handle(), 0, ZMQ_POLLIN, 0}};
        auto watches = add_socket_watches(items);
        try {
            zmq::poll(items.data(), items.size(), std::chrono::milliseconds(100));
        } catch (const zmq::error_t&) {
        }
        on_router();
        on_socket_events(watches, items.data() + 1);
    }
}

}  // namespace ssi::run
