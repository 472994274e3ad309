#include "libssi/remote/image_server.h"

#include "kern-ext/checkpoint/checkpoint.h"
#include "kern-ext/checkpoint/remote_memory.h"
#include "kern-ext/file_ops.h"
#include "kern-ext/files.h"
#include "libssi/remote/image_stream.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

namespace ssi::remote {

void ImageServer::serve(std::string path) {
    // A half-sent image of the last move is nobody's.
    if (!path_.empty() && writer_) (void)unlink_at(AT_FDCWD, path_ + ".part", 0);
    path_ = std::move(path);
    reader_.reset();
    writer_.reset();
    held_.reset();
    head_.reset();
    holder_ = 0;
    postcopy_done_ = false;
    precopy_.release();
    end_progress();
}

Result<uint64_t> ImageServer::serve_held(std::string path, pid_t holder) {
    serve(std::move(path));
    const std::string head = path_ + ".head";
    head_ = TRY(open_file(head, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    HeldImageStream image = TRY(stream_held_image(head_.get(), head, holder));
    held_ = std::move(image.bytes);
    held_at_ = 0;
    ended_ = false;
    holder_ = holder;
    start_progress(path_ + ".sent");
    return image.size;
}

void ImageServer::keep_precopy() {
    precopy_.keep();
    progress_.reset();  // the bar stays whole until the agent, done, removes it
}

// IMAGE.precopy: a file as long as what the pre-copy sent so far (sparse, nothing in it),
// where ssi-migrate's progress bar sees a move home advance: its image file stays small.
void ImageServer::start_progress(std::string path) {
    end_progress();
    progress_path_ = std::move(path);
    (void)unlink_at(AT_FDCWD, progress_path_, 0);
    if (auto fd = open_file(progress_path_, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) {
        progress_ = std::move(*fd);
        progress_bytes_ = 0;
    }
}

void ImageServer::add_progress(uint64_t bytes) {
    if (progress_) (void)truncate_fd(progress_.get(), off_t(progress_bytes_ += bytes));
}

void ImageServer::end_progress() {
    if (!progress_) return;
    progress_.reset();
    (void)unlink_at(AT_FDCWD, progress_path_, 0);
}

const std::string& ImageServer::reply(std::string text) {
    reply_ = std::move(text);
    return reply_;
}

// The next chunk of a held image: asked for in order (the fetch asks ahead, in order);
// the requests beyond its end get empty answers.
const std::string& ImageServer::read_held(uint64_t offset, uint32_t length) {
    reply_ = encode_image_op('D', offset);
    const size_t header = reply_.size();
    if (offset != held_at_) {
        if (offset > held_at_ && ended_) return reply_;  // beyond the end
        return reply(encode_image_error("the image of a move from home is read in order"));
    }
    reply_.resize(header + std::min<size_t>(length, 4 * kImageChunkBytes));
    size_t got = 0;
    while (header + got < reply_.size()) {
        auto n = held_->read_some(std::span<char>(reply_.data() + header + got, reply_.size() - header - got));
        if (!n) return reply(encode_image_error(n.error().message()));
        if (*n == 0) {
            ended_ = true;
            break;
        }
        got += *n;
    }
    reply_.resize(header + got);
    held_at_ += got;
    add_progress(got);
    return reply_;
}

// `length` bytes (4 MiB at most) of a file from `offset`: short or empty at its end.
const std::string& ImageServer::read_file_at(int fd, uint64_t offset, uint32_t length) {
    // 'D' offset, then the bytes, read in place after the header.
    reply_ = encode_image_op('D', offset);
    const size_t header = reply_.size();
    // No more than the file holds: a fresh buffer's pages cost ~10 µs each to fault in
    // here, and an image's head is kilobytes, asked for in megabytes.
    uint64_t left = 0;
    if (auto st = stat_at(fd, "", AT_EMPTY_PATH)) left = uint64_t(st->st_size) > offset ? uint64_t(st->st_size) - offset : 0;
    reply_.resize(header + std::min<uint64_t>({length, 4 * kImageChunkBytes, left}));
    size_t got = 0;
    while (header + got < reply_.size()) {
        auto n = pread_some(fd, std::span<char>(reply_.data() + header + got, reply_.size() - header - got),
                            off_t(offset + got));
        if (!n) return reply(encode_image_error(n.error().message()));
        if (*n == 0) break;
        got += *n;
    }
    reply_.resize(header + got);
    return reply_;
}

// Post-copy: the held memory at `address`, as the target's filler asks for it (a page
// a thread there waits for, or the next piece of the rest).
const std::string& ImageServer::read_holder(uint64_t address, uint32_t length) {
    if (holder_ == 0) return reply(encode_image_error("no memory is held for this move"));
    reply_ = encode_image_op('D', address);
    const size_t header = reply_.size();
    reply_.resize(header + std::min<size_t>(length, 4 * kImageChunkBytes));
    // As the image would hold it: a page that cannot be read (a file mapping past its
    // file's end) is zero.
    if (auto read = read_remote_with_holes(holder_, RemotePtr{address},
                                           std::span<char>(reply_.data() + header, reply_.size() - header));
        !read)
        return reply(encode_image_error(read.error().message()));
    add_progress(reply_.size() - header);
    return reply_;
}

const std::string& ImageServer::handle(std::string_view request) {
    auto op = decode_image_op(request);
    if (!op) return reply(encode_image_error("malformed image request"));
    if (path_.empty()) return reply(encode_image_error("no migration under way"));
    const std::string part = path_ + ".part";
    switch (op->op) {
        case 'G': {
            if (held_) return read_held(op->offset, op->length);
            if (!reader_) {
                auto fd = open_file(path_, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                if (!fd) return reply(encode_image_error(fd.error().message()));
                reader_ = std::move(*fd);
            }
            return read_file_at(reader_.get(), op->offset, op->length);
        }
        case 'H': {
            if (!head_) return reply(encode_image_error("no image head: not a move from home"));
            const std::string& out = read_file_at(head_.get(), op->offset, op->length);
            if (auto read = decode_image_op(out); read && read->op == 'D') add_progress(read->data.size());
            return out;
        }
        case 'L': return read_holder(op->offset, op->length);
        case 'Z': {
            if (holder_ == 0) return reply(encode_image_error("no memory is held for this move"));
            postcopy_done_ = true;
            return reply(encode_image_op('K', 0));
        }
        case 'P': {
            if (!writer_) {
                if (op->offset != 0) return reply(encode_image_error("the image must be sent from its start"));
                (void)unlink_at(AT_FDCWD, part, 0);
                auto fd = open_file(part, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (!fd) return reply(encode_image_error(fd.error().message()));
                writer_ = std::move(*fd);
            }
            std::string_view data = op->data;
            uint64_t at = op->offset;
            while (!data.empty()) {
                auto n = pwrite_some(writer_.get(), data, off_t(at));
                if (!n) return reply(encode_image_error(n.error().message()));
                data.remove_prefix(*n);
                at += *n;
            }
            return reply(encode_image_op('K', op->offset));
        }
        case 'C': {
            if (!writer_) return reply(encode_image_error("no image was sent"));
            auto st = stat_at(writer_.get(), "", AT_EMPTY_PATH);
            writer_.reset();
            if (auto renamed = rename_at(AT_FDCWD, part, AT_FDCWD, path_, 0); !renamed)
                return reply(encode_image_error(renamed.error().message()));
            return reply(encode_image_op('K', st ? uint64_t(st->st_size) : 0));
        }
        case 'A': {
            // Each area where nothing of ours is; the rest comes with the image, whole.
            start_progress(path_ + ".precopy");
            std::string mapped(op->offset, '\0');
            for (uint64_t i = 0; i < op->offset; ++i) {
                PrecopyArea a;
                std::memcpy(&a, op->data.data() + i * sizeof a, sizeof a);
                mapped[i] = char(precopy_.map({a.start, a.end}, a.prot, a.huge_pages != 0));
            }
            return reply(encode_image_op('M', op->offset, 0, mapped));
        }
        case 'W': {
            if (auto written = precopy_.write(op->offset, op->data); !written)
                return reply(encode_image_error(written.error().message()));
            add_progress(op->data.size());
            return reply(encode_image_op('K', op->offset));
        }
        case 'F': {
            precopy_.seal();
            return reply(encode_image_op('K', 0));
        }
        default: return reply(encode_image_error("unknown image request"));
    }
}

}  // namespace ssi::remote
