// HomeFileServer: the home half of remote execution's file system. It runs in the program's
// deputy (ssi-run at home, with the user's uid), executes the file operations the target's
// FUSE filesystem forwards on the real filesystem under `root`, and keeps the tables that
// give those operations their objects:
//
//  - nodes: one O_PATH descriptor per inode the target's kernel has looked up, keyed by
//    (st_dev, st_ino) so hard links share a node, renames and unlinks at home never
//    invalidate it, and the inode cannot be freed and its number reused while the target
//    knows it. A node lives until the target forgets all its lookups (the root forever).
//    Each node also remembers the names the target knows it by: the target caches names,
//    and every request made through one checks first that it still holds (home_names.cpp).
//  - handles: the files and directories the target has open, as real descriptors here, so
//    reads, writes, appends, flock and unlink-while-open behave as they do at home.
//  - POSIX (fcntl) locks: one open file description per (node, lock owner), locked with
//    OFD locks, so locks of different target processes conflict with each other and with
//    any process at home; a close by the owner closes it and so drops exactly its locks.
//
// Permissions are the kernel's: every call runs with the deputy's credentials. Run the
// deputy with umask 0 — the target's kernel has already applied the program's umask.
// handle() is thread-safe and never waits on a lock held by someone else, so requests may
// be served on several threads; table updates are under one mutex, file I/O is not.
#pragma once

#include "kern-ext/directory_watch.h"
#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"
#include "libssi/remote/fs_protocol.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ssi::remote {

// Whether a regular file opened read-only comes whole with its OpenReply, `now_ns` being
// the open's time on the system clock (fs_protocol.h, kOpenWholeBytes).
bool comes_whole(const struct stat& st, int64_t now_ns);

class HomeFileServer {
public:
    // `root` is "/" in production (a test's temporary directory in tests).
    static Result<std::unique_ptr<HomeFileServer>> create(const std::string& root);

    // Decodes one request, executes it and encodes the reply into `reply`; a request that
    // does not decode gets an EPROTO reply. Never throws. A `reply` kept by the caller
    // across requests is reused: a READ's data is read straight into it.
    void handle(std::string_view request_bytes, std::string& reply);
    std::string handle(std::string_view request_bytes);
    FsReply execute(const FsRequest& request);

    // For tests and diagnostics.
    size_t node_count() const;
    size_t handle_count() const;
    // fstatat calls made to check cached names: none for a name whose directory had no news.
    uint64_t name_checks() const;

    struct Node;
    struct Handle;

private:
    HomeFileServer() = default;

    Result<std::shared_ptr<Node>> node(uint64_t id) const;
    Result<std::shared_ptr<Handle>> open_handle(uint64_t id) const;
    // Enters (or finds) the node of fd's inode, counting one lookup of it as `name` in
    // directory node `parent`.
    Result<EntryReply> enter(UniqueFd path_fd, uint64_t parent, std::string_view name);
    // The names the target caches (home_names.cpp): recorded at each lookup, checked before
    // a request acts through them (ESTALE when one no longer leads to its node).
    void record_name(Node& n, uint64_t parent, std::string_view name);
    void forget_name(const std::shared_ptr<Node>& n, uint64_t parent, const std::string& name);
    std::shared_ptr<Node> node_named(uint64_t parent, const std::string& name) const;
    Result<void> check_names(uint64_t id, int depth = 0);
    void take_name_news();
    bool watched(Node& dir);
    uint64_t add_handle(std::shared_ptr<Handle> h);
    std::shared_ptr<Handle> remove_handle(uint64_t id);
    Result<int> owner_fd(Node& n, const Handle* via, uint64_t owner);
    Attr attr_of(const struct stat& st) const;

    Result<EntryReply> op(const LookupRequest& r);
    Result<EmptyReply> op(const ForgetRequest& r);
    Result<AttrReply> op(const GetattrRequest& r);
    Result<AttrReply> op(const SetattrRequest& r);
    Result<ReadlinkReply> op(const ReadlinkRequest& r);
    Result<EntryReply> op(const MknodRequest& r);
    Result<EntryReply> op(const MkdirRequest& r);
    Result<EmptyReply> op(const UnlinkRequest& r);
    Result<EmptyReply> op(const RmdirRequest& r);
    Result<EntryReply> op(const SymlinkRequest& r);
    Result<EmptyReply> op(const RenameRequest& r);
    Result<EntryReply> op(const LinkRequest& r);
    Result<OpenReply> op(const OpenRequest& r);
    Result<CreateReply> op(const CreateRequest& r);
    Result<DataReply> op(const ReadRequest& r);
    Result<size_t> read_into(const ReadRequest& r, std::span<char> buffer);
    Result<WriteReply> op(const WriteRequest& r);
    Result<EmptyReply> op(const FlushRequest& r);
    Result<EmptyReply> op(const ReleaseRequest& r);
    Result<EmptyReply> op(const FsyncRequest& r);
    Result<OpenReply> op(const OpendirRequest& r);
    Result<DirReply> op(const ReaddirRequest& r);
    Result<DirplusReply> op(const ReaddirplusRequest& r);
    Result<EmptyReply> op(const ReleasedirRequest& r);
    Result<StatfsReply> op(const StatfsRequest& r);
    Result<EmptyReply> op(const AccessRequest& r);
    Result<LockReply> op(const GetlkRequest& r);
    Result<EmptyReply> op(const SetlkRequest& r);
    Result<EmptyReply> op(const FlockRequest& r);
    Result<EmptyReply> op(const FallocateRequest& r);
    Result<PrimeReply> op(const PrimeRequest& r);

    dev_t root_dev_ = 0;
    mutable std::mutex mu_;
    std::optional<DirectoryWatch> watch_;   // none: every name is checked at every use
    std::map<int, uint64_t> watched_;       // watch number -> directory node
    uint64_t name_checks_ = 0;
    std::map<uint64_t, std::shared_ptr<Node>> nodes_;
    std::map<std::pair<dev_t, ino_t>, uint64_t> node_by_inode_;
    std::map<uint64_t, std::shared_ptr<Handle>> handles_;
    uint64_t next_node_ = kRootNode + 1;
    uint64_t next_handle_ = 1;
};

}  // namespace ssi::remote
