// kern-ext/checkpoint, process migration's pieces: restore_into (an image rebuilt inside
// an existing parked process, which keeps its PID), open files in the image (reopened
// by path, or found in place), a migrating checkpoint's refusals, and checkpoint then
// replace (the process execs another program, keeping PID and files). Needs root.
#include "kern-ext/checkpoint/checkpoint.h"
#include "kern-ext/checkpoint/remote_memory.h"
#include "kern-ext/checkpoint/write_tracker.h"
#include "tests/support/pipe_lines.h"
#include "kern-ext/files.h"
#include "kern-ext/pidfd.h"
#include "kern-ext/process.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace ssi;

namespace {

const std::string kPrograms = SSI_CHECKPOINT_PROGRAMS;
using FdMap = std::vector<std::pair<int, int>>;  // {number in the child, our fd}

bool have_root() {
    if (::geteuid() == 0) return true;
    WARN("not root: restore_into tests skipped");
    return false;
}

// Lines from a pipe's read end.
struct Lines {
    UniqueFd in;
    test::PipeLines lines;
    std::optional<std::string> next() { return lines.next(in.get()); }
    std::vector<std::string> until_eof() {
        std::vector<std::string> all;
        while (auto l = next()) all.push_back(*l);
        return all;
    }
};

// In a forked child: exactly `fds`, nothing else open.
void place_fds(const FdMap& fds) {
    std::vector<int> temps;
    for (const auto& [target, source] : fds) temps.push_back(::fcntl(source, F_DUPFD, 1000));
    ::syscall(SYS_close_range, 0u, 999u, 0u);
    for (size_t i = 0; i < fds.size(); ++i) ::dup2(temps[i], fds[i].first);
    ::syscall(SYS_close_range, 1000u, ~0u, 0u);
}

pid_t spawn(const FdMap& fds, const std::vector<std::string>& argv) {
    auto pid = fork_process();
    REQUIRE(pid.ok());
    if (*pid == 0) {
        place_fds(fds);
        exec_file(argv[0], argv);
        ::_exit(121);
    }
    return *pid;
}

// A child holding `fds`, optionally become nobody, parked in pause() with every signal
// blocked: what restore_into expects. Returns once it is in pause().
pid_t park(const FdMap& fds, bool as_nobody) {
    auto pid = fork_process();
    REQUIRE(pid.ok());
    if (*pid == 0) {
        place_fds(fds);
        if (as_nobody && (::setgroups(0, nullptr) < 0 || ::setresgid(65534, 65534, 65534) < 0 ||
                          ::setresuid(65534, 65534, 65534) < 0))
            ::_exit(122);
        sigset_t all;
        ::sigfillset(&all);
        ::sigprocmask(SIG_BLOCK, &all, nullptr);
        for (;;) ::pause();
    }
    for (int i = 0; i < 3000; ++i) {  // /proc/PID/syscall: "34 ..." while in pause()
        auto sc = read_file("/proc/" + std::to_string(*pid) + "/syscall");
        auto status = read_file("/proc/" + std::to_string(*pid) + "/status");
        if (sc && sc->rfind("34 ", 0) == 0 && status && status->find("Uid:\t" + std::string(as_nobody ? "65534" : "0")) != std::string::npos)
            return *pid;
        ::usleep(1000);
    }
    FAIL("the parked child never reached pause()");
    return 0;
}

std::pair<UniqueFd, UniqueFd> pipe_pair() {
    auto p = make_pipe();
    REQUIRE(p.ok());
    return std::move(*p);
}

UniqueFd dev_null() {
    auto fd = open_file("/dev/null", O_RDWR);
    REQUIRE(fd.ok());
    return std::move(*fd);
}

std::string status_of(pid_t pid) { return read_file("/proc/" + std::to_string(pid) + "/status").value_or(""); }

void check_running_untraced(pid_t pid) {
    std::string status = status_of(pid);
    CHECK_THAT(status, !Catch::Contains("State:\tT") && !Catch::Contains("State:\tt"));
    CHECK_THAT(status, Catch::Contains("TracerPid:\t0"));
}

void check_tiny_output(const std::vector<std::string>& lines) {
    const unsigned long total = 200ul << 21;
    REQUIRE(lines.size() == 201);
    for (size_t i = 0; i < 200; ++i) REQUIRE(lines[i] == "progress " + std::to_string(i + 1));
    CHECK(lines[200] == "done " + std::to_string(total * (total + 1) / 2));
}

std::string exit_of(pid_t pid) {
    auto status = wait_process(pid);
    REQUIRE(status.ok());
    return status->describe();
}

// A file of letters, and the read_steps program reading it at fd 3 with commands on stdin.
struct Reader {
    std::string path;
    UniqueFd file;  // the same open file (and offset) as the program's fd 3
    UniqueFd commands, stdin_end;
    Lines out;
    UniqueFd out_write;
    UniqueFd null = dev_null();
    pid_t pid = 0;

