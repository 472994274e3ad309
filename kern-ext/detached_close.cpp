#include "kern-ext/detached_close.h"

#include "kern-ext/clone3.h"

#include <linux/sched.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <mutex>

namespace ssi {

#if defined(__x86_64__)
namespace {

// The detached process shares our memory and, until it is made, runs beside our threads
// on our thread pointer: it must not write errno or take a lock, so it makes its calls
// itself. Returns -errno on failure.
inline long raw_call(long number, long a = 0, long b = 0, long c = 0, long d = 0) {
    register long r10 asm("r10") = d;
    long ret;
    asm volatile("syscall" : "=a"(ret) : "a"(number), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
    return ret;
}

// Whether the detached process holds the descriptors, as the go-between reports.
enum : int { kNotHolding = 0, kHolding = 1 };

// The detached process's stack and what it reads, in a mapping that outlives our frames
// (it may outlive us); it unmaps the mapping as it exits.
struct Handover {
    bool until_owner_ends = false;
    int owner_end = -1;       // a pidfd of the owner, in the detached process's table
    void* mapping = nullptr;
    size_t mapping_size = 0;
    struct clone_args detached_args {};
    size_t count = 0;
    int fds[];                // sorted
};

// What the go-between reads, in the owner's memory (alive while the owner waits for it).
struct GoBetween {
    Handover* handover;
    const int* fds;  // the owner's copy of the list
    size_t count;
    pid_t owner;
    int* report;
};

constexpr size_t kStackBytes = 16 << 10;

// Leaves open only h->fds in this process's own table (a copy of the owner's).
void keep_only(const Handover* h) {
    unsigned next = 0;
    for (size_t i = 0; i < h->count; ++i) {
        unsigned fd = unsigned(h->fds[i]);
        if (fd > next) raw_call(SYS_close_range, next, fd - 1, 0);
        next = fd + 1;
    }
    raw_call(SYS_close_range, next, ~0u, 0);
}

// Unmaps the mapping our stack is in, then exits, touching no stack between the two.
[[noreturn]] void unmap_and_exit(void* mapping, size_t size) {
    asm volatile(
        "syscall\n\t"
        "movl %[exit], %%eax\n\t"
        "xorl %%edi, %%edi\n\t"
        "syscall\n\t"
        "hlt"
        :
        : "a"(SYS_munmap), "D"(mapping), "S"(size), [exit] "i"(SYS_exit)
        : "rcx", "r11", "memory");
    __builtin_unreachable();
}

// The detached process: out of the owner's session (no terminal's or job's signals reach
// it; the rest are blocked), holding only the descriptors, until the owner has ended if
// asked. Its exit makes the last closes.
void detached_main(void* arg) {
    auto* h = static_cast<Handover*>(arg);
    raw_call(SYS_setsid);
    raw_call(SYS_prctl, PR_SET_NAME, reinterpret_cast<long>("ssi-closer"));
    if (h->until_owner_ends) {
        pollfd ended{h->owner_end, POLLIN, 0};
        while (raw_call(SYS_poll, reinterpret_cast<long>(&ended), 1, -1) <= 0) {
        }
    } else {
        keep_only(h);  // a copy of the owner's table: ours to trim, while the owner goes on
    }
    unmap_and_exit(h->mapping, h->mapping_size);
}

// Between the owner (which waits for its end: CLONE_VFORK, sharing its descriptor table)
// and the detached process, whose parent it is so that init, not the owner, reaps it.
// It touches the mapping only until the detached process is made, which may unmap it.
void go_between_main(void* arg) {
    auto* g = static_cast<GoBetween*>(arg);
    Handover* h = g->handover;
    if (h->until_owner_ends) {
        // A table of our own with only the descriptors and the owner's pidfd, which the
        // detached process shares: the owner may end as soon as we have.
        if (raw_call(SYS_unshare, CLONE_FILES) < 0) return;
        keep_only(h);
        long pidfd = raw_call(SYS_pidfd_open, g->owner, 0);
        if (pidfd < 0) return;
        h->owner_end = int(pidfd);
        h->detached_args.flags = CLONE_VM | CLONE_FILES;
        if (ssi_clone3_on_stack(&h->detached_args, sizeof h->detached_args, detached_main, h) < 0) return;
    } else {
        // Its copy of the owner's table holds references once it is made: ours close
        // now without being the last.
        h->detached_args.flags = CLONE_VM;
        if (ssi_clone3_on_stack(&h->detached_args, sizeof h->detached_args, detached_main, h) < 0) return;
        for (size_t i = 0; i < g->count; ++i) raw_call(SYS_close, g->fds[i]);
    }
    *g->report = kHolding;
}

Result<int> hand_over(std::span<const int> fds, bool until_owner_ends) {
    const size_t page = size_t(::sysconf(_SC_PAGESIZE));
    const size_t head = (sizeof(Handover) + fds.size() * sizeof(int) + page - 1) / page * page;
    const size_t size = head + kStackBytes;
    void* mapping = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapping == MAP_FAILED) return sys_error("mmap", "a detached close's stack");
    auto* h = new (mapping) Handover;
    h->until_owner_ends = until_owner_ends;
    h->mapping = mapping;
    h->mapping_size = size;
    h->count = fds.size();
    std::copy(fds.begin(), fds.end(), h->fds);
    std::sort(h->fds, h->fds + h->count);
    h->detached_args.exit_signal = SIGCHLD;
    h->detached_args.stack = uint64_t(reinterpret_cast<uintptr_t>(static_cast<std::byte*>(mapping) + head));
    h->detached_args.stack_size = kStackBytes;
    int report = kNotHolding;
    GoBetween go{h, fds.data(), fds.size(), ::getpid(), &report};
    alignas(16) std::byte go_between_stack[kStackBytes];

    // Both start with every signal blocked: no handler of ours may run on their stacks.
    sigset_t all, old;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &old);
    CloneOptions options;
    options.flags = CLONE_FILES;
    options.exit_signal = 0;  // no SIGCHLD for our own child handling to misread
    auto go_between = spawn_in_shared_memory(options, go_between_main, &go, go_between_stack);
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (go_between)
        while (::waitpid(go_between->pid, nullptr, __WALL) < 0 && errno == EINTR) {
        }
    // Once made, the detached process unmaps it.
    if (report != kHolding) ::munmap(mapping, size);
    if (!go_between) return go_between.error();
    return report;
}

}  // namespace
#endif

