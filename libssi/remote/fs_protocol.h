// The file protocol of remote execution: what the FUSE filesystem on a target node asks
// the home file server (in the program's deputy, at home), and what it answers. One struct
// per operation; fs_protocol.cpp is the one place that turns them into bytes and back.
//
// Objects are named by ids the home side chooses: a *node* id for each inode the target's
// kernel knows (the FUSE nodeid; kRootNode is the root), a *handle* id for each open file
// or directory. Failures travel as errno. Adding a field: append it, bump kFsProtocolVersion.
//
// Wire form: request  [version, op type, body]
//            reply    [version, reply type, errno, body]   (body is nil when errno != 0)
#pragma once

#include "kern-ext/result.h"

#include <msgpack.hpp>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace ssi::remote {

inline constexpr uint32_t kFsProtocolVersion = 10;
inline constexpr uint64_t kRootNode = 1;  // == FUSE_ROOT_ID
// Biggest read or write one request carries; bigger messages are refused before decoding.
inline constexpr uint32_t kMaxIo = 1u << 20;
inline constexpr size_t kMaxFsMessageBytes = kMaxIo + 4096;
// A regular file opened read-only comes whole with its OpenReply (no READ round trip) when
// it is at most kOpenWholeBytes, and up to kOpenWholeMaxBytes unless it is a settled
// program or library: one with an execute bit, unchanged for kYoungFileNs. Those are loaded
// again at every run, and are left to the target's copy (ssi-remote/file_cache.h): its later
// opens find it, 0.2-0.3 ms, where 35 KB sent whole (a program's binary) took 0.7-1.5 ms,
// copied into fresh pages at both ends; only the first open pays a READ and the copy's
// making. A data file is often read once, and making copies of all of them cost a first
// read of 200 files of 32 KiB 40-130 % more. A young file gets no copy (only versions over
// a second old are copied), so it comes whole. A settled one over kOpenWholeBytes that came
// whole becomes the target's copy from those bytes, and its next open asks for no bytes
// (OpenRequest::has_copy).
inline constexpr uint32_t kOpenWholeBytes = 16 * 1024;
inline constexpr uint32_t kOpenWholeMaxBytes = 64 * 1024;
inline constexpr int64_t kYoungFileNs = 2'000'000'000;

using Bytes = std::vector<char>;  // packed as MessagePack bin

// struct stat as the target should see it.
struct Attr {
    uint64_t ino = 0;
    uint32_t mode = 0;
    uint64_t nlink = 0;
    uint32_t uid = 0, gid = 0;
    uint64_t rdev = 0;
    int64_t size = 0;
    int64_t blksize = 0, blocks = 0;
    int64_t atime_sec = 0, atime_nsec = 0;
    int64_t mtime_sec = 0, mtime_nsec = 0;
    int64_t ctime_sec = 0, ctime_nsec = 0;
    uint64_t dev = 0;  // the file's real device: with the rest, the version a node's copy names
    MSGPACK_DEFINE_ARRAY(ino, mode, nlink, uid, gid, rdev, size, blksize, blocks, atime_sec,
                         atime_nsec, mtime_sec, mtime_nsec, ctime_sec, ctime_nsec, dev)
};

// A byte-range lock as fcntl(2) describes it (type F_RDLCK/F_WRLCK/F_UNLCK; len 0 = to EOF).
struct Lock {
    int32_t type = 0;
    int64_t start = 0;
    int64_t len = 0;
    int32_t pid = 0;
    MSGPACK_DEFINE_ARRAY(type, start, len, pid)
};

// ---- requests --------------------------------------------------------------------------

struct LookupRequest { uint64_t parent = 0; std::string name; MSGPACK_DEFINE_ARRAY(parent, name) };
// The target's kernel dropped `count` lookups of each node.
struct ForgetRequest { std::vector<std::pair<uint64_t, uint64_t>> nodes; MSGPACK_DEFINE_ARRAY(nodes) };
struct GetattrRequest { uint64_t node = 0; uint64_t handle = 0; MSGPACK_DEFINE_ARRAY(node, handle) };

