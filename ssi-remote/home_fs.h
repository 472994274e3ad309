// HomeFs: the target-node half of remote execution's file system. A FUSE filesystem (libfuse3
// low-level API) whose every operation is a request to the program's home file server
// (libssi/remote/home_file_server.h), sent through a transport and answered before the
// kernel is. The program, chrooted into the mount, sees its home node's files.
//
// Consistency, in the order the issue asks for it:
//  - writes are write-through: each write is at home before write(2) returns (no writeback
//    cache); nothing is buffered here.
//  - reads use the page cache (so mmap and exec work). At every open the file's attributes
//    at home (ino, size, mtime, ctime) are compared with those of the previous open through
//    this mount: unchanged and read-only, the cached pages are kept; otherwise they are
//    dropped and the kernel's cached attributes invalidated. So a file changed at home
//    before an open is never read stale (close-to-open consistency, as NFS gives).
//  - names are cached for entry_timeout (1 s), but every request made through a cached
//    name is checked at home first (ESTALE makes the kernel look it up again), so a file
//    replaced or removed at home is seen at the next open; attributes are cached for
//    attr_timeout (1 s) between opens, as stat(2) results.
//  - permissions are decided at home (no default_permissions); allow_other lets the
//    program's user in while the supervisor that mounts is root.
//  - fcntl and flock locks are held at home, so they exclude processes at home too. A
//    blocking lock request is retried here, never waited for at home.
#pragma once

#include "kern-ext/result.h"
#include "libssi/remote/fs_protocol.h"

#include <zmq.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

struct fuse_session;

namespace ssi::remote {

class CachedFile;
class FileCache;
class StartNames;

struct HomeFsOptions {
    // Seconds the kernel trusts a name -> node lookup without asking home. Safe to cache:
    // every request made through a name checks at home that it still holds (ESTALE makes
    // the kernel look it up again; libssi/remote/home_names.cpp).
    double entry_timeout = 1.0;
    double attr_timeout = 1.0;   // seconds the kernel trusts attributes (stat)
    unsigned max_threads = 16;   // FUSE worker threads
    unsigned readahead_kb = 4096;  // the kernel's readahead window here; 0 keeps its 128 KiB
    bool debug = false;          // libfuse's request log on stderr
    // This node's copies of home files (file_cache.h), kept across runs; none: every READ
    // of a file not in the page cache goes home. `home` is the node the files are from,
    // `uid` the user the run is for (copies are never shared between users).
    std::shared_ptr<FileCache> cache;
    int32_t home = 0;
    uint32_t uid = 0;
    // A copy is read in the kernel (passthrough) only for a version unchanged this long at
    // its open (home_fs_passthrough.cpp says why).
    double passthrough_settled_s = 60;
    // The program's start names (start_names.h): primed at the mount, recorded for the
    // next run. None: every name costs its own LOOKUP.
    std::shared_ptr<StartNames> start_names;
    // Names in the root that the program's root mounts over (/dev, /sys, /proc): answered
    // here, never at home (home_fs_mounted_over.cpp). Taken by mount(); mount_unserved()
    // has its own.
    std::vector<std::string> mounted_over;
};

class HomeFs {
public:
    // One synchronous round trip to the home file server; called from several threads at
    // once. An Error means the request may not have reached home (the program sees EIO).
    // The reply stays in the message it came in: a READ's data goes to the kernel from there.
    using Transport = std::function<Result<zmq::message_t>(const std::string& request_bytes)>;

