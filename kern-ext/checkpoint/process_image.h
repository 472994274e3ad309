// ProcessImage: everything a checkpoint saves of one single-threaded process, and all
// that restore() needs to rebuild it. x86-64 only (registers and XSAVE layout).
#pragma once

#include "kern-ext/checkpoint/buffer.h"
#include "kern-ext/checkpoint/image_memory_stream.h"
#include "kern-ext/checkpoint/page_run.h"
#include "kern-ext/checkpoint/ptrace.h"

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ssi {

// One private (or read-only shared) mapping from /proc/PID/maps.
struct MemoryMapping {
    uint64_t start = 0;
    uint64_t end = 0;
    uint32_t prot = 0;         // PROT_READ | PROT_WRITE | PROT_EXEC
    bool shared = false;       // a read-only MAP_SHARED mapping, restored as a private copy
    bool grows_down = false;   // the main [stack]
    bool huge_pages = false;   // it had transparent huge pages, or asked for them (MADV_HUGEPAGE)
    uint64_t offset = 0;       // file offset, for file mappings
    std::string path;          // file, "[heap]", "[stack]", or empty for anonymous
    // Pre-copied (docs/migration.md, "Pre-copy"): the process the image is rebuilt in
    // already holds this mapping, filled while the original still ran; the image carries
    // only `runs`, the pages written since, and `contents` only their bytes, in order.
    bool precopied = false;
    std::vector<PageRun> runs;
    Buffer contents;           // end - start bytes when readable (the runs' when pre-copied), else empty

    uint64_t size() const { return end - start; }
    // The bytes the image holds for it: all of it, the written runs, or none.
    uint64_t saved_bytes() const {
        if (!readable()) return 0;
        if (!precopied) return size();
        uint64_t n = 0;
        for (const PageRun& r : runs) n += r.size();
        return n;
    }
    // The ranges whose bytes the image holds, in the memory section's order.
    std::vector<PageRun> saved_runs() const {
        if (!readable()) return {};
        if (!precopied) return {{start, end}};
        return runs;
    }
    bool readable() const { return (prot & 1) != 0; }
};

// A mapping the kernel makes itself: [vdso], [vvar], [vvar_vclock]. Not saved: the
// restored process gets the running kernel's, moved to where the image had them.
struct KernelMapping {
    std::string name;
    uint64_t start = 0;
    uint64_t end = 0;
};

// The kernel's struct sigaction as rt_sigaction(2) passes it (not glibc's).
struct SignalAction {
    uint64_t handler = 0;
    uint64_t flags = 0;
    uint64_t restorer = 0;
    uint64_t mask = 0;
};

struct PendingSignal {
    bool shared = false;      // queued to the process, not the thread
    std::array<char, 128> info{};  // siginfo_t as the kernel gave it
};

// What prctl(PR_SET_MM_MAP) sets: the fields of /proc/PID/stat, brk and the auxv.
struct MmLayout {
    uint64_t start_code = 0, end_code = 0, start_data = 0, end_data = 0;
    uint64_t start_brk = 0, brk = 0, start_stack = 0;
    uint64_t arg_start = 0, arg_end = 0, env_start = 0, env_end = 0;
    std::string auxv;  // /proc/PID/auxv, raw
};

struct RseqRegistration {
    uint64_t area = 0;  // 0: none registered
    uint32_t size = 0;
    uint32_t signature = 0;
};

// One open file descriptor, as /proc/PID/fd and /proc/PID/fdinfo show it.
struct OpenFile {
    enum class Kind : uint8_t { regular, directory, char_device, pipe, socket, terminal, other };
    int32_t fd = -1;
    bool cloexec = false;
    bool deleted = false;  // a regular file with no name left (st_nlink 0)
    uint32_t flags = 0;    // open flags (fdinfo "flags:", as F_GETFL), without O_CLOEXEC
    int64_t pos = 0;
    Kind kind = Kind::other;
    std::string path;      // readlink of /proc/PID/fd/N ("pipe:[123]" for a pipe)
};
// "a regular file", "a pipe", ...: for messages.
const char* describe(OpenFile::Kind kind);

// struct itimerval as the kernel passes it: the time left and the reload interval.
struct IntervalTimer {
    uint64_t value_sec = 0, value_usec = 0;
    uint64_t interval_sec = 0, interval_usec = 0;
    bool armed() const { return value_sec != 0 || value_usec != 0; }
};

struct ResourceLimit {
    uint64_t soft = 0, hard = 0;  // RLIM_INFINITY is ~0
};

// Per-process attributes outside memory and signals (dump_process_attributes.cpp,
// dump_itimers.cpp).
struct ProcessAttributes {
    std::array<IntervalTimer, 3> itimers{};     // ITIMER_REAL (alarm), ITIMER_VIRTUAL, ITIMER_PROF
    std::array<ResourceLimit, 16> rlimits{};    // index = RLIMIT_* (RLIM_NLIMITS = 16)
    uint32_t umask = 022;
    uint32_t personality = 0;
    std::string cwd;                            // absolute path, as /proc/PID/cwd names it
};

struct ProcessImage {
    pid_t pid = 0;        // at checkpoint time
    std::string comm;     // the process name (prctl PR_SET_NAME)

    Registers regs{};     // prepared for resumption: an interrupted system call already set to restart or fail with EINTR
    std::string xstate;   // XSAVE area (NT_X86_XSTATE)

    uint64_t sigmask = 0;
    std::array<SignalAction, 64> actions{};  // index = signal - 1
    uint64_t altstack_sp = 0, altstack_size = 0;
    int32_t altstack_flags = 0;  // SS_DISABLE when none
    std::vector<PendingSignal> pending;

    MmLayout mm;
    RseqRegistration rseq;
    std::vector<KernelMapping> kernel_mappings;
    std::vector<MemoryMapping> mappings;  // in address order
    // Where the readable mappings' contents are when not in their buffers: in the stopped
    // process itself, read as the image is saved (CheckpointOptions::stream_memory), or
    // in the image's source, read as it is restored (load_image_streamed).
    pid_t memory_from = 0;
    std::unique_ptr<ImageMemoryStream> memory_stream;
    // The memory section's length: every mapping's saved bytes.
    uint64_t saved_memory_bytes() const {
        uint64_t total = 0;
        for (const MemoryMapping& m : mappings) total += m.saved_bytes();
        return total;
    }
    std::vector<OpenFile> files;          // in fd order

    ProcessAttributes attributes;
};

}  // namespace ssi
