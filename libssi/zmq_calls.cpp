#include "libssi/zmq_calls.h"

namespace ssi {

zmq::context_t started_context() {
    zmq::context_t context(1);
    zmq::socket_t(context, zmq::socket_type::dealer).close();
    return context;
}

bool has_input(zmq::socket_t& socket) {
    return unless_interrupted([&] { return socket.get(zmq::sockopt::events); }) & ZMQ_POLLIN;
}

// A message's frames arrive together: once its first is taken, the rest are queued.
std::vector<zmq::message_t> receive_queued(zmq::socket_t& socket) {
    std::vector<zmq::message_t> frames;
    for (;;) {
        zmq::message_t frame;
        auto got = unless_interrupted([&] { return socket.recv(frame, zmq::recv_flags::dontwait); });
        if (!got) return frames;
        const bool more = frame.more();
        frames.push_back(std::move(frame));
        if (!more) return frames;
    }
}

// A message's first frame decides: once it is queued, the rest always fit.
bool send_frames(zmq::socket_t& socket, std::span<const zmq::const_buffer> frames) {
    for (size_t i = 0; i < frames.size(); ++i) {
        const auto flags = i + 1 < frames.size() ? zmq::send_flags::sndmore | zmq::send_flags::dontwait
                                                 : zmq::send_flags::dontwait;
        auto sent = unless_interrupted([&] { return socket.send(frames[i], flags); });
        if (!sent) return false;
    }
    return true;
}

}  // namespace ssi
