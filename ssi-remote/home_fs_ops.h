// HomeFsOps: the fuse_lowlevel_ops callbacks of HomeFs, each building one request,
// making one round trip (a blocking lock: several) and replying to the kernel. Declared
// here, defined by what they serve: home_fs.cpp (set-up, replies), home_fs_names.cpp
// (names, primed names, attributes), home_fs_files.cpp, home_fs_directories.cpp,
// home_fs_locks.cpp.
#pragma once

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif
#include "ssi-remote/home_fs.h"

#include "ssi-remote/file_cache.h"

#include "libssi/remote/fs_protocol.h"

#include <fuse_lowlevel.h>
#include <zmq.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <sys/stat.h>

namespace ssi::remote {

// Node ids of the names the root mounts over: ours, far above any home gives (it counts
// up from kRootNode).
inline constexpr uint64_t kFirstMountedOverNode = uint64_t(1) << 62;

struct HomeFsOps {
    // ---- requests and replies ----
    static HomeFs& fs(fuse_req_t req) { return *static_cast<HomeFs*>(fuse_req_userdata(req)); }
    // Until the run's transport and options are in (HomeFs::start_loop).
    static void wait_served(HomeFs& self);
    static std::span<const char> bytes_of(const zmq::message_t& m) { return {m.data<char>(), m.size()}; }
    // One round trip. Home's errno comes back as the Error's err; a transport or decoding
    // failure becomes EIO, so no program retries on an errno home never sent.
    template <class Reply>
    static Result<Reply> call(HomeFs& self, const FsRequest& request) {
        const bool changes = may_change_attributes(request);
        if (changes) forget_read_attrs(self);
        auto r = call<Reply>(self, encode_request(request), request_name(request));
        if (changes) forget_read_attrs(self);
        return r;
    }
    // The request to the deputy and its reply, counted.
    static Result<zmq::message_t> round_trip(HomeFs& self, const std::string& request) {
        self.round_trips_++;
        return self.transport_(request);
    }
    template <class Reply>
    static Result<Reply> call(HomeFs& self, const std::string& request, const char* name) {
        auto message = round_trip(self, request);
        if (!message) return make_error(name, message.error().message(), EIO);
        auto reply = decode_reply(bytes_of(*message));
        if (!reply) {
            note_undecodable(self, reply.error());
            return make_error(name, reply.error().message(), EIO);
        }
        if (reply->err != 0) return make_error(name, {}, reply->err);
        if (auto* r = std::get_if<Reply>(&reply->body)) return std::move(*r);
        return make_error(name, "unexpected reply type", EIO);
    }
    static void note_undecodable(HomeFs& self, const Error& e);
    static void reply_error(fuse_req_t req, const Error& e) { fuse_reply_err(req, e.err != 0 ? e.err : EIO); }
    static struct stat to_stat(const Attr& a);
    static HomeFs::Stamp stamp_of(const Attr& a);
    static void reply_entry(fuse_req_t req, const EntryReply& e);
    static void reply_entry_result(fuse_req_t req, Result<EntryReply> r);
    static void reply_empty(fuse_req_t req, const Result<EmptyReply>& r);

    // ---- setup ----
    static void init(void*, fuse_conn_info* conn);
    static fuse_lowlevel_ops table();