    explicit Reader(const char* name) {
        path = "/dev/shm/ssi-into-test-" + std::to_string(::getpid()) + "-" + name;
        REQUIRE(write_file_atomic(path, "abcdefghijklmnopqrstuvwxyz", 0644).ok());
        file = TRY_OR_FAIL(open_file(path, O_RDONLY));
        auto [r, w] = pipe_pair();
        stdin_end = std::move(r);
        commands = std::move(w);
        auto [or_, ow] = pipe_pair();
        out.in = std::move(or_);
        out_write = std::move(ow);
    }
    ~Reader() { ::unlink(path.c_str()); }
    static UniqueFd TRY_OR_FAIL(Result<UniqueFd> r) {
        REQUIRE(r.ok());
        return std::move(*r);
    }
    FdMap fds(FdMap extra = {}) const {
        FdMap m = {{0, stdin_end.get()}, {1, out_write.get()}, {2, null.get()}, {3, file.get()}};
        m.insert(m.end(), extra.begin(), extra.end());
        return m;
    }
    void start(const std::vector<std::string>& args = {}, FdMap extra = {}) {
        std::vector<std::string> argv = {kPrograms + "/ckpt_read_steps"};
        argv.insert(argv.end(), args.begin(), args.end());
        pid = spawn(fds(extra), argv);
        REQUIRE(out.next() == std::optional<std::string>("ready"));
    }
    std::optional<std::string> step() {
        REQUIRE(::write(commands.get(), "x", 1) == 1);
        return out.next();
    }
};

// The tiny counter writing to a pipe, saved (and killed) once it printed `first` lines.
struct SavedCounter {
    Lines out;
    UniqueFd write_end, null = dev_null();
    FdMap fds;
    std::vector<std::string> lines;  // what it printed before
    ProcessImage image;

