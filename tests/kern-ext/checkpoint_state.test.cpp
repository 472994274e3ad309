// kern-ext/checkpoint: each kind of process state survives checkpoint, image file and
// restore. The programs (tests/kern-ext/checkpoint_programs/state/*.c) set their state up,
// say "ready", block in read(); we checkpoint them (killing the original), restore them
// on the same stdin/stdout pipes, send a line, and they say "ok ITEM" or "FAIL ITEM: why".
// The second test case spoils one item in the image each time and expects the program to
// notice: proof that the first one can fail. Needs root, like checkpoint.test.cpp.
#include "kern-ext/checkpoint/checkpoint.h"
#include "tests/support/pipe_lines.h"
#include "kern-ext/files.h"
#include "kern-ext/pidfd.h"
#include "kern-ext/process.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <vector>

using namespace ssi;

namespace {

const std::string kPrograms = SSI_CHECKPOINT_PROGRAMS;
constexpr uid_t kNobody = 65534;

bool have_root() {
    if (::geteuid() == 0) return true;
    WARN("not root: checkpoint state tests skipped");
    return false;
}

// A state program on two pipes: we write its stdin and read its stdout. We keep the
// program's ends too, to hand them to the restored process.
struct StateProgram {
    pid_t pid = 0;
    UniqueFd stdin_read, stdin_write, stdout_read, stdout_write;
    test::PipeLines lines;

