#include "libssi/proc_table.h"

#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <type_traits>

namespace ssi {
namespace {

namespace bip = boost::interprocess;

constexpr uint64_t kMagic = 0x31'4C'42'54'50'49'53'53;  // "SSIPTBL1" read as little-endian bytes
constexpr uint32_t kLayoutVersion = 1;
constexpr size_t kHeaderBytes = 4096;
constexpr int kMaxReadAttempts = 1000;

// One process; every string is a length plus bytes, never trusted past its array.
struct Row {
    int64_t gpid;
    int32_t node, home, pid, ppid;
    uint32_t uid, pcpu_x10;
    uint64_t rss_kb, vsz_kb;
    int64_t start_time;
    uint64_t cpu_ms;
    uint16_t user_len, state_len, tty_len, comm_len, cmd_len, pad_[3];
    char user[64];
    char state[16];
    char tty[32];
    char comm[64];
    char cmd[1024];
};
static_assert(std::is_trivially_copyable_v<Row> && sizeof(Row) == 1280);

struct SlotHeader {
    uint64_t generation;
    int64_t published_at_ms;
    uint32_t row_count;
    uint32_t down_count;
    int32_t down[kProcTableMaxDownNodes];
};
constexpr size_t kSlotHeaderBytes = (sizeof(SlotHeader) + 63) / 64 * 64;
constexpr size_t kSlotBytes = (kSlotHeaderBytes + size_t(kProcTableCapacity) * sizeof(Row) + 4095) / 4096 * 4096;
constexpr size_t kTotalBytes = kHeaderBytes + 2 * kSlotBytes;

struct Header {
    uint64_t magic;  // written last by the writer, so a half-initialised table reads as "not a table"
    uint32_t layout_version;
    uint32_t header_bytes;
    uint32_t row_bytes;
    uint32_t capacity;
    uint64_t slot_bytes;
    uint64_t total_bytes;
    int32_t local_node;
    std::atomic<uint32_t> retired;  // set when the writer removes or replaces this object
    std::atomic<uint32_t> active;   // slot readers copy
    uint32_t pad_;
    std::atomic<uint64_t> generation;
    std::atomic<uint64_t> slot_seq[2];  // odd while the writer fills that slot
};
static_assert(sizeof(Header) <= kHeaderBytes);
static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<uint32_t>::is_always_lock_free,
              "atomics in shared memory must be lock-free");

SlotHeader* slot_header(char* base, uint32_t i) { return reinterpret_cast<SlotHeader*>(base + kHeaderBytes + i * kSlotBytes); }
Row* slot_rows(char* base, uint32_t i) { return reinterpret_cast<Row*>(base + kHeaderBytes + i * kSlotBytes + kSlotHeaderBytes); }

// Reads shared memory a concurrent writer may be changing exactly once, so a value that
// was checked is the value used.
template <class T>
T load_once(const T& x) {
    return *static_cast<const volatile T*>(&x);
}

std::string shm_path(const std::string& name) { return "/dev/shm/" + name; }

Error ipc_error(const char* call, const std::string& name, const bip::interprocess_exception& e) {
    int err = e.get_native_error();
    if (err == 0) return make_error(std::string(call) + ": " + e.what(), shm_path(name));
    return make_error(call, shm_path(name), err);
}

Result<void> check_name(const std::string& name) {
    if (name.empty() || name.size() > 200 || name.find('/') != std::string::npos)
        return make_error("invalid process table name", "'" + name + "'", EINVAL);
    return ok();
}

int64_t now_ms() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

// Copies at most N-1 bytes, cutting before a UTF-8 continuation byte rather than inside
// a character.
template <size_t N>
void put(char (&dst)[N], uint16_t& len, const std::string& src) {
    size_t n = src.size();
    if (n > N - 1) {
        n = N - 1;
        while (n > 0 && (static_cast<unsigned char>(src[n]) & 0xC0) == 0x80) --n;
    }
    std::memcpy(dst, src.data(), n);
    len = uint16_t(n);
}

template <size_t N>
void get(std::string& dst, const char (&src)[N], const uint16_t& len) {
    dst.assign(src, std::min<size_t>(load_once(len), N - 1));
}

void encode_row(Row& r, const wire::ProcessRecord& p) {
    r.gpid = p.gpid;
    r.node = p.node;
    r.home = p.home;
    r.pid = p.pid;
    r.ppid = p.ppid;
    r.uid = p.uid;
    r.pcpu_x10 = p.pcpu_x10;
    r.rss_kb = p.rss_kb;
    r.vsz_kb = p.vsz_kb;
    r.start_time = p.start_time;
    r.cpu_ms = p.cpu_ms;
    put(r.user, r.user_len, p.user);
    put(r.state, r.state_len, p.state);
    put(r.tty, r.tty_len, p.tty);
    put(r.comm, r.comm_len, p.comm);
    put(r.cmd, r.cmd_len, p.cmd);
}

void decode_row(wire::ProcessRecord& p, const Row& r) {
    p.gpid = r.gpid;
    p.node = r.node;
    p.home = r.home;
    p.pid = r.pid;
    p.ppid = r.ppid;
    p.uid = r.uid;
    p.pcpu_x10 = r.pcpu_x10;
    p.rss_kb = r.rss_kb;
    p.vsz_kb = r.vsz_kb;
    p.start_time = r.start_time;
    p.cpu_ms = r.cpu_ms;
    get(p.user, r.user, r.user_len);
    get(p.state, r.state, r.state_len);
    get(p.tty, r.tty, r.tty_len);
    get(p.comm, r.comm, r.comm_len);
    get(p.cmd, r.cmd, r.cmd_len);
}

// Marks an existing table as replaced, so long-lived readers reopen by name.
void retire_existing(const std::string& name) {
    try {
        bip::shared_memory_object old(bip::open_only, name.c_str(), bip::read_write);
        bip::offset_t size = 0;
        if (!old.get_size(size) || size_t(size) < sizeof(Header)) return;
        bip::mapped_region region(old, bip::read_write, 0, sizeof(Header));
        auto* h = static_cast<Header*>(region.get_address());
        if (h->magic == kMagic) h->retired.store(1, std::memory_order_release);
    } catch (const bip::interprocess_exception&) {
        // Nothing there, or not ours to touch: it is removed next either way.
    }
}

}  // namespace

