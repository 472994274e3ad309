#include "ssi-remote/image_transfer.h"

#include "kern-ext/files.h"
#include "kern-ext/process.h"
#include "libssi/remote/image_stream.h"

#include <fcntl.h>
#include <signal.h>

#include <zmq_addon.hpp>

#include <algorithm>
#include <cstring>
#include <optional>

namespace ssi::remote {

namespace {
constexpr int kImageReplyTimeoutMs = 30000;
}  // namespace

void send_image_op(zmq::socket_t& s, const std::string& payload) {
    std::array<zmq::const_buffer, 2> frames = {zmq::buffer(&kImageKind, 1), zmq::buffer(payload)};
    zmq::send_multipart(s, frames);
}

Result<std::string> receive_image_reply(zmq::socket_t& s) {
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

Result<ImageFetch> ImageFetch::open(zmq::context_t& context, const SessionKeys& keys, char op) {
    try {
        ImageFetch fetch(image_socket(context, keys), op);
        for (int i = 0; i < kImageChunksInFlight; ++i) fetch.ask();
        return fetch;
    } catch (const zmq::error_t& e) {
        return Error{"image transfer", e.num(), e.what()};
    }
}

void ImageFetch::ask() {
    send_image_op(socket_, encode_image_op(op_, asked_, uint32_t(kImageChunkBytes)));
    asked_ += kImageChunkBytes;
    ++in_flight_;
}

Result<size_t> ImageFetch::read_some(std::span<char> out) {
    try {
        while (used_ == reply_.size()) {
            if (end_) return size_t(0);
            // The next reply, in order; decoded where it lies.
            std::vector<zmq::message_t> frames;
            if (!zmq::recv_multipart(socket_, std::back_inserter(frames)))
                return make_error("image transfer", "the deputy did not answer", ETIMEDOUT);
            --in_flight_;
            if (frames.size() != 2 || frames[0].size() != 1 || *frames[0].data<char>() != kImageKind)
                return make_error("image transfer", "malformed reply from the deputy", EPROTO);
            auto op = decode_image_op({frames[1].data<char>(), frames[1].size()});
            if (!op) return make_error("image transfer", "malformed reply from the deputy", EPROTO);
            if (op->op == 'E') return make_error("image transfer", "at home: " + std::string(op->data), EIO);
            if (op->op != 'D' || op->offset != received_)
                return make_error("image transfer", "unexpected reply from the deputy", EPROTO);
            received_ += op->data.size();
            if (op->data.size() < kImageChunkBytes) end_ = true;  // the requests beyond it get empty answers
            else ask();
            used_ = size_t(op->data.data() - frames[1].data<char>());
            reply_ = std::move(frames[1]);
        }
        size_t n = std::min(out.size(), reply_.size() - used_);
        std::memcpy(out.data(), reply_.data<char>() + used_, n);
        used_ += n;
        return n;
    } catch (const zmq::error_t& e) {
        return Error{"image transfer", e.num(), e.what()};
    }
}

Result<ImageSend> ImageSend::open(zmq::context_t& context, const SessionKeys& keys) {
    try {
        return ImageSend(image_socket(context, keys));
    } catch (const zmq::error_t& e) {
        return Error{"image transfer", e.num(), e.what()};
    }
}

Result<void> ImageSend::write(std::span<const char> data) {
    constexpr size_t kHeader = 1 + sizeof(uint64_t);  // 'P' offset
    while (!data.empty()) {
        if (filled_ == 0) {
            pending_.rebuild(kHeader + kImageChunkBytes);
            char* p = pending_.data<char>();
            p[0] = 'P';
            std::memcpy(p + 1, &sent_, sizeof sent_);
        }
        size_t n = std::min(data.size(), kImageChunkBytes - filled_);
        std::memcpy(pending_.data<char>() + kHeader + filled_, data.data(), n);
        filled_ += n;
        data = data.subspan(n);
        if (filled_ == kImageChunkBytes) TRY(flush());
    }
    return ok();
}

Result<void> ImageSend::flush() {
    constexpr size_t kHeader = 1 + sizeof(uint64_t);
    if (filled_ == 0) return ok();
    try {
        while (in_flight_ >= kImageChunksInFlight) {
            TRY(receive_image_reply(socket_));
            --in_flight_;
        }
        if (filled_ < kImageChunkBytes) {  // the last piece: a message of its own size
            zmq::message_t last(kHeader + filled_);
            std::memcpy(last.data(), pending_.data(), last.size());
            pending_ = std::move(last);
        }
        socket_.send(zmq::buffer(&kImageKind, 1), zmq::send_flags::sndmore);
        socket_.send(pending_, zmq::send_flags::none);
        sent_ += filled_;
        filled_ = 0;
        ++in_flight_;
        return ok();
    } catch (const zmq::error_t& e) {
        return Error{"image transfer", e.num(), e.what()};
    }
}

Result<uint64_t> ImageSend::finish() {
    TRY(flush());
    try {
        for (; in_flight_ > 0; --in_flight_) TRY(receive_image_reply(socket_));
        send_image_op(socket_, encode_image_op('C', 0));
        TRY(receive_image_reply(socket_));
        return sent_;
    } catch (const zmq::error_t& e) {
        return Error{"image transfer", e.num(), e.what()};
    }
}

Result<uint64_t> send_image(zmq::context_t& context, const SessionKeys& keys, const ProcessImage& image,
                            zmq::socket_t* link) {
    ImageSend send = link ? ImageSend::over(std::move(*link)) : TRY(ImageSend::open(context, keys));
    TRY(save_image_to(image, send));
    return send.finish();
}

}  // namespace ssi::remote
