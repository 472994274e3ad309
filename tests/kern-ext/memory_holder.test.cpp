// kern-ext/checkpoint/memory_holder: a process's memory kept through its exec by a
// CLONE_VM child (checkpoint with replace and hold_memory). Needs root (ptrace).
#include "kern-ext/checkpoint/checkpoint.h"
#include "kern-ext/checkpoint/remote_memory.h"
#include "kern-ext/files.h"
#include "kern-ext/pidfd.h"
#include "kern-ext/process.h"
#include "kern-ext/unix_socket.h"

#include <catch2/catch.hpp>

#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace ssi;

namespace {

constexpr size_t kPage = 4096;
constexpr size_t kPages = 64;

bool have_root() {
    if (::geteuid() == 0) return true;
    WARN("not root: memory holder tests skipped");
    return false;
}

std::string status_field(pid_t pid, const std::string& name) {
    auto text = read_file("/proc/" + std::to_string(pid) + "/status");
    if (!text) return "";
    auto at = text->find("\n" + name + ":\t");
    if (at == std::string::npos) return "";
    at += name.size() + 3;
    return text->substr(at, text->find('\n', at) - at);
}

// A child whose area holds a page pattern; it says where glibc keeps its thread's tid
// (the field an exec clears in a shared address space) and waits.
struct Holdee {
    char* area = nullptr;
    pid_t pid = 0;
    uint64_t tid_at = 0;
    std::vector<char> pattern = std::vector<char>(kPages * kPage);