    explicit SavedCounter(size_t first) {
        auto [read_end, write] = pipe_pair();
        out.in = std::move(read_end);
        write_end = std::move(write);
        fds = {{0, null.get()}, {1, write_end.get()}, {2, null.get()}};
        pid_t prog = spawn(fds, {kPrograms + "/ckpt_counter_tiny"});
        while (lines.size() < first) lines.push_back(out.next().value_or("?"));
        auto saved = checkpoint(prog, {CheckpointOptions::kill});
        REQUIRE(saved.ok());
        image = std::move(*saved);
        CHECK(exit_of(prog) == "killed by signal 9 (Killed)");
    }
};

// restore_into that fails the test (the parked process killed) when it fails.
void restore_or_fail(pid_t parked, const ProcessImage& image, const RestoreOptions& options) {
    if (auto restored = restore_into(parked, image, options); !restored) {
        (void)send_signal(parked, SIGKILL);
        (void)wait_process(parked);
        FAIL(restored.error().message());
    }
}

// A parked child (as park() makes) that first mapped `areas` where it could, fresh and
// writable, as a deputy does for a pre-copy; the areas it holds, in order.
std::pair<pid_t, std::vector<PageRun>> park_with_areas(const FdMap& fds, const std::vector<PageRun>& areas) {
    auto [read_end, write_end] = pipe_pair();
    auto forked = fork_process();
    REQUIRE(forked.ok());
    if (*forked == 0) {
        for (const PageRun& a : areas) {
            void* at = reinterpret_cast<void*>(a.start);
            char took = ::mmap(at, a.size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) == at;
            if (::write(write_end.get(), &took, 1) != 1) ::_exit(123);
        }
        place_fds(fds);
        sigset_t all;
        ::sigfillset(&all);
        ::sigprocmask(SIG_BLOCK, &all, nullptr);
        for (;;) ::pause();
    }
    write_end.reset();
    std::vector<PageRun> held;
    for (const PageRun& a : areas) {
        char took = 0;
        REQUIRE(::read(read_end.get(), &took, 1) == 1);
        if (took) held.push_back(a);
    }
    for (int i = 0; i < 3000; ++i) {
        auto sc = read_file("/proc/" + std::to_string(*forked) + "/syscall");
        if (sc && sc->rfind("34 ", 0) == 0) return {*forked, held};
        ::usleep(1000);
    }
    FAIL("the parked child never reached pause()");
    return {};
}

// The lines a glibc counter prints, run to its end without interruption.
std::vector<std::string> uninterrupted_counter(const std::vector<std::string>& args) {
    auto [read_end, write_end] = pipe_pair();
    UniqueFd null = dev_null();
    std::vector<std::string> argv{kPrograms + "/ckpt_counter_glibc"};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_t pid = spawn({{0, null.get()}, {1, write_end.get()}, {2, null.get()}}, argv);
    write_end.reset();
    Lines out{std::move(read_end), {}};
    auto lines = out.until_eof();
    CHECK(exit_of(pid) == "exit status 0");
    return lines;
}

}  // namespace

TEST_CASE("restore_into: a counter continues inside a parked process, which keeps its PID", "[checkpoint][root]") {
    if (!have_root()) return;
    const bool as_nobody = GENERATE(false, true);
    INFO((as_nobody ? "parked child runs as nobody" : "parked child runs as root"));
    SavedCounter c(20);
    pid_t parked = park(c.fds, as_nobody);
    c.write_end.reset();
    RestoreOptions options;
    options.files = RestoreOptions::Files::in_place;
    if (as_nobody) options.credentials = RestoreCredentials{65534, 65534, {}};  // its own: no setgroups
    restore_or_fail(parked, c.image, options);
    CHECK_THAT(status_of(parked), Catch::Contains(as_nobody ? "Uid:\t65534\t65534\t65534\t65534" : "Uid:\t0\t0\t0\t0"));
    for (auto& l : c.out.until_eof()) c.lines.push_back(l);
    check_tiny_output(c.lines);
    CHECK(exit_of(parked) == "exit status 0");  // our child: the same PID ran the counter to its end
}

TEST_CASE("restore_into: a signal sent to the parked process reaches the process rebuilt in it", "[checkpoint][root]") {
    if (!have_root()) return;
    SavedCounter c(1);
    // The parked process wears the PID: what is sent to it is sent to the process (a
    // deputy parked at home while its process comes back), and must not be lost.
    pid_t parked = park(c.fds, false);
    c.write_end.reset();
    REQUIRE(send_signal(parked, SIGTERM).ok());
    RestoreOptions options;
    options.files = RestoreOptions::Files::in_place;
    restore_or_fail(parked, c.image, options);
    CHECK(exit_of(parked) == "killed by signal 15 (Terminated)");
    CHECK(c.out.until_eof().size() < 200);  // it did not count on to its end
}