    // Mounts at `mountpoint` (an existing directory) and serves it on threads of its own.
    static Result<std::unique_ptr<HomeFs>> mount(const std::string& mountpoint, Transport transport,
                                                 HomeFsOptions options = {});
    // Mounts, but serves no request until serve(): whatever touches the mount meanwhile
    // waits. A spare supervisor mounts before it knows its run (the mount is a few hundred
    // microseconds to two milliseconds of a start here) and serves once it does.
    // `mounted_over`: as HomeFsOptions::mounted_over, answered even before serve().
    static Result<std::unique_ptr<HomeFs>> mount_unserved(const std::string& mountpoint, bool debug = false,
                                                          std::vector<std::string> mounted_over = {});
    // Starts reading requests before serve(): the kernel's INIT is answered and the loop's
    // threads are made now; every other request waits for serve() (or fails once unmounted
    // unserved). A spare does this while it waits: a run's first request otherwise waited
    // for the loop's start and the INIT's answer, 1.5-3 ms of a start here.
    void start_loop(unsigned max_threads = HomeFsOptions{}.max_threads,
                    unsigned readahead_kb = HomeFsOptions{}.readahead_kb);
    // Once only, on a mount_unserved one; starts the loop if start_loop() did not.
    void serve(Transport transport, HomeFsOptions options);
    ~HomeFs();
    HomeFs(const HomeFs&) = delete;
    HomeFs& operator=(const HomeFs&) = delete;

    // Detaches the mount and stops serving; waits for programs still using it to let go.
    void unmount();
    // A mount never to be served: what waits for the run fails now (EIO), and what comes
    // later at once. A request the loop has read cannot be abandoned by its caller, even
    // killed: a reaper waiting on one is let go by this, not by SIGKILL.
    void fail_unserved();

    const std::string& mountpoint() const { return mountpoint_; }
    uint64_t round_trips() const { return round_trips_.load(); }
    // Why the first reply from home that did not decode did not (its protocol version,
    // when home runs another ssi build); empty when all did. Such requests fail with EIO.
    std::string undecodable_reply();
    // READs this daemon answered from bytes it holds here (a small file's, a copy's).
    uint64_t local_reads() const { return local_reads_.load(); }
    // Opens of this node's copies are read by the kernel from the copy (FUSE passthrough):
    // true until the kernel refuses it.
    bool passes_through() const { return passthrough_.load(); }
    // Primed names (start_names.h) no request has taken yet.
    size_t primed_names();
    // The kernel has looked up every primed name (HomeFsOps::walk_primed), for tests.
    bool primes_walked() const { return primes_walked_.load(); }

private:
    friend struct HomeFsOps;
    struct Stamp {
        uint64_t ino = 0;
        int64_t size = 0, mtime_sec = 0, mtime_nsec = 0, ctime_sec = 0, ctime_nsec = 0;
        uint64_t dev = 0;
        bool operator==(const Stamp&) const = default;
    };

    HomeFs() = default;

    Transport transport_ = [](const std::string&) -> Result<zmq::message_t> {
        return make_error("the home files", "unmounted before a run was served", EIO);
    };
    HomeFsOptions options_;
    // Set by serve() after transport_ and options_, which requests read only once it is.
    std::atomic<bool> served_{false};
    std::string mountpoint_;
    std::vector<std::string> mounted_over_;  // set before the loop starts, then only read
    fuse_session* session_ = nullptr;
    std::thread loop_;
    std::thread widen_readahead_;  // waits for the kernel's init, off the start-up path
    std::atomic<pid_t> init_probe_tid_{0};  // its thread, whose statfs is answered here
    std::atomic<bool> stopping_{false};
    std::atomic<uint64_t> round_trips_{0};
    std::mutex undecodable_mu_;
    std::string undecodable_;
    std::atomic<uint64_t> local_reads_{0};

    std::mutex mu_;
    std::unordered_map<uint64_t, Stamp> stamps_;  // node -> attributes at its last open
    std::set<uint64_t> locked_nodes_;             // nodes a POSIX lock was ever taken on
    // Read-only opens of nodes never locked here tell the kernel not to send FLUSH at each
    // close (FOPEN_NOFLUSH: a round trip through this daemon saved per file). A POSIX lock
    // taken through such an open later is dropped at home when it is released instead:
    // handle -> the lock owners that locked through it.
    std::unordered_map<uint64_t, std::vector<uint64_t>> unflushed_;
    // Where the READs of a file opened read-only are answered from, here: a small file's
    // bytes as read at its open (OpenReply::whole), or this node's copy of the file; or,
    // for a copy being filled, where their replies go too. Until the file is released, or
    // written through this mount.
    struct Local {
        uint64_t node = 0;
        std::shared_ptr<const std::vector<char>> bytes;
        std::shared_ptr<CachedFile> copy;
    };
    std::unordered_map<uint64_t, Local> locals_;  // handle -> what it reads from here
    // Open listings home said end at this offset (DirReply::end): handle -> offset.
    std::unordered_map<uint64_t, int64_t> listing_ends_;

