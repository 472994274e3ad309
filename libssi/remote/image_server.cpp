#include "libssi/remote/image_server.h"

#include "kern-ext/file_ops.h"
#include "kern-ext/files.h"
#include "libssi/remote/image_stream.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>

namespace ssi::remote {

void ImageServer::serve(std::string path) {
    // A half-sent image of the last move is nobody's.
    if (!path_.empty() && writer_) (void)unlink_at(AT_FDCWD, path_ + ".part", 0);
    path_ = std::move(path);
    reader_.reset();
    writer_.reset();
}

std::string ImageServer::handle(std::string_view request) {
    auto op = decode_image_op(request);
    if (!op) return encode_image_error("malformed image request");
    if (path_.empty()) return encode_image_error("no migration under way");
    const std::string part = path_ + ".part";
    switch (op->op) {
        case 'G': {
            if (!reader_) {
                auto fd = open_file(path_, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                if (!fd) return encode_image_error(fd.error().message());
                reader_ = std::move(*fd);
            }
            std::string data(std::min<size_t>(op->length, 4 * kImageChunkBytes), '\0');
            size_t got = 0;
            while (got < data.size()) {
                auto n = pread_some(reader_.get(), std::span<char>(data.data() + got, data.size() - got), off_t(op->offset + got));
                if (!n) return encode_image_error(n.error().message());
                if (*n == 0) break;
                got += *n;
            }
            data.resize(got);
            return encode_image_op('D', op->offset, 0, data);
        }
        case 'P': {
            if (!writer_) {
                if (op->offset != 0) return encode_image_error("the image must be sent from its start");
                (void)unlink_at(AT_FDCWD, part, 0);
                auto fd = open_file(part, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (!fd) return encode_image_error(fd.error().message());
                writer_ = std::move(*fd);
            }
            std::string_view data = op->data;
            uint64_t at = op->offset;
            while (!data.empty()) {
                auto n = pwrite_some(writer_.get(), data, off_t(at));
                if (!n) return encode_image_error(n.error().message());
                data.remove_prefix(*n);
                at += *n;
            }
            return encode_image_op('K', op->offset);
        }
        case 'C': {
            if (!writer_) return encode_image_error("no image was sent");
            auto st = stat_at(writer_.get(), "", AT_EMPTY_PATH);
            writer_.reset();
            if (auto renamed = rename_at(AT_FDCWD, part, AT_FDCWD, path_, 0); !renamed)
                return encode_image_error(renamed.error().message());
            return encode_image_op('K', st ? uint64_t(st->st_size) : 0);
        }
        default: return encode_image_error("unknown image request");
    }
}

}  // namespace ssi::remote
