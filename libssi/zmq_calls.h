// ZeroMQ calls that a signal cannot break. libzmq looks at a socket's command mailbox with
// poll(2) inside recv, send and getsockopt(ZMQ_EVENTS), even when told not to wait; a
// signal landing there (the agent's SIGCHLD, as its supervisors come and go) fails the
// call with EINTR before it took or queued anything, and cppzmq throws. Uncaught, that
// ended an agent; here such a call is made again. Other errors are thrown as before.
#pragma once

#include <zmq.hpp>

#include <cerrno>
#include <span>
#include <vector>

namespace ssi {

template <class Call>
decltype(auto) unless_interrupted(Call&& call) {
    for (;;) {
        try {
            return call();
        } catch (const zmq::error_t& e) {
            if (e.num() != EINTR) throw;
        }
    }
}

// A context whose I/O and reaper threads already run. ZeroMQ starts them with a context's
// first socket, about a millisecond here: better spent while waiting for something else.
zmq::context_t started_context();

// Whether a message waits to be received (ZMQ_EVENTS; its ZMQ_FD is edge-triggered).
bool has_input(zmq::socket_t& socket);

// One whole message (all its frames) if one is queued, without waiting: frames empty if not.
std::vector<zmq::message_t> receive_queued(zmq::socket_t& socket);

// One whole message without waiting; false if the queue is full (nothing of it sent).
bool send_frames(zmq::socket_t& socket, std::span<const zmq::const_buffer> frames);

}  // namespace ssi