void close_detached(std::vector<UniqueFd> fds) {
    std::erase_if(fds, [](const UniqueFd& fd) { return !fd.valid(); });
    if (fds.empty()) return;
#if defined(__x86_64__)
    std::vector<int> numbers;
    for (const UniqueFd& fd : fds) numbers.push_back(fd.get());
    if (auto state = hand_over(numbers, false); state && *state == kHolding) {
        for (UniqueFd& fd : fds) fd.release();  // closed by the go-between
        return;
    }
#endif
    fds.clear();  // here, waiting
}

Result<void> hold_past_exit(std::span<const int> fds) {
    if (fds.empty()) return ok();
#if defined(__x86_64__)
    int state = TRY(hand_over(fds, true));
    if (state == kHolding) return ok();
    // Its go-between's unshare, pidfd_open or clone3 failed: said by nothing but its end.
    return make_error("no detached process could be made to hold " + std::to_string(fds.size()) +
                          " descriptors past our exit",
                      {}, EAGAIN);
#else
    return ok();
#endif
}

namespace {

std::mutex slow_mu;
std::vector<int>& slow_fds() {
    static std::vector<int> fds;
    return fds;
}

}  // namespace

SlowCloseFd::SlowCloseFd(UniqueFd fd) : fd_(std::move(fd)) {
    if (!fd_) return;
    std::lock_guard lock(slow_mu);
    slow_fds().push_back(fd_.get());
}

SlowCloseFd::~SlowCloseFd() {
    if (!fd_) return;
    {
        std::lock_guard lock(slow_mu);
        std::erase(slow_fds(), fd_.get());
    }
    std::vector<UniqueFd> last;
    last.push_back(std::move(fd_));
    close_detached(std::move(last));
}

void hold_slow_closes_past_exit() {
    std::vector<int> fds;
    {
        std::lock_guard lock(slow_mu);
        fds = slow_fds();
    }
    (void)hold_past_exit(fds);
}

}  // namespace ssi