    Holdee() {
        for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = char('a' + (i / kPage + i % 7) % 26);
        area = static_cast<char*>(::mmap(nullptr, pattern.size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        REQUIRE(area != MAP_FAILED);
        std::memcpy(area, pattern.data(), pattern.size());
        int said[2];
        REQUIRE(::pipe(said) == 0);
        auto forked = fork_process();
        REQUIRE(forked.ok());
        if (*forked == 0) {
            ::close(said[0]);
            const int tid = int(::syscall(SYS_gettid));
            auto* self = reinterpret_cast<int*>(::pthread_self());
            uint64_t at = 0;
            for (int i = 0; i < 1024 && !at; ++i)
                if (self[i] == tid) at = reinterpret_cast<uint64_t>(&self[i]);
            if (::write(said[1], &at, sizeof at) != sizeof at) ::_exit(1);
            for (;;) ::pause();
        }
        pid = *forked;
        ::close(said[1]);
        REQUIRE(::read(said[0], &tid_at, sizeof tid_at) == sizeof tid_at);
        ::close(said[0]);
        REQUIRE(tid_at != 0);
    }
    ~Holdee() {
        if (pid) ::kill(pid, SIGKILL), (void)wait_process(pid);
        ::munmap(area, pattern.size());
    }
};

CheckpointOptions replace_holding(std::vector<std::string> argv) {
    CheckpointOptions o;
    o.after = CheckpointOptions::replace;
    o.stream_memory = true;
    o.hold_memory = true;
    o.replace_argv = std::move(argv);
    return o;
}

// Blocked in pause() (system call 34) made at an instruction of the vdso, not in the
// program's own code (its pause() is libc's): what /proc/PID/syscall says once the
// task is not running, waited for at most ~1 s.
bool pausing_in_vdso(pid_t pid) {
    const std::string proc = "/proc/" + std::to_string(pid);
    std::string call;
    for (int i = 0; i < 1000; ++i) {
        call = read_file(proc + "/syscall").value_or("");
        if (call.rfind("running", 0) != 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::istringstream words(call);
    std::vector<std::string> fields{std::istream_iterator<std::string>(words), {}};
    if (fields.size() < 3 || fields[0] != "34") return false;
    const uint64_t pc = std::stoull(fields.back(), nullptr, 16);
    std::istringstream maps(read_file(proc + "/maps").value_or(""));
    for (std::string line; std::getline(maps, line);) {
        if (line.find("[vdso]") == std::string::npos) continue;
        const uint64_t start = std::stoull(line.substr(0, line.find('-')), nullptr, 16);
        const uint64_t end = std::stoull(line.substr(line.find('-') + 1), nullptr, 16);
        return pc >= start && pc < end;
    }
    return false;
}

}  // namespace

TEST_CASE("checkpoint, replace, hold_memory: the memory outlives the exec in a holder that never runs",
          "[checkpoint][root]") {
    if (!have_root()) return;
    Holdee h;
    auto image = checkpoint(h.pid, replace_holding({"/bin/sleep", "1000"}));
    if (!image) FAIL(image.error().message());
    const pid_t holder = image->memory_from;
    REQUIRE(holder > 0);

    // The process is the new program; the holder is its child, asleep, deaf, without files.
    auto exe = std::filesystem::read_symlink("/proc/" + std::to_string(h.pid) + "/exe");
    CHECK(exe.filename() == "sleep");
    CHECK(status_field(holder, "PPid") == std::to_string(h.pid));
    CHECK(pausing_in_vdso(holder));
    CHECK(status_field(holder, "SigBlk") == "fffffffffffbfeff");  // all but SIGKILL and SIGSTOP
    CHECK(std::filesystem::is_empty("/proc/" + std::to_string(holder) + "/fd"));

    // The memory as it was at the dump, the exec's clearing of the tid field kept out.
    std::vector<char> got(h.pattern.size());
    REQUIRE(read_remote(holder, RemotePtr{reinterpret_cast<uint64_t>(h.area)}, got).ok());
    CHECK(got == h.pattern);
    int tid = 0;
    REQUIRE(read_remote(holder, RemotePtr{h.tid_at}, {reinterpret_cast<char*>(&tid), sizeof tid}).ok());
    CHECK(tid == h.pid);

    // An image saved from it holds that memory.
    const std::string path = "/tmp/ssi-memory-holder-" + std::to_string(::getpid()) + ".img";
    REQUIRE(save_image(*image, path).ok());
    auto loaded = load_image(path);
    ::unlink(path.c_str());
    REQUIRE(loaded.ok());
    bool found = false;
    for (const MemoryMapping& m : loaded->mappings) {
        if (m.start != reinterpret_cast<uint64_t>(h.area)) continue;
        found = true;
        REQUIRE(m.contents.size() >= h.pattern.size());  // the kernel may have merged it with a neighbour
        CHECK(std::memcmp(m.contents.data(), h.pattern.data(), h.pattern.size()) == 0);
    }
    CHECK(found);

    // A SIGCONT (a shell's `fg` to the job) only restarts its pause(); the program's
    // code would be back in libc's.
    REQUIRE(::kill(holder, SIGCONT) == 0);
    CHECK(pausing_in_vdso(holder));
    REQUIRE(read_remote(holder, RemotePtr{reinterpret_cast<uint64_t>(h.area)}, got).ok());
    CHECK(got == h.pattern);

    // It dies with its parent (PR_SET_PDEATHSIG): its pidfd turns readable when it ends.
    auto pidfd = Pidfd::open(holder);
    REQUIRE(pidfd.ok());
    ::kill(h.pid, SIGKILL);
    (void)wait_process(h.pid);
    h.pid = 0;
    auto ended = wait_readable(pidfd->fd(), 5000);
    REQUIRE(ended.ok());
    CHECK(*ended);
}

TEST_CASE("checkpoint, replace, hold_memory: a failed exec leaves the process as it was and no holder",
          "[checkpoint][root]") {
    if (!have_root()) return;
    Holdee h;
    auto failed = checkpoint(h.pid, replace_holding({"/nonexistent/ssi-deputy"}));
    REQUIRE_FALSE(failed.ok());
    CHECK_THAT(failed.error().message(), Catch::Contains("execve"));
    auto children = read_file("/proc/" + std::to_string(h.pid) + "/task/" + std::to_string(h.pid) + "/children");
    REQUIRE(children.ok());
    CHECK(children->find_first_not_of(" \n") == std::string::npos);
    CHECK(status_field(h.pid, "TracerPid") == "0");
    std::vector<char> got(h.pattern.size());
    REQUIRE(read_remote(h.pid, RemotePtr{reinterpret_cast<uint64_t>(h.area)}, got).ok());
    CHECK(got == h.pattern);

    CheckpointOptions no_replace;
    no_replace.hold_memory = true;
    no_replace.stream_memory = true;
    auto refused = checkpoint(h.pid, no_replace);
    REQUIRE_FALSE(refused.ok());
    CHECK_THAT(refused.error().message(), Catch::Contains("replace"));
}