    // ---- names ----
    static void lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
    static void forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
    static void forget_multi(fuse_req_t req, size_t count, fuse_forget_data* forgets);
    static void mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev);
    static void mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode);
    static void symlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name);
    static void link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent, const char* new_name);
    static void unlink(fuse_req_t req, fuse_ino_t parent, const char* name);
    static void rmdir(fuse_req_t req, fuse_ino_t parent, const char* name);
    static void rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent,
                       const char* new_name, unsigned int flags);
    static void readlink(fuse_req_t req, fuse_ino_t ino);

    // ---- names the root mounts over (home_fs_mounted_over.cpp) ----
    static std::optional<uint64_t> mounted_over_node(const HomeFs& self, uint64_t parent, const char* name);
    static bool is_mounted_over_node(uint64_t node) { return node >= kFirstMountedOverNode; }
    static void lookup_entry(fuse_req_t req, fuse_ino_t parent, const char* name);
    static void getattr_entry(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
    static void forget_entry(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
    static void forget_multi_entry(fuse_req_t req, size_t count, fuse_forget_data* forgets);

    // ---- primed names (start_names.h) ----
    static void prime(HomeFs& self);
    static void walk_primed(HomeFs& self, const std::vector<std::string>& paths);
    static void wait_for_prime(HomeFs& self, std::unique_lock<std::mutex>& lock);
    static std::optional<EntryReply> take_primed(HomeFs& self, uint64_t parent, const char* name);
    static std::optional<std::string> take_primed_link(HomeFs& self, uint64_t node);
    static bool take_primed_search(HomeFs& self, uint64_t node);
    static void forget_unused_primes(HomeFs& self);
    static void drop(HomeFs& self, const std::vector<std::pair<uint64_t, uint64_t>>& nodes);

    // ---- attributes ----
    static void reply_attr(fuse_req_t req, const Result<AttrReply>& r);
    static void getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
    static void setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi);
    static void access(fuse_req_t req, fuse_ino_t ino, int mask);
    static void statfs(fuse_req_t req, fuse_ino_t ino);

    // ---- attributes of files read through this node's copy (home_fs_read_attrs.cpp) ----
    static bool may_change_attributes(const FsRequest& request);
    static uint64_t read_attrs_generation(HomeFs& self);
    static void forget_read_attrs(HomeFs& self);
    static void forget_read_attrs_of(HomeFs& self, uint64_t node);
    static void keep_read_attrs(HomeFs& self, uint64_t node, const Attr& attr, uint64_t generation);
    // The attributes and the seconds left to trust them.
    static std::optional<std::pair<Attr, double>> kept_read_attrs(HomeFs& self, uint64_t node);

    // ---- files ----
    static void open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
    static uint64_t changes_of(HomeFs& self, uint64_t node);
    static void count_change(HomeFs& self, uint64_t node);
    static void end_writer(HomeFs& self, uint64_t handle);
    static void store_pages(HomeFs& self, fuse_ino_t ino, uint64_t changes_before, const std::vector<char>& bytes);
    static std::shared_ptr<CachedFile> copy_for(HomeFs& self, const OpenReply& r, int flags);
    static FileVersion version_of(const HomeFs& self, const HomeFs::Stamp& s);
    static bool has_copy_of_seen(HomeFs& self, uint64_t node);
    static void keep_whole(HomeFs& self, const OpenReply& r, const std::vector<char>& bytes);
    static HomeFs::Local local_of(HomeFs& self, uint64_t handle);
    static HomeFs::Local take_local(HomeFs& self, uint64_t handle);
    static void forget_locals_of(HomeFs& self, uint64_t node);
    // ---- passthrough (home_fs_passthrough.cpp) ----
    static void use_passthrough_io(HomeFs& self);
    static ssize_t write_reply(int fd, struct iovec* iov, int count, void* userdata);
    static bool may_pass_through(const HomeFs& self, const OpenReply& r);
    static int open_as(HomeFs& self, uint64_t node, uint64_t handle, const CachedFile* copy);
    static int backing_for(HomeFs& self, uint64_t node, const CachedFile& copy);
    static void end_open(HomeFs& self, uint64_t handle);
    static int reply_open(fuse_req_t req, const fuse_file_info* fi, int backing);
    static void create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi);
    static void read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi);
    static void write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off, fuse_file_info* fi);
    static void flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
    static bool ever_locked(HomeFs& self, uint64_t node);
    static std::vector<uint64_t> take_unflushed(HomeFs& self, uint64_t handle);
    static void release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
    // The deferred releases' thread: a batch goes when kReleaseBatch are waiting or
    // kReleaseDelay after the first; what is left goes at unmount.
    static constexpr size_t kReleaseBatch = 256;
    static constexpr auto kReleaseDelay = std::chrono::milliseconds(5);
    static void flush_releases(HomeFs& self);
    static void fsync(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi);
    static void fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length, fuse_file_info* fi);

    // ---- directories ----
    static void opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
    static bool listing_ended(HomeFs& self, uint64_t handle, off_t off);
    static void note_listing_end(HomeFs& self, uint64_t handle, off_t at);
    static void readdir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi);
    static void readdirplus(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi);
    static void releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi);
    static void fsyncdir(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi);

    // ---- locks ----
    static void getlk(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock);
    // Retries a request that found the lock taken until it is granted, the waiter is
    // interrupted by a signal (EINTR, as the kernel would), or the mount goes away.
    template <class MakeCall>
    static Result<EmptyReply> wait_for_lock(fuse_req_t req, bool wait, MakeCall&& attempt) {
        auto delay = std::chrono::microseconds(500);
        for (;;) {
            auto r = attempt();
            bool busy = !r && (r.error().err == EAGAIN || r.error().err == EACCES);
            if (!busy || !wait) return r;
            if (fuse_req_interrupted(req) || fs(req).stopping_) return make_error("lock wait", {}, EINTR);
            std::this_thread::sleep_for(delay);
            delay = std::min(delay * 2, std::chrono::microseconds(50'000));
        }
    }
    static void setlk(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock, int sleep);
    static void flock(fuse_req_t req, fuse_ino_t, fuse_file_info* fi, int op);
};

}  // namespace ssi::remote