// ---- writer ---------------------------------------------------------------------------

struct ProcTableWriter::Impl {
    std::string name;
    bip::shared_memory_object shm;
    bip::mapped_region region;
    char* base() const { return static_cast<char*>(region.get_address()); }
    Header* header() const { return reinterpret_cast<Header*>(base()); }
};

ProcTableWriter::ProcTableWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProcTableWriter::ProcTableWriter(ProcTableWriter&&) noexcept = default;
ProcTableWriter& ProcTableWriter::operator=(ProcTableWriter&&) noexcept = default;
ProcTableWriter::~ProcTableWriter() = default;

Result<ProcTableWriter> ProcTableWriter::create(const std::string& name, int32_t local_node) {
    TRY(check_name(name));
    // A fresh object (O_EXCL) rather than reusing whatever is there: nobody else can have
    // prepared it, and its mode is exactly 0644 (Boost fchmods past the umask).
    retire_existing(name);
    bip::shared_memory_object::remove(name.c_str());
    auto impl = std::make_unique<Impl>();
    impl->name = name;
    try {
        impl->shm = bip::shared_memory_object(bip::create_only, name.c_str(), bip::read_write, bip::permissions(0644));
        impl->shm.truncate(bip::offset_t(kTotalBytes));
        impl->region = bip::mapped_region(impl->shm, bip::read_write);
    } catch (const bip::interprocess_exception& e) {
        bip::shared_memory_object::remove(name.c_str());
        return ipc_error("create shared memory", name, e);
    }
    Header* h = impl->header();  // the pages are fresh zeroes: an empty table in slot 0
    h->layout_version = kLayoutVersion;
    h->header_bytes = kHeaderBytes;
    h->row_bytes = sizeof(Row);
    h->capacity = kProcTableCapacity;
    h->slot_bytes = kSlotBytes;
    h->total_bytes = kTotalBytes;
    h->local_node = local_node;
    std::atomic_thread_fence(std::memory_order_release);
    std::atomic_ref<uint64_t>(h->magic).store(kMagic, std::memory_order_release);
    return ProcTableWriter(std::move(impl));
}