    std::optional<std::string> line() { return lines.next(stdout_read.get()); }
};

struct StartAs {
    uid_t uid = 0;  // 0: as we are
    std::string cwd;
};

StateProgram start(const std::string& name, const std::vector<std::string>& args = {}, const StartAs& as = {}) {
    auto in = make_pipe();
    auto out = make_pipe();
    REQUIRE((in.ok() && out.ok()));
    StateProgram p;
    p.stdin_read = std::move(in->first);
    p.stdin_write = std::move(in->second);
    p.stdout_read = std::move(out->first);
    p.stdout_write = std::move(out->second);
    std::vector<std::string> argv = {kPrograms + "/ckpt_state_" + name};
    argv.insert(argv.end(), args.begin(), args.end());
    auto pid = fork_process();
    REQUIRE(pid.ok());
    if (*pid == 0) {
        if (!duplicate_fd(p.stdin_read.get(), 0) || !duplicate_fd(p.stdout_write.get(), 1)) exit_child(120);
        if (!as.cwd.empty() && !change_dir(as.cwd)) exit_child(122);
        if (as.uid != 0 && !set_identity(as.uid, as.uid, {as.uid})) exit_child(123);
        exec_file(argv[0], argv);
        exit_child(121);
    }
    p.pid = *pid;
    return p;
}

struct Trip {
    std::function<void(ProcessImage&)> spoil;          // change the image before restoring
    std::function<void(RestoreOptions&)> options;     // credentials, pid
    std::function<void(pid_t)> after_restore;          // e.g. a signal for pause
    int settle_ms = 0;                                 // wait after "ready" (to be inside a sleep)
};

struct Outcome {
    std::optional<Error> restore_error;
    std::vector<std::string> info;  // "info ..." lines, before and after
    std::string verdict;            // "ok ITEM" / "FAIL ITEM: ..." / "" if none
    std::string status;             // the restored process's exit
    pid_t original = 0, restored = 0;
};

std::string temp_image_path(const std::string& name) {
    return "/dev/shm/ssi-checkpoint-state-test-" + std::to_string(::getpid()) + "-" + name + ".img";
}

// Until `pid` sleeps in a system call (state S in /proc/PID/stat), at most 5 s.
void wait_asleep(pid_t pid) {
    for (int i = 0; i < 500; ++i) {
        auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
        REQUIRE(stat.ok());
        auto close = stat->rfind(')');
        if (close != std::string::npos && stat->compare(close, 4, ") S ") == 0) return;
        ::usleep(10000);
    }
    FAIL("process " << pid << " never went to sleep");
}

// Ready, checkpoint (kill), image file, restore on the same pipes, a line, the verdict.
Outcome checkpoint_and_restore(StateProgram& prog, const std::string& item, const Trip& trip = {}) {
    Outcome o;
    o.original = prog.pid;
    for (;;) {
        auto l = prog.line();
        REQUIRE(l);
        if (*l == "ready") break;
        REQUIRE(l->rfind("info ", 0) == 0);
        o.info.push_back(*l);
    }
    // "ready" comes just before the call that blocks: a checkpoint taken before the
    // program is asleep in it would catch it before it loaded the state under test.
    wait_asleep(prog.pid);
    if (trip.settle_ms) ::usleep(useconds_t(trip.settle_ms) * 1000);
    auto image = checkpoint(prog.pid, {CheckpointOptions::kill});
    if (!image) FAIL(image.error().message());
    auto original = wait_process(prog.pid);
    REQUIRE(original.ok());
    REQUIRE((original->signaled && original->signal == SIGKILL));

    std::string path = temp_image_path(item);
    REQUIRE(save_image(*image, path).ok());
    auto loaded = load_image(path);
    ::unlink(path.c_str());
    REQUIRE(loaded.ok());
    if (trip.spoil) trip.spoil(*loaded);

    RestoreOptions options;
    options.fds = {{0, prog.stdin_read.get()}, {1, prog.stdout_write.get()}};
    if (trip.options) trip.options(options);
    auto restored = restore(*loaded, options);
    prog.stdin_read.reset();
    prog.stdout_write.reset();
    if (!restored) {
        o.restore_error = restored.error();
        return o;
    }
    o.restored = *restored;
    if (trip.after_restore) trip.after_restore(*restored);
    REQUIRE(write_all(prog.stdin_write.get(), std::string_view("go\n")).ok());
    while (auto l = prog.line()) {
        if (l->rfind("info ", 0) == 0)
            o.info.push_back(*l);
        else if (o.verdict.empty())
            o.verdict = *l;
    }
    auto status = wait_process(*restored);
    REQUIRE(status.ok());
    o.status = status->describe();
    return o;
}

void expect_ok(const Outcome& o, const std::string& item) {
    if (o.restore_error) FAIL("restore: " << o.restore_error->message());
    for (const auto& i : o.info) UNSCOPED_INFO(i);
    CHECK(o.verdict == "ok " + item);
    CHECK(o.status == "exit status 0");
}

void expect_fail(const Outcome& o, const std::string& item, const std::string& detail) {
    if (o.restore_error) FAIL("restore: " << o.restore_error->message());
    CHECK_THAT(o.verdict, Catch::StartsWith("FAIL " + item + ": ") && Catch::Contains(detail));
    CHECK(o.status == "exit status 1");
}

// A directory with a file "marker", and a 2-page file for the memory program; removed
// at the end.
struct Scratch {
    std::string dir = "/tmp/ssi-checkpoint-state-" + std::to_string(::getpid());
    Scratch() {
        REQUIRE(make_dirs(dir, 0755).ok());
        REQUIRE(write_file_atomic(dir + "/marker", "here\n", 0644).ok());
        REQUIRE(write_file_atomic(dir + "/file", std::string(8192, 'x'), 0644).ok());
    }
    ~Scratch() { (void)remove_tree(dir); }
};

}  // namespace