TEST_CASE("restore_into: a failure before the layout is cleared gives the process back as it was",
          "[checkpoint][root]") {
    if (!have_root()) return;
    auto [read_end, write_end] = pipe_pair();
    Lines out{std::move(read_end), {}};
    UniqueFd null = dev_null();
    const FdMap fds = {{0, null.get()}, {1, write_end.get()}, {2, null.get()}};
    pid_t prog = spawn(fds, {kPrograms + "/ckpt_counter_tiny"});
    std::vector<std::string> lines;
    while (lines.size() < 5) lines.push_back(out.next().value_or("?"));
    auto image = checkpoint(prog, {CheckpointOptions::kill});
    REQUIRE(image.ok());
    (void)wait_process(prog);

    pid_t parked = park(fds, true);
    write_end.reset();
    auto maps_before = read_file("/proc/" + std::to_string(parked) + "/maps");
    REQUIRE(maps_before.ok());
    // Root's credentials for a nobody process: setgroups fails (EPERM) before anything is cleared.
    RestoreOptions as_root;
    as_root.files = RestoreOptions::Files::in_place;
    as_root.credentials = RestoreCredentials{0, 0, {}};
    auto refused = restore_into(parked, *image, as_root);
    REQUIRE_FALSE(refused.ok());
    CHECK_THAT(refused.error().message(), Catch::Contains("setgroups"));
    check_running_untraced(parked);
    CHECK(read_file("/proc/" + std::to_string(parked) + "/maps").value_or("") == *maps_before);
    std::string syscall;  // back in pause() once it has restarted it
    for (int i = 0; i < 1000 && syscall.rfind("34 ", 0) != 0; ++i, ::usleep(1000))
        syscall = read_file("/proc/" + std::to_string(parked) + "/syscall").value_or("");
    INFO("syscall: " << syscall);
    CHECK(syscall.rfind("34 ", 0) == 0);

    // Intact: the same process can be rebuilt now.
    RestoreOptions own = as_root;
    own.credentials = RestoreCredentials{65534, 65534, {}};
    auto restored = restore_into(parked, *image, own);
    if (!restored) FAIL(restored.error().message());
    for (auto& l : out.until_eof()) lines.push_back(l);
    check_tiny_output(lines);
    CHECK(exit_of(parked) == "exit status 0");
}

TEST_CASE("restore_into: files in place go back to their saved offsets", "[checkpoint][root]") {
    if (!have_root()) return;
    Reader r("in-place");
    r.start();
    CHECK(r.step() == std::optional<std::string>("a 0"));
    CHECK(r.step() == std::optional<std::string>("b 0"));
    auto taken = checkpoint(r.pid, {CheckpointOptions::kill});
    REQUIRE(taken.ok());
    CHECK(exit_of(r.pid) == "killed by signal 9 (Killed)");

    // Through the image file: the files section round-trips.
    std::string image_path = r.path + ".img";
    REQUIRE(save_image(*taken, image_path).ok());
    auto image = load_image(image_path);
    ::unlink(image_path.c_str());
    REQUIRE(image.ok());
    REQUIRE(image->files.size() == 4);
    const OpenFile& f3 = image->files[3];
    CHECK(f3.fd == 3);
    CHECK(f3.kind == OpenFile::Kind::regular);
    CHECK(f3.path == r.path);
    CHECK(f3.pos == 2);
    CHECK((f3.flags & O_ACCMODE) == O_RDONLY);
    CHECK_FALSE(f3.cloexec);
    CHECK(image->files[0].kind == OpenFile::Kind::pipe);
    CHECK(image->files[2].kind == OpenFile::Kind::char_device);
    CHECK(image->files[2].path == "/dev/null");

    REQUIRE(::lseek(r.file.get(), 10, SEEK_SET) == 10);  // the shared offset moves on
    pid_t parked = park(r.fds(), false);
    r.out_write.reset();
    r.stdin_end.reset();
    RestoreOptions options;
    options.files = RestoreOptions::Files::in_place;
    auto restored = restore_into(parked, *image, options);
    if (!restored) FAIL(restored.error().message());
    CHECK(r.step() == std::optional<std::string>("c 0"));
    CHECK(r.step() == std::optional<std::string>("d 0"));
    r.commands.reset();
    CHECK(r.out.until_eof().empty());
    CHECK(exit_of(parked) == "exit status 0");
}