enum SetattrField : uint32_t {
    kSetMode = 1, kSetUid = 2, kSetGid = 4, kSetSize = 8,
    kSetAtime = 16, kSetMtime = 32, kSetAtimeNow = 64, kSetMtimeNow = 128,
};
struct SetattrRequest {
    uint64_t node = 0;
    uint64_t handle = 0;  // 0: by node
    uint32_t fields = 0;  // SetattrField bits
    uint32_t mode = 0, uid = 0, gid = 0;
    int64_t size = 0;
    int64_t atime_sec = 0, atime_nsec = 0, mtime_sec = 0, mtime_nsec = 0;
    MSGPACK_DEFINE_ARRAY(node, handle, fields, mode, uid, gid, size, atime_sec, atime_nsec,
                         mtime_sec, mtime_nsec)
};
struct ReadlinkRequest { uint64_t node = 0; MSGPACK_DEFINE_ARRAY(node) };
struct MknodRequest { uint64_t parent = 0; std::string name; uint32_t mode = 0; uint64_t rdev = 0; MSGPACK_DEFINE_ARRAY(parent, name, mode, rdev) };
struct MkdirRequest { uint64_t parent = 0; std::string name; uint32_t mode = 0; MSGPACK_DEFINE_ARRAY(parent, name, mode) };
struct UnlinkRequest { uint64_t parent = 0; std::string name; MSGPACK_DEFINE_ARRAY(parent, name) };
struct RmdirRequest { uint64_t parent = 0; std::string name; MSGPACK_DEFINE_ARRAY(parent, name) };
struct SymlinkRequest { std::string target; uint64_t parent = 0; std::string name; MSGPACK_DEFINE_ARRAY(target, parent, name) };
struct RenameRequest {
    uint64_t parent = 0; std::string name; uint64_t new_parent = 0; std::string new_name;
    uint32_t flags = 0;  // RENAME_NOREPLACE, RENAME_EXCHANGE
    MSGPACK_DEFINE_ARRAY(parent, name, new_parent, new_name, flags)
};
struct LinkRequest { uint64_t node = 0; uint64_t new_parent = 0; std::string new_name; MSGPACK_DEFINE_ARRAY(node, new_parent, new_name) };
// `has_copy`: the target holds a copy of the version its last look at the node saw
// (ssi-remote/file_cache.h), so a small file need not come whole.
struct OpenRequest {
    uint64_t node = 0;
    int32_t flags = 0;
    bool has_copy = false;
    MSGPACK_DEFINE_ARRAY(node, flags, has_copy)
};
struct CreateRequest { uint64_t parent = 0; std::string name; uint32_t mode = 0; int32_t flags = 0; MSGPACK_DEFINE_ARRAY(parent, name, mode, flags) };
struct ReadRequest { uint64_t handle = 0; int64_t offset = 0; uint32_t size = 0; MSGPACK_DEFINE_ARRAY(handle, offset, size) };
struct WriteRequest { uint64_t handle = 0; int64_t offset = 0; Bytes data; MSGPACK_DEFINE_ARRAY(handle, offset, data) };
// A close(2) of one of the target's descriptors: drops the POSIX locks of `owner` on node.
struct FlushRequest { uint64_t node = 0; uint64_t handle = 0; uint64_t owner = 0; MSGPACK_DEFINE_ARRAY(node, handle, owner) };
// Open files closed for good on the target: several at once when the target batched the
// releases of read-only files that hold no lock (ssi-remote/home_fs.cpp).
struct ReleaseRequest { std::vector<uint64_t> handles; MSGPACK_DEFINE_ARRAY(handles) };
struct FsyncRequest { uint64_t handle = 0; bool datasync = false; MSGPACK_DEFINE_ARRAY(handle, datasync) };
struct OpendirRequest { uint64_t node = 0; MSGPACK_DEFINE_ARRAY(node) };
struct ReaddirRequest { uint64_t handle = 0; int64_t offset = 0; uint32_t max_bytes = 0; MSGPACK_DEFINE_ARRAY(handle, offset, max_bytes) };
struct ReleasedirRequest { uint64_t handle = 0; MSGPACK_DEFINE_ARRAY(handle) };
struct StatfsRequest { uint64_t node = 0; MSGPACK_DEFINE_ARRAY(node) };
struct AccessRequest { uint64_t node = 0; int32_t mask = 0; MSGPACK_DEFINE_ARRAY(node, mask) };
// POSIX locks of one lock owner (a process on the target). Never waits at home: the
// target retries a blocking request itself, so a waiting lock never ties up the deputy.
struct GetlkRequest { uint64_t node = 0; uint64_t handle = 0; uint64_t owner = 0; Lock lock; MSGPACK_DEFINE_ARRAY(node, handle, owner, lock) };
struct SetlkRequest { uint64_t node = 0; uint64_t handle = 0; uint64_t owner = 0; Lock lock; MSGPACK_DEFINE_ARRAY(node, handle, owner, lock) };
// flock(2) on the open file `handle`; op is LOCK_SH/LOCK_EX/LOCK_UN, LOCK_NB is implied.
struct FlockRequest { uint64_t handle = 0; int32_t op = 0; MSGPACK_DEFINE_ARRAY(handle, op) };
struct FallocateRequest { uint64_t handle = 0; int32_t mode = 0; int64_t offset = 0; int64_t length = 0; MSGPACK_DEFINE_ARRAY(handle, mode, offset, length) };