TEST_CASE("checkpoint state: each kind of process state survives checkpoint, image file and restore",
          "[checkpoint][root]") {
    if (!have_root()) return;
    Scratch scratch;

    for (const char* item : {"umask", "name", "personality", "rlimits", "registers", "tls", "signals", "timers",
                             "alarm", "rseq", "vdso", "brk"}) {
        DYNAMIC_SECTION(item) {
            StateProgram prog = start(item);
            expect_ok(checkpoint_and_restore(prog, item), item);
        }
    }
    SECTION("memory") {
        StateProgram prog = start("memory", {scratch.dir + "/file"});
        expect_ok(checkpoint_and_restore(prog, "memory"), "memory");
    }
    SECTION("cwd") {
        StateProgram prog = start("cwd", {scratch.dir});
        expect_ok(checkpoint_and_restore(prog, "cwd"), "cwd");
    }
    SECTION("credentials: a process of nobody restored for nobody keeps its ids and groups") {
        StateProgram prog = start("credentials", {}, {.uid = kNobody, .cwd = "/"});
        Outcome o = checkpoint_and_restore(prog, "credentials", {.options = [](RestoreOptions& r) {
            r.credentials = RestoreCredentials{kNobody, kNobody, {kNobody}};
        }});
        expect_ok(o, "credentials");
        CHECK(o.info == std::vector<std::string>{"info uid 65534 gid 65534 groups 1"});
    }
    SECTION("identity: restored at its own PID by its parent, it sees the same pid and ppid") {
        StateProgram prog = start("identity");
        const pid_t pid = prog.pid;
        Outcome o = checkpoint_and_restore(prog, "identity", {.options = [pid](RestoreOptions& r) { r.pid = pid; }});
        expect_ok(o, "identity");
        CHECK(o.restored == pid);
        CHECK(o.info == std::vector<std::string>{"info pid " + std::to_string(pid) + " ppid " + std::to_string(::getpid())});
    }
    SECTION("sleep: checkpointed inside nanosleep, the sleep completes with its full length") {
        StateProgram prog = start("sleep", {"1500"});
        Outcome o = checkpoint_and_restore(prog, "sleep", {.settle_ms = 300});
        expect_ok(o, "sleep");
        // Checkpointed inside the call: it came back EINTR once and slept the rest.
        REQUIRE_FALSE(o.info.empty());
        CHECK_THAT(o.info.back(), Catch::Contains("interrupted 1 times"));
    }
    SECTION("pause: checkpointed inside pause(), a signal to the restored process runs its handler") {
        StateProgram prog = start("pause");
        Outcome o = checkpoint_and_restore(prog, "pause", {.after_restore = [](pid_t pid) {
            ::usleep(100 * 1000);  // back inside pause()
            REQUIRE(send_signal(pid, SIGUSR1).ok());
        }, .settle_ms = 100});
        expect_ok(o, "pause");
    }
}