TEST_CASE("restore: reopened files are at their saved offsets, with close-on-exec as saved", "[checkpoint][root]") {
    if (!have_root()) return;
    Reader r("reopen");
    r.start({"cloexec"});
    CHECK(r.step() == std::optional<std::string>("a 1"));
    CHECK(r.step() == std::optional<std::string>("b 1"));
    auto image = checkpoint(r.pid, {CheckpointOptions::kill});
    REQUIRE(image.ok());
    (void)wait_process(r.pid);
    REQUIRE(::lseek(r.file.get(), 10, SEEK_SET) == 10);

    RestoreOptions options;
    options.files = RestoreOptions::Files::reopen;
    auto pipes_not_given = restore(*image, options);
    REQUIRE_FALSE(pipes_not_given.ok());
    CHECK_THAT(pipes_not_given.error().message(), Catch::Contains("fd 0 is a pipe"));

    options.fds = {{0, r.stdin_end.get()}, {1, r.out_write.get()}};  // 2 (/dev/null) and 3 reopened
    auto restored = restore(*image, options);
    if (!restored) FAIL(restored.error().message());
    r.out_write.reset();
    r.stdin_end.reset();
    CHECK(r.step() == std::optional<std::string>("c 1"));
    auto link = [&](int fd) {
        char buf[4096];
        ssize_t n = ::readlink(("/proc/" + std::to_string(*restored) + "/fd/" + std::to_string(fd)).c_str(), buf, sizeof buf);
        return n < 0 ? std::string() : std::string(buf, size_t(n));
    };
    CHECK(link(2) == "/dev/null");
    CHECK(link(3) == r.path);
    CHECK(::lseek(r.file.get(), 0, SEEK_CUR) == 10);  // a new open file, not ours
    r.commands.reset();
    CHECK(r.out.until_eof().empty());
    CHECK(exit_of(*restored) == "exit status 0");
}

TEST_CASE("checkpoint, migrating: fds that cannot be reopened elsewhere are refused, the process untouched",
          "[checkpoint][root]") {
    if (!have_root()) return;
    SECTION("a pipe at fd 4") {
        Reader r("migrating-pipe");
        auto [pr, pw] = pipe_pair();
        r.start({}, {{4, pr.get()}});
        auto image = checkpoint(r.pid, {.migrating = true});
        REQUIRE_FALSE(image.ok());
        CHECK_THAT(image.error().message(), Catch::Contains("fd 4 is a pipe") && Catch::Contains("migrating"));
        check_running_untraced(r.pid);
        CHECK(r.step() == std::optional<std::string>("a 0"));
        r.commands.reset();
        CHECK(exit_of(r.pid) == "exit status 0");
    }
    SECTION("a deleted file at fd 4") {
        Reader r("migrating-deleted");
        std::string gone = r.path + ".gone";
        REQUIRE(write_file_atomic(gone, "x", 0600).ok());
        auto fd = open_file(gone, O_RDONLY);
        REQUIRE(fd.ok());
        ::unlink(gone.c_str());
        r.start({}, {{4, fd->get()}});
        auto image = checkpoint(r.pid, {.migrating = true});
        REQUIRE_FALSE(image.ok());
        CHECK_THAT(image.error().message(), Catch::Contains("fd 4 is a deleted file"));
        check_running_untraced(r.pid);
        r.commands.reset();
        CHECK(exit_of(r.pid) == "exit status 0");
    }
    SECTION("files, a directory and a device beyond stdio are fine; pipes at 0..2 too") {
        Reader r("migrating-ok");
        auto dir = open_file("/dev/shm", O_RDONLY | O_DIRECTORY);
        REQUIRE(dir.ok());
        r.start({}, {{4, dir->get()}, {5, r.null.get()}});
        auto image = checkpoint(r.pid, {.migrating = true});
        if (!image) FAIL(image.error().message());
        REQUIRE(image->files.size() == 6);
        CHECK(image->files[4].kind == OpenFile::Kind::directory);
        CHECK(image->files[5].kind == OpenFile::Kind::char_device);
        CHECK(r.step() == std::optional<std::string>("a 0"));
        r.commands.reset();
        CHECK(exit_of(r.pid) == "exit status 0");
    }
}