// As ReaddirRequest, each entry with its node looked up at home (one lookup counted, which
// the target's kernel forgets as for a LookupRequest): a listing followed by opens or
// stats (`cat dir/*`, `ls -l`) then costs no round trip per name. Node 0: not looked up
// ("." and "..", a name gone meanwhile, or past kMaxPlusNodes of one directory handle).
struct ReaddirplusRequest { uint64_t handle = 0; int64_t offset = 0; uint32_t max_bytes = 0; MSGPACK_DEFINE_ARRAY(handle, offset, max_bytes) };
inline constexpr uint32_t kMaxPlusNodes = 4096;

// The names a program's start looked up when it last ran on the target, looked up again
// in one round trip before it asks (ssi-remote/start_names.h). Paths are relative to the
// root, each after its parent's; `true` asks for a symlink's target too.
struct PrimeRequest { std::vector<std::pair<std::string, bool>> names; MSGPACK_DEFINE_ARRAY(names) };
// At most this many names are looked up for one PrimeRequest.
inline constexpr size_t kMaxPrimedNames = 512;

// Every request, by its wire type number (variant index + 1; never reorder, only append).
using FsRequest = std::variant<LookupRequest, ForgetRequest, GetattrRequest, SetattrRequest,
                               ReadlinkRequest, MknodRequest, MkdirRequest, UnlinkRequest,
                               RmdirRequest, SymlinkRequest, RenameRequest, LinkRequest,
                               OpenRequest, CreateRequest, ReadRequest, WriteRequest,
                               FlushRequest, ReleaseRequest, FsyncRequest, OpendirRequest,
                               ReaddirRequest, ReleasedirRequest, StatfsRequest, AccessRequest,
                               GetlkRequest, SetlkRequest, FlockRequest, FallocateRequest,
                               ReaddirplusRequest, PrimeRequest>;

// ---- replies ---------------------------------------------------------------------------

struct EmptyReply { MSGPACK_DEFINE_ARRAY() };
struct EntryReply { uint64_t node = 0; Attr attr; MSGPACK_DEFINE_ARRAY(node, attr) };
struct AttrReply { Attr attr; MSGPACK_DEFINE_ARRAY(attr) };
struct ReadlinkReply { std::string target; MSGPACK_DEFINE_ARRAY(target) };
// Opened: the handle, and the file's attributes as of the open (what the target checks its
// page cache against).
// `whole`: the file's bytes, read at the open, when it is a small regular file opened
// read-only and small enough (kOpenWholeBytes); otherwise empty and `has_whole` false. `dev` (the file's
// real device) and home's clock at the open name the version a node's copy may be kept
// of (ssi-remote/file_cache.h).
struct OpenReply {
    uint64_t handle = 0;
    Attr attr;
    bool has_whole = false;
    Bytes whole;
    uint64_t dev = 0;
    int64_t opened_at_ns = 0;  // CLOCK_REALTIME, as ctime
    MSGPACK_DEFINE_ARRAY(handle, attr, has_whole, whole, dev, opened_at_ns)
};
struct CreateReply { EntryReply entry; uint64_t handle = 0; MSGPACK_DEFINE_ARRAY(entry, handle) };
struct DataReply { Bytes data; MSGPACK_DEFINE_ARRAY(data) };
struct WriteReply { uint32_t size = 0; MSGPACK_DEFINE_ARRAY(size) };
struct DirEntryWire { uint64_t ino = 0; uint32_t type = 0; int64_t next = 0; std::string name; MSGPACK_DEFINE_ARRAY(ino, type, next, name) };
// `end`: the listing has nothing after these entries (as of this reply), so the kernel's
// next read, from after the last of them, is answered on the target without a round trip.
struct DirReply { std::vector<DirEntryWire> entries; bool end = false; MSGPACK_DEFINE_ARRAY(entries, end) };
struct DirplusEntryWire { DirEntryWire entry; uint64_t node = 0; Attr attr; MSGPACK_DEFINE_ARRAY(entry, node, attr) };
struct DirplusReply { std::vector<DirplusEntryWire> entries; bool end = false; MSGPACK_DEFINE_ARRAY(entries, end) };
// What one entry takes in the kernel's READDIRPLUS buffer (struct fuse_direntplus: a
// 128-byte fuse_entry_out, a 24-byte fuse_dirent header, the name, 8-byte aligned).
inline constexpr size_t direntplus_size(size_t name_bytes) { return (152 + name_bytes + 7) & ~size_t(7); }
struct StatfsReply {
    uint64_t bsize = 0, frsize = 0, blocks = 0, bfree = 0, bavail = 0, files = 0, ffree = 0,
             favail = 0, fsid = 0, flag = 0, namemax = 0;
    MSGPACK_DEFINE_ARRAY(bsize, frsize, blocks, bfree, bavail, files, ffree, favail, fsid, flag, namemax)
};
struct LockReply { Lock lock; MSGPACK_DEFINE_ARRAY(lock) };