TEST_CASE("checkpoint state: a restore that loses an item is noticed by its program", "[checkpoint][root]") {
    if (!have_root()) return;
    Scratch scratch;

    auto spoiled = [](const char* item, std::function<void(ProcessImage&)> spoil, const std::string& detail,
                      std::vector<std::string> args = {}) {
        StateProgram prog = start(item, args);
        expect_fail(checkpoint_and_restore(prog, item, {.spoil = std::move(spoil)}), item, detail);
    };
    SECTION("umask") { spoiled("umask", [](ProcessImage& im) { im.attributes.umask = 022; }, "umask 022"); }
    SECTION("name") { spoiled("name", [](ProcessImage& im) { im.comm = "other"; }, "name 'other'"); }
    SECTION("personality") {
        spoiled("personality", [](ProcessImage& im) { im.attributes.personality = 0; }, "personality 0");
    }
    SECTION("rlimits") {
        spoiled("rlimits", [](ProcessImage& im) { im.attributes.rlimits[RLIMIT_NOFILE] = {1024, 4096}; },
                "resource 7: 1024/4096, expected 100/200");
    }
    SECTION("timers") {
        spoiled("timers", [](ProcessImage& im) { im.attributes.itimers[ITIMER_REAL] = {}; }, "real timer: 0.000 s left");
    }
    SECTION("registers: a changed xmm5 in the XSAVE area") {
        spoiled("registers", [](ProcessImage& im) { im.xstate[160 + 5 * 16] ^= 1; }, "ymm5 differs");
    }
    SECTION("memory: a changed heap byte") {
        spoiled("memory", [](ProcessImage& im) {
            for (MemoryMapping& m : im.mappings)
                if (m.path == "[heap]") m.contents.data()[16384] ^= 1;  // inside the program's 64 KiB block
        }, "heap contents differ", {scratch.dir + "/file"});
    }
    SECTION("cwd: a directory that is gone fails the restore, naming it") {
        StateProgram prog = start("cwd", {scratch.dir});
        Outcome o = checkpoint_and_restore(prog, "cwd", {.spoil = [&](ProcessImage& im) { im.attributes.cwd = scratch.dir + "/gone"; }});
        REQUIRE(o.restore_error);
        CHECK_THAT(o.restore_error->message(), Catch::Contains(scratch.dir + "/gone") && Catch::Contains("No such file"));
    }
    SECTION("cwd: a directory the restoring user may not enter fails the restore, naming it") {
        REQUIRE(make_dirs(scratch.dir + "/private", 0700).ok());
        StateProgram prog = start("cwd", {scratch.dir + "/private"});
        Outcome o = checkpoint_and_restore(prog, "cwd", {.options = [](RestoreOptions& r) {
            r.credentials = RestoreCredentials{kNobody, kNobody, {kNobody}};
        }});
        REQUIRE(o.restore_error);
        CHECK_THAT(o.restore_error->message(), Catch::Contains(scratch.dir + "/private") && Catch::Contains("Permission denied"));
    }
}

TEST_CASE("checkpoint image: the attributes section round-trips; other format versions are refused", "[checkpoint]") {
    ProcessImage image;
    image.comm = "round-trip";
    image.attributes.itimers[ITIMER_REAL] = {1, 500000, 60, 0};
    image.attributes.itimers[ITIMER_PROF] = {0, 7, 0, 9};
    for (size_t r = 0; r < image.attributes.rlimits.size(); ++r) image.attributes.rlimits[r] = {r * 3, ~uint64_t(0) - r};
    image.attributes.umask = 0027;
    image.attributes.personality = 0x0040000;
    image.attributes.cwd = "/some/where with spaces";
    std::string path = temp_image_path("roundtrip");
    REQUIRE(save_image(image, path).ok());
    auto loaded = load_image(path);
    REQUIRE(loaded.ok());
    CHECK(loaded->comm == "round-trip");
    CHECK(std::memcmp(&loaded->attributes.itimers, &image.attributes.itimers, sizeof image.attributes.itimers) == 0);
    CHECK(std::memcmp(&loaded->attributes.rlimits, &image.attributes.rlimits, sizeof image.attributes.rlimits) == 0);
    CHECK(loaded->attributes.umask == 0027);
    CHECK(loaded->attributes.personality == 0x0040000);
    CHECK(loaded->attributes.cwd == "/some/where with spaces");

    // A version-1 header (no attributes section), with a valid header checksum: refused
    // for its version, not as damaged.
    auto bytes = read_file(path);
    REQUIRE(bytes.ok());
    std::string old = *bytes;
    uint32_t v1 = 1;
    std::memcpy(old.data() + 8, &v1, 4);
    uint64_t h = 0xcbf29ce484222325ull;  // image_file.cpp's checksum over the first 32 bytes
    for (size_t i = 0; i < 32; i += 8) {
        uint64_t w;
        std::memcpy(&w, old.data() + i, 8);
        h ^= w;
        h *= 0x100000001b3ull;
        h ^= h >> 32;
    }
    std::memcpy(old.data() + 32, &h, 8);
    REQUIRE(write_file_atomic(path, old, 0600).ok());
    auto refused = load_image(path);
    ::unlink(path.c_str());
    REQUIRE_FALSE(refused.ok());
    CHECK_THAT(refused.error().message(), Catch::Contains("image format version 1, this build reads 4"));
}
