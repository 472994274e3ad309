// HomeFs: the mount and its threads; HomeFsOps' set-up and the replies they share.
#include "ssi-remote/home_fs_ops.h"

#include "ssi-remote/standby_threads.h"
#include "ssi-remote/start_names.h"

#include "kern-ext/file_ops.h"
#include "kern-ext/files.h"
#include "kern-ext/run_holding_only.h"

#include <fcntl.h>

#include <cerrno>
#include <cstdio>
#include <thread>

namespace ssi::remote {

struct stat HomeFsOps::to_stat(const Attr& a) {
    struct stat st {};
    st.st_ino = a.ino;
    st.st_mode = a.mode;
    st.st_nlink = a.nlink;
    st.st_uid = a.uid;
    st.st_gid = a.gid;
    st.st_rdev = a.rdev;
    st.st_size = a.size;
    st.st_blksize = a.blksize;
    st.st_blocks = a.blocks;
    st.st_atim = {a.atime_sec, a.atime_nsec};
    st.st_mtim = {a.mtime_sec, a.mtime_nsec};
    st.st_ctim = {a.ctime_sec, a.ctime_nsec};
    return st;
}

HomeFs::Stamp HomeFsOps::stamp_of(const Attr& a) {
    return HomeFs::Stamp{a.ino, a.size, a.mtime_sec, a.mtime_nsec, a.ctime_sec, a.ctime_nsec, a.dev};
}

void HomeFsOps::reply_entry(fuse_req_t req, const EntryReply& e) {
    HomeFs& self = fs(req);
    fuse_entry_param p {};
    p.ino = e.node;
    p.generation = 0;  // home never reuses a node id
    p.attr = to_stat(e.attr);
    p.attr_timeout = self.options_.attr_timeout;
    p.entry_timeout = self.options_.entry_timeout;
    fuse_reply_entry(req, &p);
}

void HomeFsOps::reply_entry_result(fuse_req_t req, Result<EntryReply> r) {
    if (!r) return reply_error(req, r.error());
    reply_entry(req, *r);
}

void HomeFsOps::reply_empty(fuse_req_t req, const Result<EmptyReply>& r) {
    fuse_reply_err(req, r ? 0 : (r.error().err != 0 ? r.error().err : EIO));
}

void HomeFsOps::init(void*, fuse_conn_info* conn) {
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;  // write-through: writes are at home on return
    conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;  // the page cache is checked at open instead
    // Listings come with their entries looked up: every page of a listing, not only
    // its first (READDIRPLUS_AUTO would make the rest plain READDIRs, whose names then
    // cost a LOOKUP each at their first use — a round trip per file of `cat dir/*`).
    if (conn->capable & FUSE_CAP_READDIRPLUS) {
        conn->want |= FUSE_CAP_READDIRPLUS;
        conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
    }
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
    if (conn->capable & FUSE_CAP_SPLICE_WRITE) conn->want |= FUSE_CAP_SPLICE_WRITE;  // reads of copies
    // Not FUSE_CAP_CACHE_SYMLINKS: through a cached name the kernel would follow a link
    // replaced at home without a READLINK, the request where home checks the name.
    // Big requests: one round trip moves up to kMaxIo (libfuse derives the kernel's
    // max_pages from max_write), and readahead keeps sequential reads streaming.
    conn->max_write = kMaxIo;
    conn->max_readahead = kMaxIo;
}

void HomeFsOps::note_undecodable(HomeFs& self, const Error& e) {
    std::lock_guard lock(self.undecodable_mu_);
    if (self.undecodable_.empty()) self.undecodable_ = e.message();
}

std::string HomeFs::undecodable_reply() {
    std::lock_guard lock(undecodable_mu_);
    return undecodable_;
}

void HomeFsOps::wait_served(HomeFs& self) { self.served_.wait(false); }

namespace {

// A request, once its mount is served (HomeFs::start_loop): the loop reads before the run.
template <auto Op>
struct Served;
template <class... Args, void (*Op)(fuse_req_t, Args...)>
struct Served<Op> {
    static void call(fuse_req_t req, Args... args) {
        HomeFsOps::wait_served(HomeFsOps::fs(req));
        Op(req, args...);
    }
};

}  // namespace

fuse_lowlevel_ops HomeFsOps::table() {
    fuse_lowlevel_ops o {};
    o.init = init;
    // Names the root mounts over are answered before the run (home_fs_mounted_over.cpp).
    o.lookup = lookup_entry;
    o.forget = forget_entry;
    o.forget_multi = forget_multi_entry;
    o.getattr = getattr_entry;
    o.setattr = Served<setattr>::call;
    o.readlink = Served<readlink>::call;
    o.mknod = Served<mknod>::call;
    o.mkdir = Served<mkdir>::call;
    o.unlink = Served<unlink>::call;
    o.rmdir = Served<rmdir>::call;
    o.symlink = Served<symlink>::call;
    o.rename = Served<rename>::call;
    o.link = Served<link>::call;
    o.open = Served<open>::call;
    o.read = Served<read>::call;
    o.write = Served<write>::call;
    o.flush = Served<flush>::call;
    o.release = Served<release>::call;
    o.fsync = Served<fsync>::call;
    o.opendir = Served<opendir>::call;
    o.readdir = Served<readdir>::call;
    o.readdirplus = Served<readdirplus>::call;
    o.releasedir = Served<releasedir>::call;
    o.fsyncdir = Served<fsyncdir>::call;
    o.statfs = statfs;  // the readahead probe's is answered before the run; others wait
    o.access = Served<access>::call;
    o.create = Served<create>::call;
    o.getlk = Served<getlk>::call;
    o.setlk = Served<setlk>::call;
    o.flock = Served<flock>::call;
    o.fallocate = Served<fallocate>::call;
    return o;
}

Result<std::unique_ptr<HomeFs>> HomeFs::mount(const std::string& mountpoint, Transport transport,
                                              HomeFsOptions options) {
    auto self = TRY(mount_unserved(mountpoint, options.debug, options.mounted_over));
    self->serve(std::move(transport), std::move(options));
    return self;
}

Result<std::unique_ptr<HomeFs>> HomeFs::mount_unserved(const std::string& mountpoint, bool debug,
                                                       std::vector<std::string> mounted_over) {
    std::unique_ptr<HomeFs> self(new HomeFs());
    self->mountpoint_ = mountpoint;
    self->mounted_over_ = std::move(mounted_over);

    // No default_permissions: home decides. allow_other: the program is not the mounter.
    std::vector<std::string> argv_text = {"ssi-remote", "-o", "allow_other,fsname=ssi-home,subtype=ssi"};
    if (debug) argv_text.push_back("-d");
    std::vector<char*> argv;
    for (auto& a : argv_text) argv.push_back(a.data());
    fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
    static const fuse_lowlevel_ops ops = HomeFsOps::table();
    self->session_ = fuse_session_new(&args, &ops, sizeof(ops), self.get());
    fuse_opt_free_args(&args);
    if (self->session_ == nullptr) return make_error("fuse_session_new", mountpoint);
    if (fuse_session_mount(self->session_, mountpoint.c_str()) != 0) {
        fuse_session_destroy(self->session_);
        self->session_ = nullptr;
        return make_error("fuse_session_mount", mountpoint, EIO);
    }
    HomeFsOps::use_passthrough_io(*self);
    return self;
}

void HomeFs::start_loop(unsigned max_threads, unsigned readahead_kb) {
    if (loop_.joinable()) return;
    loop_ = start_thread([s = this, max_threads] {
        fuse_loop_config* config = fuse_loop_cfg_create();
        fuse_loop_cfg_set_max_threads(config, max_threads);
        fuse_loop_cfg_set_clone_fd(config, 0);
        fuse_session_loop_mt(s->session_, config);
        fuse_loop_cfg_destroy(config);
    });
    // Once the kernel has our init, widen its readahead: a sequential reader then keeps
    // several kMaxIo reads in flight instead of one 128 KiB read at a time. A statfs waits
    // for the init; ours is answered here (HomeFsOps::statfs), never at home, and asked
    // by a child holding no /dev/fuse (run_holding_only.h): a thread of ours whose request
    // a worker had read would hold the mount forever were we killed before the reply.
    if (readahead_kb) {
        widen_readahead_ = start_thread([s = this, readahead_kb] {
            auto root = open_at(AT_FDCWD, s->mountpoint_, O_PATH | O_DIRECTORY);
            auto device = root ? cached_device_of(root->get()) : Result<dev_t>(root.error());
            if (!device || !stat_fs_apart(root->get(), s->init_probe_tid_)) return;  // unmounted meanwhile
            if (auto widened = set_readahead_kb(*device, readahead_kb); !widened)
                std::fprintf(stderr, "ssi-remote: %s (sequential reads stay slower)\n", widened.error().message().c_str());
        });
    }
}

void HomeFs::serve(Transport transport, HomeFsOptions options) {
    transport_ = std::move(transport);
    options_ = std::move(options);
    if (options_.start_names && !options_.start_names->last().empty()) {
        priming_ = true;
        prime_ = start_thread([s = this] { HomeFsOps::prime(*s); });
    }
    release_flusher_ = start_thread([s = this] { HomeFsOps::flush_releases(*s); });
    served_ = true;
    served_.notify_all();
    start_loop(options_.max_threads, options_.readahead_kb);
}

void HomeFs::fail_unserved() {
    if (!served_.exchange(true)) served_.notify_all();
}

void HomeFs::unmount() {
    if (session_ == nullptr) return;
    stopping_ = true;
    fail_unserved();  // what waits for a run fails now
    fuse_session_exit(session_);
    fuse_session_unmount(session_);  // lazy: the loop ends when the last user lets go
    if (loop_.joinable()) loop_.join();
    {
        std::lock_guard lock(release_mu_);
        release_stop_ = true;
    }
    release_cv_.notify_one();
    if (release_flusher_.joinable()) release_flusher_.join();  // the last batch is home
    fuse_session_destroy(session_);  // fails a statfs still waiting in widen_readahead_
    session_ = nullptr;
    if (widen_readahead_.joinable()) widen_readahead_.join();
    if (prime_.joinable()) prime_.join();
    if (options_.start_names)
        if (auto saved = options_.start_names->save(); !saved)
            std::fprintf(stderr, "ssi-remote: start names not kept (%s)\n", saved.error().message().c_str());
}

size_t HomeFs::primed_names() {
    std::lock_guard lock(mu_);
    return primed_.size();
}

HomeFs::~HomeFs() { unmount(); }

}  // namespace ssi::remote