// Each name that still resolved, entered as a LOOKUP enters it (one lookup counted), with
// its link's target when asked for and it is a symlink. `searchable`: a directory the
// user may search (X_OK) at home — the program's chdir into its cwd asks that (an ACCESS).
struct PrimedName {
    uint64_t parent = 0;
    std::string name;
    EntryReply entry;
    bool has_link = false;
    std::string link;
    bool searchable = false;
    MSGPACK_DEFINE_ARRAY(parent, name, entry, has_link, link, searchable)
};
// `root_searchable`: the root itself, for a program whose cwd is "/" (no name of its own).
struct PrimeReply {
    std::vector<PrimedName> names;
    bool root_searchable = false;
    MSGPACK_DEFINE_ARRAY(names, root_searchable)
};

using FsReplyBody = std::variant<EmptyReply, EntryReply, AttrReply, ReadlinkReply, OpenReply,
                                 CreateReply, DataReply, WriteReply, DirReply, StatfsReply,
                                 LockReply, DirplusReply, PrimeReply>;

struct FsReply {
    int32_t err = 0;   // errno at home; 0 on success
    FsReplyBody body;  // meaningful only when err == 0
};

std::string encode_request(const FsRequest& request);
// encode_request(WriteRequest{handle, offset, data}), without first copying the data into
// a WriteRequest: a FUSE WRITE's megabyte is copied once, into the message.
std::string encode_write_request(uint64_t handle, int64_t offset, std::span<const char> data);
std::string encode_reply(const FsReply& reply);
inline std::string encode_error_reply(int err) { return encode_reply(FsReply{err, EmptyReply{}}); }

// Never throw: malformed, truncated, oversized, wrong-version or unknown messages come
// back as an Error saying which.
Result<FsRequest> decode_request(std::span<const char> bytes);
Result<FsReply> decode_reply(std::span<const char> bytes);

// READ's reply, built and read in place: file data is the bulk of what this protocol
// carries, and each copy of a megabyte costs as much as reading it at home did.
//
// Encodes a DataReply into `out`, whose storage is reused (a buffer kept across calls is
// neither allocated nor zero-filled again): `fill` writes at most `max` bytes into the span
// it is given and says how many; an Error from it becomes an error reply with its errno.
void encode_data_reply(std::string& out, size_t max, const std::function<Result<size_t>(std::span<char>)>& fill);
// A DataReply (or an error reply) decoded without copying its data: `data` points into
// `bytes`, which must outlive it. Accepts whatever encode_reply or encode_data_reply made.
struct DataReplyView {
    int32_t err = 0;  // errno at home; data is empty when not 0
    std::span<const char> data;
};
Result<DataReplyView> decode_data_reply(std::span<const char> bytes);

// The operation's name, for logs and errors ("LookupRequest").
const char* request_name(const FsRequest& request);

}  // namespace ssi::remote
