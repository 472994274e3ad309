#include "kern-ext/proc_sampler.h"

#include <dirent.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <libproc2/misc.h>
#include <libproc2/pids.h>

#include <algorithm>
#include <cerrno>

namespace ssi {
namespace {

// The items every sample reads; kItems[i] is read as PIDS_VAL(i, ...).
enum Item : int {
    kPid, kPpid, kRuid, kEuid, kState, kTics, kBegan, kRss, kVsz, kTty, kComm, kCmdline,
    kRuser, kNice, kLocked, kSession, kNlwp, kPgrp, kTpgid, kItemCount
};
pids_item kItems[kItemCount] = {
    PIDS_ID_PID, PIDS_ID_PPID, PIDS_ID_RUID, PIDS_ID_EUID, PIDS_STATE, PIDS_TICS_ALL,
    PIDS_TICS_BEGAN, PIDS_VM_RSS, PIDS_VM_SIZE, PIDS_TTY_NAME, PIDS_CMD, PIDS_CMDLINE,
    PIDS_ID_RUSER, PIDS_NICE, PIDS_VM_RSS_LOCKED, PIDS_ID_SESSION, PIDS_NLWP, PIDS_ID_PGRP,
    PIDS_ID_TPGID,
};

// libproc2 allows at most this many pids per procps_pids_select call.
constexpr size_t kSelectMax = 255;

int64_t clock_ms(clockid_t clock) {
    timespec ts{};
    ::clock_gettime(clock, &ts);
    return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

// The clocks of one sample: start times in /proc are ticks since boot (CLOCK_BOOTTIME).
struct Clocks {
    int64_t boot_epoch_ms;  // wall-clock time of boot
    int64_t uptime_ms;
    long hertz;
};

Clocks read_clocks(long hertz) {
    int64_t uptime = clock_ms(CLOCK_BOOTTIME);
    return Clocks{clock_ms(CLOCK_REALTIME) - uptime, uptime, hertz};
}

const char* str_or(const char* s, const char* fallback) { return s ? s : fallback; }

// ps's STAT column: the state letter, then < N L s l + (procps ps/output.c pr_stat).
std::string stat_text(char state, int nice, unsigned long locked, int session, int pid, int nlwp,
                      int pgrp, int tpgid) {
    std::string s(1, state ? state : '?');
    if (nice < 0) s += '<';
    if (nice > 0) s += 'N';
    if (locked) s += 'L';
    if (session == pid) s += 's';
    if (nlwp > 1) s += 'l';
    if (pgrp == tpgid) s += '+';
    return s;
}

ProcessSample to_sample(pids_stack* st, const Clocks& c) {
#define V(item, type) PIDS_VAL(item, type, st, nullptr)
    ProcessSample s;
    s.pid = V(kPid, s_int);
    s.ppid = V(kPpid, s_int);
    s.uid = V(kRuid, u_int);
    s.euid = V(kEuid, u_int);
    s.state = stat_text(V(kState, s_ch), V(kNice, s_int), V(kLocked, ul_int), V(kSession, s_int),
                        s.pid, V(kNlwp, s_int), V(kPgrp, s_int), V(kTpgid, s_int));
    s.cpu_ms = V(kTics, ull_int) * 1000 / uint64_t(c.hertz);
    int64_t began_ms = int64_t(V(kBegan, ull_int) * 1000 / uint64_t(c.hertz));
    s.start_time = (c.boot_epoch_ms + began_ms) / 1000;
    int64_t elapsed_ms = c.uptime_ms - began_ms;
    if (elapsed_ms > 0) s.pcpu_x10 = uint32_t(std::min<uint64_t>(s.cpu_ms * 1000 / uint64_t(elapsed_ms), UINT32_MAX));
    s.rss_kb = V(kRss, ul_int);
    s.vsz_kb = V(kVsz, ul_int);
    s.tty = str_or(V(kTty, str), "?");
    s.comm = str_or(V(kComm, str), "");
    s.cmdline = str_or(V(kCmdline, str), "");
    if (s.cmdline.empty() || s.cmdline == "-") s.cmdline = "[" + s.comm + "]";
    s.user = str_or(V(kRuser, str), "");
    if (s.user.empty()) s.user = std::to_string(s.uid);
#undef V
    return s;
}

void append_fetch(pids_fetch* fetch, const Clocks& c, std::vector<ProcessSample>& out) {
    int n = fetch->counts->total;
    out.reserve(out.size() + size_t(n));
    for (int i = 0; i < n; ++i) out.push_back(to_sample(fetch->stacks[i], c));
}

}  // namespace

void ProcessSampler::InfoDeleter::operator()(pids_info* info) const { procps_pids_unref(&info); }

ProcessSampler::ProcessSampler(std::unique_ptr<pids_info, InfoDeleter> info, UniqueFd proc_dir, long hertz)
    : info_(std::move(info)), proc_dir_(std::move(proc_dir)), hertz_(hertz) {}
ProcessSampler::ProcessSampler(ProcessSampler&&) noexcept = default;
ProcessSampler& ProcessSampler::operator=(ProcessSampler&&) noexcept = default;
ProcessSampler::~ProcessSampler() = default;

Result<ProcessSampler> ProcessSampler::create() {
    pids_info* raw = nullptr;
    if (int rc = procps_pids_new(&raw, kItems, kItemCount); rc < 0)
        return make_error("procps_pids_new", "/proc", -rc);
    std::unique_ptr<pids_info, InfoDeleter> info(raw);
    int fd = ::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return sys_error("open", "/proc");
    long hertz = procps_hertz_get();
    if (hertz <= 0) hertz = 100;
    return ProcessSampler(std::move(info), UniqueFd(fd), hertz);
}

Result<std::vector<ProcessSample>> ProcessSampler::sample_all() {
    Clocks clocks = read_clocks(hertz_);
    pids_fetch* fetch = procps_pids_reap(info_.get(), PIDS_FETCH_TASKS_ONLY);
    if (!fetch) return sys_error("procps_pids_reap", "/proc");
    std::vector<ProcessSample> out;
    append_fetch(fetch, clocks, out);
    return out;
}

Result<std::vector<ProcessSample>> ProcessSampler::sample(std::span<const pid_t> pids) {
    Clocks clocks = read_clocks(hertz_);
    std::vector<ProcessSample> out;
    unsigned chunk[kSelectMax];
    while (!pids.empty()) {
        size_t n = std::min(pids.size(), kSelectMax);
        std::copy_n(pids.begin(), n, chunk);
        pids = pids.subspan(n);
        errno = 0;
        pids_fetch* fetch = procps_pids_select(info_.get(), chunk, int(n), PIDS_SELECT_PID);
        if (!fetch) return sys_error("procps_pids_select", std::to_string(n) + " pids");
        append_fetch(fetch, clocks, out);
    }
    return out;
}

Result<std::vector<pid_t>> ProcessSampler::list_pids() {
    if (::lseek(proc_dir_.get(), 0, SEEK_SET) < 0) return sys_error("lseek", "/proc");
    std::vector<pid_t> out;
    out.reserve(last_pid_count_ + 64);
    alignas(dirent64) char buf[32768];
    for (;;) {
        ssize_t n = ::getdents64(proc_dir_.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return sys_error("getdents64", "/proc");
        }
        if (n == 0) break;
        for (ssize_t off = 0; off < n;) {
            auto* d = reinterpret_cast<const dirent64*>(buf + off);
            off += d->d_reclen;
            const char* p = d->d_name;
            if (*p < '1' || *p > '9') continue;
            pid_t pid = 0;
            while (*p >= '0' && *p <= '9') pid = pid * 10 + (*p++ - '0');
            if (*p == '\0') out.push_back(pid);
        }
    }
    last_pid_count_ = out.size();
    return out;
}

}  // namespace ssi