Result<void> ProcTableWriter::publish(const std::vector<wire::ProcessRecord>& processes,
                                      const std::vector<int32_t>& down_nodes) {
    if (processes.size() > kProcTableCapacity)
        return make_error("publish process table", std::to_string(processes.size()) + " rows, capacity " +
                                                       std::to_string(kProcTableCapacity), EOVERFLOW);
    if (down_nodes.size() > kProcTableMaxDownNodes)
        return make_error("publish process table", std::to_string(down_nodes.size()) + " down nodes", EOVERFLOW);
    Header* h = impl_->header();
    uint32_t w = 1 - h->active.load(std::memory_order_relaxed);
    uint64_t seq = h->slot_seq[w].load(std::memory_order_relaxed);
    uint64_t generation = h->generation.load(std::memory_order_relaxed) + 1;

    h->slot_seq[w].store(seq + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    SlotHeader* sh = slot_header(impl_->base(), w);
    sh->generation = generation;
    sh->published_at_ms = now_ms();
    sh->row_count = uint32_t(processes.size());
    sh->down_count = uint32_t(down_nodes.size());
    std::copy(down_nodes.begin(), down_nodes.end(), sh->down);
    Row* rows = slot_rows(impl_->base(), w);
    for (size_t i = 0; i < processes.size(); ++i) encode_row(rows[i], processes[i]);
    h->slot_seq[w].store(seq + 2, std::memory_order_release);

    h->active.store(w, std::memory_order_release);
    h->generation.store(generation, std::memory_order_release);
    return ok();
}

void ProcTableWriter::remove() {
    if (!impl_) return;
    impl_->header()->retired.store(1, std::memory_order_release);
    bip::shared_memory_object::remove(impl_->name.c_str());
}

// ---- reader ---------------------------------------------------------------------------

struct ProcTableReader::Impl {
    std::string name;
    bip::shared_memory_object shm;
    bip::mapped_region region;
    const char* base() const { return static_cast<const char*>(region.get_address()); }
    const Header* header() const { return reinterpret_cast<const Header*>(base()); }

    static Result<std::unique_ptr<Impl>> open(const std::string& name);
    Result<ProcTableSnapshot> read_once(bool& retry) const;
};

Result<std::unique_ptr<ProcTableReader::Impl>> ProcTableReader::Impl::open(const std::string& name) {
    TRY(check_name(name));
    auto impl = std::make_unique<Impl>();
    impl->name = name;
    bip::offset_t size = 0;
    try {
        impl->shm = bip::shared_memory_object(bip::open_only, name.c_str(), bip::read_only);
        if (!impl->shm.get_size(size)) return make_error("fstat", shm_path(name), EIO);
        if (size_t(size) < sizeof(Header))
            return make_error(shm_path(name) + " is not an ssi process table (too small)");
        impl->region = bip::mapped_region(impl->shm, bip::read_only);
    } catch (const bip::interprocess_exception& e) {
        if (e.get_native_error() == ENOENT)
            return make_error("no process table at " + shm_path(name) + " (is ssi-agent running?)");
        return ipc_error("open shared memory", name, e);
    }
    const Header* h = impl->header();
    if (load_once(h->magic) != kMagic) return make_error(shm_path(name) + " is not an ssi process table (bad magic)");
    if (uint32_t v = load_once(h->layout_version); v != kLayoutVersion)
        return make_error(shm_path(name) + " has process table layout " + std::to_string(v) + ", this program reads " +
                          std::to_string(kLayoutVersion) + " (agent and tools from different builds?)");
    if (load_once(h->header_bytes) != kHeaderBytes || load_once(h->row_bytes) != sizeof(Row) ||
        load_once(h->capacity) != kProcTableCapacity || load_once(h->slot_bytes) != kSlotBytes ||
        load_once(h->total_bytes) != kTotalBytes || impl->region.get_size() < kTotalBytes)
        return make_error(shm_path(name) + " is not an ssi process table (inconsistent sizes)");
    return impl;
}

Result<ProcTableSnapshot> ProcTableReader::Impl::read_once(bool& retry) const {
    retry = true;
    const Header* h = header();
    uint32_t a = h->active.load(std::memory_order_acquire) & 1;
    uint64_t seq = h->slot_seq[a].load(std::memory_order_acquire);
    if (seq & 1) return make_error("busy");
    const auto* sh = slot_header(const_cast<char*>(base()), a);
    const Row* rows = slot_rows(const_cast<char*>(base()), a);
    ProcTableSnapshot snap;
    snap.local_node = load_once(h->local_node);
    snap.generation = load_once(sh->generation);
    snap.published_at_ms = load_once(sh->published_at_ms);
    uint32_t nrows = load_once(sh->row_count);
    uint32_t ndown = load_once(sh->down_count);
    bool sane = nrows <= kProcTableCapacity && ndown <= kProcTableMaxDownNodes;
    if (sane) {
        snap.down_nodes.assign(sh->down, sh->down + ndown);
        snap.processes.resize(nrows);
        for (uint32_t i = 0; i < nrows; ++i) decode_row(snap.processes[i], rows[i]);
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (h->slot_seq[a].load(std::memory_order_relaxed) != seq) return make_error("busy");
    retry = false;
    if (!sane)
        return make_error(shm_path(name) + " is corrupt", std::to_string(nrows) + " rows, " + std::to_string(ndown) +
                                                               " down nodes", EIO);
    return snap;
}

ProcTableReader::ProcTableReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProcTableReader::ProcTableReader(ProcTableReader&&) noexcept = default;
ProcTableReader& ProcTableReader::operator=(ProcTableReader&&) noexcept = default;
ProcTableReader::~ProcTableReader() = default;

Result<ProcTableReader> ProcTableReader::open(const std::string& name) {
    return ProcTableReader(TRY(Impl::open(name)));
}

Result<ProcTableSnapshot> ProcTableReader::read() const {
    if (impl_->header()->retired.load(std::memory_order_acquire)) {
        // The agent restarted or stopped: follow the name to its current table, if any.
        auto fresh = Impl::open(impl_->name);
        if (!fresh) return fresh.error();
        *impl_ = std::move(**fresh);
    }
    for (int attempt = 0; attempt < kMaxReadAttempts; ++attempt) {
        if (attempt >= 4) ::sched_yield();
        bool retry = false;
        auto snap = impl_->read_once(retry);
        if (!retry) return snap;
    }
    return make_error("read process table", shm_path(impl_->name) + ": it kept changing while being read", EAGAIN);
}

}  // namespace ssi