TEST_CASE("checkpoint, replace: the process becomes another program with the same PID and files; a failed exec "
          "leaves it as it was",
          "[checkpoint][root]") {
    if (!have_root()) return;
    Reader r("replace");
    r.start({"cloexec"});
    CHECK(r.step() == std::optional<std::string>("a 1"));

    CheckpointOptions fails;
    fails.after = CheckpointOptions::replace;
    fails.replace_argv = {"/nonexistent/ssi-deputy"};
    auto failed = checkpoint(r.pid, fails);
    REQUIRE_FALSE(failed.ok());
    CHECK_THAT(failed.error().message(), Catch::Contains("execve") && Catch::Contains("No such file"));
    check_running_untraced(r.pid);
    CHECK(r.step() == std::optional<std::string>("b 1"));  // same program, offset, close-on-exec back

    CheckpointOptions relative = fails;
    relative.replace_argv = {"sh"};
    auto refused = checkpoint(r.pid, relative);
    REQUIRE_FALSE(refused.ok());
    CHECK_THAT(refused.error().message(), Catch::Contains("absolute path"));

    CheckpointOptions replace;
    replace.after = CheckpointOptions::replace;
    replace.replace_argv = {"/bin/sh", "-c", "echo \"$$ $(readlink /proc/$$/fd/3) $(head -c 1 <&3) $X\""};
    replace.replace_env = {"PATH=/usr/bin:/bin", "X=deputy"};
    auto image = checkpoint(r.pid, replace);
    if (!image) FAIL(image.error().message());
    REQUIRE(image->files.size() == 4);
    CHECK(image->files[3].cloexec);  // the real flag, though cleared for the exec
    CHECK(image->files[3].pos == 2);
    r.out_write.reset();
    r.stdin_end.reset();
    CHECK(r.out.next() == std::optional<std::string>(std::to_string(r.pid) + " " + r.path + " c deputy"));
    CHECK(exit_of(r.pid) == "exit status 0");  // still our child
}

TEST_CASE("checkpoint, replace: the new program starts with every signal blocked and pending only those sent since "
          "the dump",
          "[checkpoint][root]") {
    if (!have_root()) return;
    auto [out_read, out_write] = pipe_pair();
    Lines out{std::move(out_read), {}};
    UniqueFd null = dev_null();
    auto pid = fork_process();
    REQUIRE(pid.ok());
    if (*pid == 0) {
        place_fds({{0, null.get()}, {1, out_write.get()}, {2, null.get()}});
        sigset_t usr1;
        sigemptyset(&usr1);
        sigaddset(&usr1, SIGUSR1);
        ::sigprocmask(SIG_BLOCK, &usr1, nullptr);
        ::raise(SIGUSR1);  // pending at the dump: the image's, delivered where it resumes
        if (::write(1, "ready\n", 6) != 6) ::_exit(1);
        for (;;) ::pause();
    }
    out_write.reset();
    REQUIRE(out.next() == std::optional<std::string>("ready"));

    CheckpointOptions replace;
    replace.after = CheckpointOptions::replace;
    // Not a shell: dash unblocks every signal as it starts.
    replace.replace_argv = {"/usr/bin/grep", "-E", "^(SigPnd|ShdPnd|SigBlk)", "/proc/self/status"};
    // Sent while it is stopped between its dump and the exec: SIGUSR2 (not blocked by the
    // program) must neither reach the old program nor kill the new one; it waits for it.
    replace.while_frozen = [&](const ProcessImage&) -> Result<void> { return send_signal(*pid, SIGUSR2); };
    auto image = checkpoint(*pid, replace);
    if (!image) FAIL(image.error().message());
    REQUIRE(image->pending.size() == 1);

    std::map<std::string, uint64_t> fields;
    for (const std::string& line : out.until_eof())
        fields[line.substr(0, line.find(':'))] = std::stoull(line.substr(line.find('\t') + 1), nullptr, 16);
    REQUIRE(fields.size() == 3);
    const uint64_t pending = fields["SigPnd"] | fields["ShdPnd"];
    auto bit = [](int sig) { return uint64_t(1) << (sig - 1); };
    CHECK((pending & bit(SIGUSR2)) != 0);
    CHECK((pending & bit(SIGUSR1)) == 0);
    CHECK(fields["SigBlk"] == ~(bit(SIGKILL) | bit(SIGSTOP)));
    CHECK(exit_of(*pid) == "exit status 0");
}

