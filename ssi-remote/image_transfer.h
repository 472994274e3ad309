// The supervisor's end of the image channel (libssi/remote/image_stream.h): a migration's
// image streams between the deputy's home file and this supervisor over the session's
// ZeroMQ link, several chunks in flight. Arriving, the replies are read straight into the
// restore (ImageFetch is its ImageSource), so the process is rebuilt while its image
// arrives and never touches a disk here; leaving, it is sent as it is read from the
// stopped process.
#pragma once

#include "kern-ext/checkpoint/checkpoint.h"
#include "kern-ext/checkpoint/image_source.h"
#include "kern-ext/result.h"
#include "ssi-remote/fs_transport.h"

#include <zmq.hpp>

namespace ssi::remote {

// The image channel's socket to the deputy (replies time out after 30 s); one request out;
// the next reply's payload, or an Error when the deputy is silent or says no ('E').
zmq::socket_t image_socket(zmq::context_t& context, const SessionKeys& keys);
void send_image_op(zmq::socket_t& socket, const std::string& payload);
Result<std::string> receive_image_reply(zmq::socket_t& socket);

// The image of the move under way, read from the deputy as the reader asks for it, with
// kImageChunksInFlight requests ahead of it.
class ImageFetch final : public ImageSource {
public:
    // Connected, the first requests sent. `op`: 'G' for the whole image, 'H' for its
    // head alone (a post-copy: the memory comes later, by address).
    static Result<ImageFetch> open(zmq::context_t& context, const SessionKeys& keys, char op = 'G');
    Result<size_t> read_some(std::span<char> out) override;

private:
    ImageFetch(zmq::socket_t socket, char op) : socket_(std::move(socket)), op_(op) {}
    void ask();
    zmq::socket_t socket_;
    char op_;
    zmq::message_t reply_;   // the last 'D' reply
    size_t used_ = 0;        // bytes of reply_ read (its header included)
    uint64_t asked_ = 0;     // offset of the next request
    uint64_t received_ = 0;  // offset the next reply must have
    int in_flight_ = 0;
    bool end_ = false;
};

// The image for the deputy's home file, sent as it is written (save_image_to's sink):
// each request built in place, kImageChunksInFlight of them unanswered at most.
class ImageSend final : public ImageSink {
public:
    static Result<ImageSend> open(zmq::context_t& context, const SessionKeys& keys);
    // On a link already made (the pre-copy's): no second handshake while the program is stopped.
    static ImageSend over(zmq::socket_t socket) { return ImageSend(std::move(socket)); }
    Result<void> write(std::span<const char> data) override;
    // The rest sent, every piece acknowledged, the file renamed into place: its size.
    Result<uint64_t> finish();

private:
    explicit ImageSend(zmq::socket_t socket) : socket_(std::move(socket)) {}
    Result<void> flush();
    zmq::socket_t socket_;
    zmq::message_t pending_;  // 'P' offset, then up to kImageChunkBytes of data
    size_t filled_ = 0;       // data bytes in pending_
    uint64_t sent_ = 0;
    int in_flight_ = 0;
};

// `image` to the deputy, whole (renamed into place) when this returns; its size. On
// `link` when given (an image socket, idle), else on a new one.
Result<uint64_t> send_image(zmq::context_t& context, const SessionKeys& keys, const ProcessImage& image,
                            zmq::socket_t* link = nullptr);

}  // namespace ssi::remote
