// HomeFileServer: open files — opened (a small one read whole with its open), created,
// read, written, flushed, synced, allocated and released.
#include "libssi/remote/home_file_server.h"
#include "libssi/remote/home_node.h"

#include "kern-ext/file_ops.h"
#include "kern-ext/files.h"

#include <fcntl.h>

#include <algorithm>
#include <chrono>

namespace ssi::remote {

bool comes_whole(const struct stat& st, int64_t now_ns) {
    if (!S_ISREG(st.st_mode) || st.st_size < 0 || st.st_size > kOpenWholeMaxBytes) return false;
    if (st.st_size <= kOpenWholeBytes) return true;
    const bool program = (st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) != 0;
    const int64_t changed_ns = int64_t(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
    return !program || now_ns - changed_ns < kYoungFileNs;
}

Result<OpenReply> HomeFileServer::op(const OpenRequest& r) {
    TRY(check_names(r.node));
    auto n = TRY(node(r.node));
    auto h = std::make_shared<Handle>();
    h->fd = TRY(reopen_fd(n->fd.get(), r.flags & ~O_NOCTTY));
    h->node = n;
    struct stat st = TRY(stat_at(h->fd.get(), "", kSelf));
    OpenReply reply{0, attr_of(st)};
    reply.dev = st.st_dev;
    reply.opened_at_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
    // A small file read whole now saves the target its first READ round trip.
    if ((r.flags & O_ACCMODE) == O_RDONLY && !r.has_copy && comes_whole(st, reply.opened_at_ns)) {
        const size_t size = static_cast<size_t>(st.st_size);
        reply.whole.resize(size + 1);  // one more: a file that grew meanwhile is not whole
        size_t done = 0;
        bool failed = false;
        while (done < reply.whole.size()) {
            auto n = pread_some(h->fd.get(), std::span(reply.whole).subspan(done), off_t(done));
            if (!n) failed = true;
            if (!n || *n == 0) break;
            done += *n;
        }
        reply.has_whole = !failed && done <= size;  // else its READs ask as usual
        reply.whole.resize(reply.has_whole ? done : 0);
    }
    reply.handle = add_handle(std::move(h));
    return reply;
}

Result<CreateReply> HomeFileServer::op(const CreateRequest& r) {
    TRY(check_name(r.name));
    TRY(check_names(r.parent));
    auto parent = TRY(node(r.parent));
    auto h = std::make_shared<Handle>();
    h->fd = TRY(open_at(parent->fd.get(), r.name, (r.flags | O_CREAT) & ~O_NOCTTY, r.mode));
    EntryReply entry = TRY(enter(TRY(reopen_fd(h->fd.get(), O_PATH)), r.parent, r.name));
    h->node = TRY(node(entry.node));
    return CreateReply{entry, add_handle(std::move(h))};
}

Result<DataReply> HomeFileServer::op(const ReadRequest& r) {
    DataReply reply;
    reply.data.resize(std::min(r.size, kMaxIo));
    reply.data.resize(TRY(read_into(r, reply.data)));
    return reply;
}

Result<size_t> HomeFileServer::read_into(const ReadRequest& r, std::span<char> buffer) {
    auto h = TRY(open_handle(r.handle));
    size_t done = 0;
    while (done < buffer.size()) {  // a short read means end of file to the target
        size_t n = TRY(pread_some(h->fd.get(), buffer.subspan(done), r.offset + done));
        if (n == 0) break;
        done += n;
    }
    return done;
}

Result<WriteReply> HomeFileServer::op(const WriteRequest& r) {
    auto h = TRY(open_handle(r.handle));
    size_t done = 0;
    while (done < r.data.size()) {
        auto n = pwrite_some(h->fd.get(), std::span(r.data).subspan(done), r.offset + done);
        if (!n) {
            if (done > 0) break;  // report what was written; the next write gets the error
            return n.error();
        }
        done += *n;
    }
    return WriteReply{static_cast<uint32_t>(done)};
}

Result<EmptyReply> HomeFileServer::op(const FlushRequest& r) {
    auto n = TRY(node(r.node));
    std::lock_guard lock(n->lock_mu);
    n->owners.erase(r.owner);  // closing the owner's description drops its locks
    return EmptyReply{};
}

Result<EmptyReply> HomeFileServer::op(const ReleaseRequest& r) {
    std::string unknown;
    for (uint64_t handle : r.handles)
        if (!remove_handle(handle)) unknown += (unknown.empty() ? "" : ",") + std::to_string(handle);
    if (!unknown.empty()) return make_error("release", unknown, EBADF);  // the others are closed
    return EmptyReply{};
}

Result<EmptyReply> HomeFileServer::op(const FsyncRequest& r) {
    auto h = TRY(open_handle(r.handle));
    TRY(sync_fd(h->fd.get(), r.datasync));
    return EmptyReply{};
}

Result<EmptyReply> HomeFileServer::op(const FallocateRequest& r) {
    auto h = TRY(open_handle(r.handle));
    TRY(allocate(h->fd.get(), r.mode, r.offset, r.length));
    return EmptyReply{};
}

}  // namespace ssi::remote