TEST_CASE("restore_into: a pre-copied process continues from an image of only the pages written since",
          "[checkpoint][root]") {
    if (!have_root()) return;
    const std::vector<std::string> args{"3", "16"};
    const std::vector<std::string> expected = uninterrupted_counter(args);

    auto [read_end, write_end] = pipe_pair();
    UniqueFd null = dev_null();
    const FdMap fds{{0, null.get()}, {1, write_end.get()}, {2, null.get()}};
    std::vector<std::string> argv{kPrograms + "/ckpt_counter_glibc"};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_t prog = spawn(fds, argv);
    Lines out{std::move(read_end), {}};
    std::vector<std::string> lines;
    while (lines.size() < 2) lines.push_back(out.next().value_or("?"));  // "started", "progress 1": it sleeps now

    // What a deputy does for a move home: hold the areas, receive them while the program runs.
    auto areas = private_readable_areas(prog);
    REQUIRE(areas.ok());
    std::vector<PageRun> runs;
    for (const PrivateArea& a : *areas) runs.push_back(a.run);
    auto [parked, held] = park_with_areas(fds, runs);
    REQUIRE_FALSE(held.empty());
    auto tracker = WriteTracker::start(prog, held);
    REQUIRE(tracker.ok());
    for (const PageRun& a : held) {
        std::string bytes(a.size(), '\0');
        REQUIRE(read_remote_with_holes(prog, RemotePtr{a.start}, bytes).ok());
        REQUIRE(write_remote(parked, RemotePtr{a.start}, bytes).ok());
    }
    CheckpointOptions options{CheckpointOptions::kill};
    options.precopied = &*tracker;
    // Read while it ran: the dump takes it as said (here, one area it says is huge).
    auto huge = huge_page_areas(prog);
    REQUIRE(huge.ok());
    options.huge_page_areas = std::vector<uint64_t>{held.front().start};
    auto saved = checkpoint(prog, options);
    REQUIRE(saved.ok());
    CHECK(exit_of(prog) == "killed by signal 9 (Killed)");
    uint64_t precopied = 0, carried = 0;
    for (const MemoryMapping& m : saved->mappings)
        if (m.precopied) precopied += m.size(), carried += m.saved_bytes();
    CHECK(precopied >= (16u << 20));
    CHECK(carried < precopied / 8);  // it slept: next to nothing was written since
    for (const MemoryMapping& m : saved->mappings) CHECK(m.huge_pages == (m.start == held.front().start));

    // Through a file: the runs and their bytes survive a save and a load.
    const std::string path = "/dev/shm/ssi-precopy-test-" + std::to_string(::getpid()) + ".img";
    REQUIRE(save_image(*saved, path).ok());
    auto loaded = load_image(path);
    ::unlink(path.c_str());
    REQUIRE(loaded.ok());

    // Only the process that holds the pre-copy can be rebuilt from it; another is untouched.
    CHECK_FALSE(restore(*loaded, {}).ok());
    pid_t bare = park(fds, false);
    RestoreOptions in_place;
    in_place.files = RestoreOptions::Files::in_place;
    auto refused = restore_into(bare, *loaded, in_place);
    REQUIRE_FALSE(refused.ok());
    CHECK_THAT(refused.error().message(), Catch::Contains("pre-copied"));
    check_running_untraced(bare);
    REQUIRE(send_signal(bare, SIGKILL).ok());
    CHECK(exit_of(bare) == "killed by signal 9 (Killed)");

    write_end.reset();
    restore_or_fail(parked, *loaded, in_place);
    for (auto& l : out.until_eof()) lines.push_back(l);
    CHECK(lines == expected);
    CHECK(exit_of(parked) == "exit status 0");
}
