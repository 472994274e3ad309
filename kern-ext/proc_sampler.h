// ProcessSampler: this machine's processes as `ps ax` sees them, read from /proc through
// libproc2 (the library procps' own ps uses), plus a cheap PID listing for the agent's
// 200 ms "what appeared, what vanished" scan.
//
// One sampler belongs to one thread: libproc2's pids_info is not thread-safe.
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

struct pids_info;

namespace ssi {

// One process, with the fields `ps` shows. Times are the kernel's, converted once here.
struct ProcessSample {
    pid_t pid = 0;
    pid_t ppid = 0;
    uid_t uid = 0;           // real uid
    uid_t euid = 0;          // effective uid
    std::string state;       // ps STAT: state letter then flags < N L s l + (as ps prints them)
    uint64_t cpu_ms = 0;     // utime + stime
    int64_t start_time = 0;  // seconds since the epoch
    uint32_t pcpu_x10 = 0;   // %CPU * 10 as ps computes it: cpu time / time since start
    uint64_t rss_kb = 0;
    uint64_t vsz_kb = 0;
    std::string tty;         // "pts/3", "tty1", or "?" when none
    std::string comm;        // executable name (ps -o comm)
    std::string cmdline;     // args joined by spaces; "[comm]" when empty, like ps
    std::string user;        // real user's name, or the uid as text when it has none
};

class ProcessSampler {
public:
    static Result<ProcessSampler> create();
    ProcessSampler(ProcessSampler&&) noexcept;
    ProcessSampler& operator=(ProcessSampler&&) noexcept;
    ~ProcessSampler();

    // Every process in this /proc (threads excluded), like `ps ax`.
    Result<std::vector<ProcessSample>> sample_all();
    // Only these pids; ones that no longer exist are skipped, not errors.
    Result<std::vector<ProcessSample>> sample(std::span<const pid_t> pids);
    // The numeric entries of /proc, unsorted: one getdents64 loop over a kept-open fd.
    Result<std::vector<pid_t>> list_pids();

private:
    struct InfoDeleter {
        void operator()(pids_info* info) const;
    };
    ProcessSampler(std::unique_ptr<pids_info, InfoDeleter> info, UniqueFd proc_dir, long hertz);

    std::unique_ptr<pids_info, InfoDeleter> info_;
    UniqueFd proc_dir_;
    long hertz_ = 100;
    size_t last_pid_count_ = 0;
};

}  // namespace ssi