    // What an open read at home (its small file's bytes, or this node's copy) stands for
    // the file here — answering its READs, or put in the page cache (store_pages) — only
    // if nothing changed the file through this mount while the open was on its way: a
    // write done then would be undone by the older bytes, in the page cache or in the
    // READs' answers (a write's forget_locals_of came before they were kept). Counted, per
    // node, after each is done at home and before the kernel acts on it: opens that drop
    // the pages (keep_cache off: another version, or for writing), truncates; and the
    // handles open for writing, whose writes come at any time. An open compares the count
    // it saw before going home under content_mu_, and again after its store, which it
    // makes without the lock (the store can wait for a page a READ holds): a change
    // counted meanwhile drops the stored pages again.
    struct Content {
        uint64_t changes = 0;  // opens that dropped the pages, truncates
        unsigned writers = 0;  // handles open for writing
    };
    std::mutex content_mu_;  // before mu_ when both are taken
    std::unordered_map<uint64_t, Content> contents_;         // node -> its changes here
    std::unordered_map<uint64_t, uint64_t> writer_handles_;  // handle -> node

    // Primed names (start_names.h), each answering one LOOKUP (or READLINK) here; what no
    // request took by primed_until_ is forgotten at home. A LOOKUP while the prime is on
    // its way waits for it (priming_): it would wait as long for a link to ask home.
    std::multimap<std::pair<uint64_t, std::string>, EntryReply> primed_;
    bool priming_ = false;
    std::condition_variable primed_cv_;
    std::multimap<uint64_t, std::string> primed_links_;
    std::set<uint64_t> primed_searchable_;  // directories whose X_OK ACCESS is answered here, once
    std::chrono::steady_clock::time_point primed_until_;
    std::thread prime_;
    std::atomic<bool> primes_walked_{false};

    // FUSE passthrough (home_fs_passthrough.cpp): a read-only open of a file whose whole
    // copy this node has reads that copy in the kernel — no READ through here, and the
    // copy's page cache, warm from the last run. The kernel lets an inode be open one way
    // at a time (through the page cache, or through one backing file), so the opens of
    // each node are counted both ways; an open goes through the page cache whenever
    // passthrough cannot be had.
    std::atomic<bool> passthrough_{true};  // until the kernel refuses a backing file
    // Attributes of files opened through a backing file, which the kernel asks again after
    // each read of it (home_fs_read_attrs.cpp): node -> what its open said, and until when.
    using Clock = std::chrono::steady_clock;
    struct ReadAttrs {
        Attr attr;
        Clock::time_point until;
    };
    std::mutex read_attrs_mu_;
    uint64_t read_attrs_generation_ = 0;  // counts what may have changed a file here
    std::unordered_map<uint64_t, ReadAttrs> read_attrs_;
    std::atomic<bool> init_replied_{false};
    std::mutex open_mu_;
    struct Backing {
        int id = 0;
        std::string version;  // FileVersion::name() of the copy
        unsigned opens = 0;
    };
    std::unordered_map<uint64_t, std::vector<Backing>> backings_;  // node -> its backing files
    std::unordered_map<uint64_t, unsigned> cached_opens_;          // node -> opens through the page cache
    struct OpenHandle {
        uint64_t node = 0;
        int backing = 0;  // 0: through the page cache
    };
    std::unordered_map<uint64_t, OpenHandle> open_handles_;  // handle -> how it is open

    // Releases of read-only files that hold no lock: nothing at home waits for those
    // closes (no lock to drop, no writer to end), so they go home together, a moment
    // later, in one ReleaseRequest — `cat dir/*` pays one round trip per file, not two.
    std::mutex release_mu_;
    std::condition_variable release_cv_;
    std::vector<uint64_t> deferred_releases_;
    bool release_stop_ = false;
    std::thread release_flusher_;
};

}  // namespace ssi::remote
