#include "ssi-remote/image_transfer.h"

#include "kern-ext/files.h"
#include "kern-ext/process.h"
#include "libssi/remote/image_stream.h"

#include <fcntl.h>
#include <signal.h>

#include <zmq_addon.hpp>

#include <deque>
#include <optional>
#include <thread>

namespace ssi::remote {
namespace {

constexpr int kImageReplyTimeoutMs = 30000;

// One request out, on the image channel.
void send_op(zmq::socket_t& s, const std::string& payload) {
    std::array<zmq::const_buffer, 2> frames = {zmq::buffer(&kImageKind, 1), zmq::buffer(payload)};
    zmq::send_multipart(s, frames);
}

// The next reply; an Error when the deputy is silent, or says no.
Result<std::string> receive_op(zmq::socket_t& s) {
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(s, std::back_inserter(frames)))
        return make_error("image transfer", "the deputy did not answer", ETIMEDOUT);
    if (frames.size() != 2 || frames[0].size() != 1 || *frames[0].data<char>() != kImageKind)
        return make_error("image transfer", "malformed reply from the deputy", EPROTO);
    std::string payload = frames[1].to_string();
    auto op = decode_image_op(payload);
    if (!op) return make_error("image transfer", "malformed reply from the deputy", EPROTO);
    if (op->op == 'E') return make_error("image transfer", "at home: " + std::string(op->data), EIO);
    return payload;
}

zmq::socket_t image_socket(zmq::context_t& context, const SessionKeys& keys) {
    zmq::socket_t s = connect_to_deputy(context, keys);
    s.set(zmq::sockopt::rcvtimeo, kImageReplyTimeoutMs);
    return s;
}

// The pipe between the transfer thread and the image reader or writer: large, so each
// side moves a whole chunk per call; SIGPIPE held, so a side that gives up is an error.
Result<std::pair<UniqueFd, UniqueFd>> image_pipe() {
    auto ends = TRY(make_pipe());
    (void)::fcntl(ends.second.get(), F_SETPIPE_SZ, int(kImageChunkBytes));
    return ends;
}

}  // namespace

Result<ProcessImage> fetch_image(zmq::context_t& context, const SessionKeys& keys) {
    auto [in, out] = TRY(image_pipe());
    std::optional<Error> failed;
    std::thread pump([&, out = std::move(out)]() mutable {
        (void)set_signal_mask(SIG_BLOCK, signal_set({SIGPIPE}));
        try {
            zmq::socket_t s = image_socket(context, keys);
            uint64_t next = 0;
            int in_flight = 0;
            bool end = false;
            auto ask = [&] {
                send_op(s, encode_image_op('G', next, uint32_t(kImageChunkBytes)));
                next += kImageChunkBytes;
                ++in_flight;
            };
            for (int i = 0; i < kImageChunksInFlight; ++i) ask();
            while (in_flight > 0) {
                auto reply = receive_op(s);
                if (!reply) {
                    failed = reply.error();
                    break;
                }
                --in_flight;
                auto op = decode_image_op(*reply);
                if (end) continue;  // asked past the end: empty answers
                if (op->op != 'D') {
                    failed = make_error("image transfer", "unexpected reply from the deputy", EPROTO);
                    break;
                }
                if (auto w = write_all(out.get(), op->data); !w) {
                    failed = w.error();  // the reader gave up (a bad image): its error says why
                    break;
                }
                if (op->data.size() < kImageChunkBytes) end = true;
                else ask();
            }
        } catch (const zmq::error_t& e) {
            failed = Error{"image transfer", e.num(), e.what()};
        }
        out.reset();  // end of the image for the reader
    });
    auto image = load_image_from(in.get(), "the image at home");
    in.reset();  // the pump, if still writing, stops on EPIPE
    pump.join();
    if (!image && failed && failed->err != EPIPE) return *failed;
    return image;
}

Result<uint64_t> send_image(zmq::context_t& context, const SessionKeys& keys, const ProcessImage& image) {
    auto [in, out] = TRY(image_pipe());
    std::optional<Error> failed;
    uint64_t total = 0;
    std::thread pump([&, in = std::move(in)]() mutable {
        try {
            zmq::socket_t s = image_socket(context, keys);
            std::string chunk(kImageChunkBytes, '\0');
            int in_flight = 0;
            bool end = false;
            while (!end || in_flight > 0) {
                if (!end && in_flight < kImageChunksInFlight) {
                    size_t got = 0;
                    while (got < chunk.size()) {
                        auto n = read_some(in.get(), std::span<char>(chunk.data() + got, chunk.size() - got));
                        if (!n) {
                            failed = n.error();
                            return;
                        }
                        if (*n == 0) break;
                        got += *n;
                    }
                    if (got < chunk.size()) end = true;
                    if (got > 0) {
                        send_op(s, encode_image_op('P', total, 0, std::string_view(chunk.data(), got)));
                        total += got;
                        ++in_flight;
                    }
                    continue;
                }
                auto ack = receive_op(s);
                if (!ack) {
                    failed = ack.error();
                    return;
                }
                --in_flight;
            }
            send_op(s, encode_image_op('C', 0));
            if (auto done = receive_op(s); !done) failed = done.error();
        } catch (const zmq::error_t& e) {
            failed = Error{"image transfer", e.num(), e.what()};
        }
    });
    sigset_t held = TRY(set_signal_mask(SIG_BLOCK, signal_set({SIGPIPE})));
    auto written = save_image_to(image, out.get(), "the image for home");
    out.reset();  // end of the image for the pump
    pump.join();
    (void)set_signal_mask(SIG_SETMASK, held);
    if (failed) return *failed;
    TRY(written);
    return total;
}

}  // namespace ssi::remote
