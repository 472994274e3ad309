// kern-ext/checkpoint: a process is checkpointed to a file, killed, restored from the
// file and continues where it was; what cannot be restored is refused and left running;
// damaged and foreign image files are refused; streamed (no copy of the memory in
// between) as without. Needs root (ptrace of a non-child with
// PTRACE_SEIZE, PR_SET_MM_MAP); the programs are tests/kern-ext/checkpoint_programs/*.c.
#include "kern-ext/checkpoint/checkpoint.h"
#include "kern-ext/checkpoint/remote_memory.h"
#include "tests/support/pipe_lines.h"
#include "kern-ext/files.h"
#include "kern-ext/pidfd.h"
#include "kern-ext/process.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>
#include <optional>
#include <string>
#include <vector>

using namespace ssi;

namespace {

const std::string kPrograms = SSI_CHECKPOINT_PROGRAMS;

bool have_root() {
    if (::geteuid() == 0) return true;
    WARN("not root: checkpoint tests skipped");
    return false;
}

// A test program whose stdout is a pipe we read. We keep the write end too, to hand it
// to the restored process: its output then continues on the same pipe.
struct Program {
    pid_t pid = 0;
    UniqueFd out;    // read end
    UniqueFd write;  // write end
    test::PipeLines lines;

    // The next line, or nullopt at end of file or after 30 s of silence.
    std::optional<std::string> line() { return lines.next(out.get()); }
    std::vector<std::string> lines_until_eof() {
        std::vector<std::string> all;
        while (auto l = line()) all.push_back(*l);
        return all;
    }
};

Program start(const std::vector<std::string>& argv) {
    auto pipe = make_pipe();
    REQUIRE(pipe.ok());
    Program p;
    p.out = std::move(pipe->first);
    p.write = std::move(pipe->second);
    auto pid = fork_process();
    REQUIRE(pid.ok());
    if (*pid == 0) {
        if (!duplicate_fd(p.write.get(), 1)) exit_child(120);
        exec_file(argv[0], argv);
        exit_child(121);
    }
    p.pid = *pid;
    return p;
}

// The glibc counter (4 steps, 64 MiB of heap) twice: a reference left alone, and one
// caught sleeping after its first progress line, to be checkpointed.
struct CounterPair {
    Program reference, prog;
    std::vector<std::string> lines;  // what prog printed before its checkpoint
};

CounterPair start_counter_pair() {
    const std::vector<std::string> argv = {kPrograms + "/ckpt_counter_glibc", "4", "64"};
    CounterPair c{start(argv), start(argv), {}};
    for (int i = 0; i < 2; ++i) {  // "started", "progress 1": then it sleeps
        auto l = c.prog.line();
        REQUIRE(l);
        c.lines.push_back(*l);
    }
    ::usleep(100 * 1000);  // well inside nanosleep
    return c;
}

// Once its restored copy writes on prog's pipe (and nothing else holds it): prog's
// lines, before and after, are the reference's, and the copy ends well.
void check_like_reference(CounterPair& c, pid_t restored) {
    c.prog.write.reset();
    for (auto& l : c.prog.lines_until_eof()) c.lines.push_back(l);
    c.reference.write.reset();
    std::vector<std::string> expected = c.reference.lines_until_eof();
    REQUIRE(expected.size() == 6);
    CHECK(c.lines == expected);
    auto status = wait_process(restored);
    REQUIRE(status.ok());
    CHECK(status->describe() == "exit status 0");
    REQUIRE(wait_process(c.reference.pid).ok());
}

// Replaced by `argv` once saved, its memory kept through the exec in a holder.
CheckpointOptions replaced_holding_memory(std::vector<std::string> argv) {
    CheckpointOptions options{CheckpointOptions::replace};
    options.stream_memory = true;
    options.hold_memory = true;
    options.replace_argv = std::move(argv);
    return options;
}

// Caught sleeping, saved, and replaced by a sleep: its memory stays in a holder.
ProcessImage replaced_by_sleep(Program& prog) {
    auto image = checkpoint(prog.pid, replaced_holding_memory({"/bin/sleep", "1000"}));
    if (!image) FAIL(image.error().message());
    REQUIRE(image->memory_from > 0);
    return std::move(*image);
}

std::string temp_image_path(const char* name) {
    return "/dev/shm/ssi-checkpoint-test-" + std::to_string(::getpid()) + "-" + name + ".img";
}

double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// The tiny program's whole output: progress 1..200 once each, in order, then the sum.
void check_tiny_output(const std::vector<std::string>& lines) {
    const unsigned long total = 200ul << 21;
    REQUIRE(lines.size() == 201);
    for (size_t i = 0; i < 200; ++i) REQUIRE(lines[i] == "progress " + std::to_string(i + 1));
    CHECK(lines[200] == "done " + std::to_string(total * (total + 1) / 2));
}

}  // namespace

TEST_CASE("checkpoint: a tiny program without libc resumes counting after restore", "[checkpoint][root]") {
    if (!have_root()) return;
    Program prog = start({kPrograms + "/ckpt_counter_tiny"});
    std::vector<std::string> lines;
    while (lines.size() < 20) {
        auto l = prog.line();
        REQUIRE(l);
        lines.push_back(*l);
    }

    auto image = checkpoint(prog.pid, {CheckpointOptions::kill});
    REQUIRE(image.ok());
    auto original = wait_process(prog.pid);
    REQUIRE(original.ok());
    CHECK((original->signaled && original->signal == SIGKILL));

    std::string path = temp_image_path("tiny");
    REQUIRE(save_image(*image, path).ok());
    auto loaded = load_image(path);
    ::unlink(path.c_str());
    REQUIRE(loaded.ok());

    auto restored = restore(*loaded, {{{1, prog.write.get()}}});
    if (!restored) FAIL(restored.error().message());
    prog.write.reset();
    for (auto& l : prog.lines_until_eof()) lines.push_back(l);
    check_tiny_output(lines);
    auto status = wait_process(*restored);
    REQUIRE(status.ok());
    CHECK(status->describe() == "exit status 0");
}

TEST_CASE("checkpoint: a glibc program sleeping with 64 MiB of heap restores and prints what an uninterrupted run prints",
          "[checkpoint][root]") {
    if (!have_root()) return;
    CounterPair c = start_counter_pair();
    Program& prog = c.prog;

    auto t0 = std::chrono::steady_clock::now();
    auto image = checkpoint(prog.pid, {CheckpointOptions::kill});
    double checkpoint_ms = ms_since(t0);
    if (!image) FAIL(image.error().message());
    REQUIRE(wait_process(prog.pid).ok());

    std::string path = temp_image_path("glibc");
    t0 = std::chrono::steady_clock::now();
    REQUIRE(save_image(*image, path).ok());
    double save_ms = ms_since(t0);
    auto size = stat_path(path);
    image = Error{};  // free the first image before loading the second
    t0 = std::chrono::steady_clock::now();
    auto loaded = load_image(path);
    double load_ms = ms_since(t0);
    ::unlink(path.c_str());
    REQUIRE(loaded.ok());

    t0 = std::chrono::steady_clock::now();
    auto restored = restore(*loaded, {{{1, prog.write.get()}}});
    double restore_ms = ms_since(t0);
    if (!restored) FAIL(restored.error().message());
    WARN("64 MiB glibc process: checkpoint (frozen) " << checkpoint_ms << " ms, save " << save_ms << " ms, load "
                                                      << load_ms << " ms, restore " << restore_ms << " ms, image "
                                                      << (size.ok() ? size->st_size >> 20 : -1) << " MiB");
    check_like_reference(c, *restored);
}

TEST_CASE("checkpoint, replace, hold_memory: after its exec, the program restored from its memory's holder prints "
          "what an uninterrupted run prints",
          "[checkpoint][root]") {
    if (!have_root()) return;
    CounterPair c = start_counter_pair();
    Program& prog = c.prog;

    ProcessImage image = replaced_by_sleep(prog);
    // Streamed from the holder, the memory section checks out as from a file.
    auto source = stream_from_holder(image);
    REQUIRE(source.ok());
    auto restored = restore(image, {{{1, prog.write.get()}}});
    if (!restored) FAIL(restored.error().message());
    // The program that took its place (and the holder with it) goes; the restored one goes on.
    REQUIRE(::kill(prog.pid, SIGKILL) == 0);
    REQUIRE(wait_process(prog.pid).ok());
    check_like_reference(c, *restored);
}

// A post-copy's filler as a migration's target has one (ssi-remote/postcopy.h), with the
// holder's memory at hand instead of over a link: the pages waited for first, a 64 KiB
// block around each; after `faults_only`, the rest. How many waits it served and how many
// of them were for zero pages are counted.
struct TestFiller {
    std::thread thread;
    int faults = 0, zeroed = 0;
    std::string error;

    void start(LazyMemory memory, pid_t holder, std::chrono::milliseconds faults_only) {
        thread = std::thread([this, m = std::move(memory), holder, faults_only]() mutable {
            std::set<uint64_t> done;  // 64 KiB blocks filled
            std::vector<char> buf(1 << 20);
            auto fill = [&](uint64_t block, uint64_t end) -> Result<void> {
                if (!done.insert(block).second) return ok();
                const uint64_t n = std::min<uint64_t>(64 << 10, end - block);
                TRY(read_remote(holder, RemotePtr{block}, {buf.data(), n}));
                return m.fill(block, {buf.data(), n});
            };
            auto area_of = [&](uint64_t at) {
                for (const PageRun& a : m.areas())
                    if (at >= a.start && at < a.end) return a;
                return PageRun{};
            };
            auto serve_faults = [&]() -> Result<void> {
                while (auto page = TRY(m.next_fault())) {
                    ++faults;
                    PageRun a = area_of(*page);
                    if (a.size() == 0) return make_error("a fault outside the registered areas");
                    uint64_t block = a.start + ((*page - a.start) & ~uint64_t((64 << 10) - 1));
                    TRY(fill(block, a.end));  // unless filled already
                    if (TRY(m.settle(*page))) ++zeroed;
                }
                return ok();
            };
            auto run = [&]() -> Result<void> {
                const auto until = std::chrono::steady_clock::now() + faults_only;
                while (std::chrono::steady_clock::now() < until) {
                    pollfd p{m.fd(), POLLIN, 0};
                    (void)::poll(&p, 1, 10);
                    TRY(serve_faults());
                }
                for (const PageRun& a : m.areas())
                    for (uint64_t at = a.start; at < a.end; at += 64 << 10) {
                        TRY(fill(at, a.end));
                        TRY(serve_faults());
                    }
                m.finish();
                return ok();
            };
            if (auto r = run(); !r) error = r.error().message();
        });
    }
};

TEST_CASE("checkpoint, lazy_memory: a program rebuilt before its memory is there runs as its pages are filled on "
          "demand, and prints what an uninterrupted run prints",
          "[checkpoint][root]") {
    if (!have_root()) return;
    CounterPair c = start_counter_pair();
    Program& prog = c.prog;
    ProcessImage image = replaced_by_sleep(prog);
    const pid_t holder = image.memory_from;

    TestFiller filler;
    RestoreOptions lazy{{{1, prog.write.get()}}};
    lazy.lazy_memory = [&](LazyMemory m) -> Result<void> {
        filler.start(std::move(m), holder, std::chrono::milliseconds(1000));
        return ok();
    };
    auto restored = restore(image, lazy);
    if (!restored) FAIL(restored.error().message());
    // Read from outside, as a supervisor reads a forwarded call's buffer: the lowest page
    // of its stack, never touched, waits for the filler like the program's own touches,
    // which finds nothing to copy there and maps it as zero.
    auto stack = std::find_if(image.mappings.begin(), image.mappings.end(),
                              [](const MemoryMapping& m) { return m.path == "[stack]"; });
    REQUIRE(stack != image.mappings.end());
    std::string lowest(4096, 'x');
    REQUIRE(read_remote(*restored, RemotePtr{stack->start}, {lowest.data(), lowest.size()}).ok());
    CHECK(lowest == std::string(4096, '\0'));
    filler.thread.join();
    CHECK(filler.error == "");
    // Its first steps waited for pages (the rebuild's own rseq registration, the stack at
    // its resume), and that zero page was mapped as such.
    CHECK(filler.faults > 0);
    CHECK(filler.zeroed >= 1);
    WARN("post-copied 64 MiB counter: " << filler.faults << " pages waited for, " << filler.zeroed << " mapped as zero");
    REQUIRE(::kill(prog.pid, SIGKILL) == 0);
    REQUIRE(wait_process(prog.pid).ok());
    check_like_reference(c, *restored);
}

// All of `in`, read as a restore or an image server reads it.
std::string read_all(ImageSource& in) {
    std::string out;
    char buf[1 << 16];
    for (;;) {
        auto n = in.read_some(buf);
        REQUIRE(n.ok());
        if (*n == 0) return out;
        out.append(buf, *n);
    }
}

TEST_CASE("checkpoint, replace, hold_memory: a head file and the holder are the image a file would hold, byte for "
          "byte; the program is rebuilt in the process that replaced it, which ends and reaps the holder",
          "[checkpoint][root]") {
    if (!have_root()) return;
    CounterPair c = start_counter_pair();
    Program& prog = c.prog;
    const std::string path = temp_image_path("held"), head = path + ".head";

    // Replaced by a program that parks (one thread, every signal blocked, in pause()), as
    // a deputy does; only the image's head is written while the process is stopped.
    CheckpointOptions options = replaced_holding_memory(
        {"/usr/bin/python3", "-c",
         "import signal; signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals()); signal.pause()"});
    options.while_frozen = [&](const ProcessImage& im) -> Result<void> {
        UniqueFd fd = TRY(open_file(head, O_WRONLY | O_CREAT | O_TRUNC, 0600));
        FdImageSink sink(fd.get());
        return save_image_head_to(im, sink);
    };
    auto image = checkpoint(prog.pid, options);
    if (!image) FAIL(image.error().message());
    const pid_t holder = image->memory_from;
    REQUIRE(holder > 0);

    REQUIRE(save_image(*image, path).ok());  // the whole image, its memory read from the holder
    auto whole = read_file(path);
    REQUIRE(whole.ok());
    auto head_fd = open_file(head, O_RDONLY);
    REQUIRE(head_fd.ok());
    auto held = stream_held_image(head_fd->get(), head, holder);
    if (!held) FAIL(held.error().message());
    CHECK(held->size == whole->size());
    const bool same = read_all(*held->bytes) == *whole;  // (64 MiB: not in a failure's message)
    CHECK(same);
    ::unlink(path.c_str());

    // A head with anything after it is not one.
    {
        auto longer = open_file(path + ".long", O_RDWR | O_CREAT | O_TRUNC, 0600);
        REQUIRE(longer.ok());
        auto bytes = read_file(head);
        REQUIRE(bytes.ok());
        REQUIRE(write_all(longer->get(), *bytes + "x").ok());
        auto refused = stream_held_image(longer->get(), path + ".long", holder);
        ::unlink((path + ".long").c_str());
        REQUIRE_FALSE(refused.ok());
        CHECK_THAT(refused.error().message(), Catch::Contains("not an image's head"));
    }

    for (int i = 0; i < 3000; ++i) {  // the replacement parks
        auto sc = read_file("/proc/" + std::to_string(prog.pid) + "/syscall");
        if (sc && sc->rfind("34 ", 0) == 0) break;
        ::usleep(1000);
    }
    std::unique_ptr<ImageSource> source;
    auto loaded = load_held_image(head_fd->get(), head, holder, source);
    if (!loaded) FAIL(loaded.error().message());
    RestoreOptions into;
    into.files = RestoreOptions::Files::in_place;
    into.end_holder = true;
    auto restored = restore_into(prog.pid, *loaded, into);
    ::unlink(head.c_str());
    if (!restored) FAIL(restored.error().message());
    // The holder is gone, reaped: the rebuilt program has no child, no zombie.
    CHECK(::kill(holder, 0) < 0);
    auto kids = read_file("/proc/" + std::to_string(prog.pid) + "/task/" + std::to_string(prog.pid) + "/children");
    REQUIRE(kids.ok());
    CHECK(kids->find_first_not_of(" \n") == std::string::npos);
    check_like_reference(c, prog.pid);
}

TEST_CASE("checkpoint, streamed: memory goes from the stopped process into the file and from the file into the "
          "restored process, and a damaged memory section fails the restore",
          "[checkpoint][root]") {
    if (!have_root()) return;

    SECTION("a glibc program with 64 MiB of heap prints what an uninterrupted run prints") {
        CounterPair c = start_counter_pair();
        Program& prog = c.prog;

        std::string path = temp_image_path("streamed");
        CheckpointOptions options{CheckpointOptions::kill};
        options.stream_memory = true;
        options.while_frozen = [&](const ProcessImage& im) { return save_image(im, path); };
        auto image = checkpoint(prog.pid, options);
        if (!image) FAIL(image.error().message());
        REQUIRE(wait_process(prog.pid).ok());
        // Its contents were the stopped process's: saved later, there are none (and no
        // half file is left).
        CHECK(save_image(*image, path + ".again").error().message().find("no contents") != std::string::npos);
        CHECK_FALSE(stat_path(path + ".again.tmp").ok());

        auto fd = open_file(path, O_RDONLY);
        REQUIRE(fd.ok());
        FdImageSource source(fd->get());
        auto loaded = load_image_streamed(source, path);
        REQUIRE(loaded.ok());
        for (const MemoryMapping& m : loaded->mappings) CHECK(m.contents.size() == 0);
        auto restored = restore(*loaded, {{{1, prog.write.get()}}});
        ::unlink(path.c_str());
        if (!restored) FAIL(restored.error().message());
        check_like_reference(c, *restored);
    }

    SECTION("a byte changed in the memory section is noticed at its end, and the half-built process killed") {
        Program prog = start({kPrograms + "/ckpt_counter_tiny"});
        REQUIRE(prog.line());
        std::string path = temp_image_path("streamed-damaged");
        CheckpointOptions options;  // resume
        options.stream_memory = true;
        options.while_frozen = [&](const ProcessImage& im) { return save_image(im, path); };
        REQUIRE(checkpoint(prog.pid, options).ok());
        REQUIRE(::kill(prog.pid, SIGKILL) == 0);
        REQUIRE(wait_process(prog.pid).ok());

        auto bytes = read_file(path);
        REQUIRE(bytes.ok());
        std::string damaged = *bytes;
        damaged[damaged.size() - 8 - 100] ^= 0x10;  // in the last mapping's contents, before the checksum
        REQUIRE(write_file_atomic(path, damaged, 0600).ok());
        auto fd = open_file(path, O_RDONLY);
        REQUIRE(fd.ok());
        FdImageSource source(fd->get());
        auto loaded = load_image_streamed(source, path);
        ::unlink(path.c_str());
        REQUIRE(loaded.ok());  // the headers are whole
        auto restored = restore(*loaded, {{{1, prog.write.get()}}});
        REQUIRE_FALSE(restored.ok());
        CHECK_THAT(restored.error().message(), Catch::Contains("checksum mismatch in section memory"));
    }
}

TEST_CASE("checkpoint: refusals leave the process running, damaged and foreign images are refused",
          "[checkpoint][root]") {
    if (!have_root()) return;

    SECTION("a two-thread process is refused, naming threads, and keeps running") {
        Program prog = start({kPrograms + "/ckpt_two_threads"});
        REQUIRE(prog.line() == std::optional<std::string>("ready"));
        auto image = checkpoint(prog.pid);
        REQUIRE_FALSE(image.ok());
        CHECK_THAT(image.error().message(), Catch::Contains("threads"));
        auto status = read_file("/proc/" + std::to_string(prog.pid) + "/status");
        REQUIRE(status.ok());
        // Not stopped (T) nor held by a tracer (t): running or sleeping as before.
        CHECK_THAT(*status, !Catch::Contains("State:\tT") && !Catch::Contains("State:\tt"));
        CHECK_THAT(*status, Catch::Contains("TracerPid:\t0"));
        REQUIRE(send_signal(prog.pid, SIGKILL).ok());
        REQUIRE(wait_process(prog.pid).ok());
    }

    // What this version cannot restore is refused before anything is touched, naming why.
    auto refused_and_untouched = [](const std::string& script, const std::vector<std::string>& extra,
                                    const char* reason) {
        std::vector<std::string> argv = {"/usr/bin/python3", "-c", script};
        argv.insert(argv.end(), extra.begin(), extra.end());
        Program prog = start(argv);
        REQUIRE(prog.line() == std::optional<std::string>("ready"));
        auto image = checkpoint(prog.pid);
        REQUIRE_FALSE(image.ok());
        CHECK_THAT(image.error().message(), Catch::Contains(reason));
        auto status = read_file("/proc/" + std::to_string(prog.pid) + "/status");
        REQUIRE(status.ok());
        CHECK_THAT(*status, !Catch::Contains("State:\tT") && !Catch::Contains("State:\tt"));
        REQUIRE(send_signal(prog.pid, SIGKILL).ok());
        REQUIRE(wait_process(prog.pid).ok());
    };
    SECTION("a shared writable mapping is refused") {
        refused_and_untouched("import mmap, time\nm = mmap.mmap(-1, 4096)\nm[0] = 1\n"
                              "print('ready', flush=True)\ntime.sleep(30)",
                              {}, "shared writable mapping");
    }
    SECTION("SysV shared memory is refused") {
        refused_and_untouched("import ctypes, time\nlibc = ctypes.CDLL(None)\nlibc.shmat.restype = ctypes.c_void_p\n"
                              "i = libc.shmget(0, 4096, 0o1600)\nassert libc.shmat(i, None, 0) not in (None, -1)\n"
                              "libc.shmctl(i, 0, None)\nprint('ready', flush=True)\ntime.sleep(30)",
                              {}, "SysV shared memory");
    }
    SECTION("a process traced by someone else is refused") {
        Program target = start({"/usr/bin/python3", "-c", "import time\nprint('ready', flush=True)\ntime.sleep(30)"});
        REQUIRE(target.line() == std::optional<std::string>("ready"));
        // Another process seizes it (PTRACE_SEIZE = 0x4206) and holds on.
        Program tracer = start({"/usr/bin/python3", "-c",
                                "import ctypes, sys, time\nlibc = ctypes.CDLL(None)\n"
                                "print('ready' if libc.ptrace(0x4206, int(sys.argv[1]), 0, 0) == 0 else 'failed', flush=True)\n"
                                "time.sleep(30)",
                                std::to_string(target.pid)});
        REQUIRE(tracer.line() == std::optional<std::string>("ready"));
        auto image = checkpoint(target.pid);
        REQUIRE_FALSE(image.ok());
        CHECK_THAT(image.error().message(), Catch::Contains("being traced"));
        REQUIRE(send_signal(tracer.pid, SIGKILL).ok());
        REQUIRE(wait_process(tracer.pid).ok());
        REQUIRE(send_signal(target.pid, SIGKILL).ok());
        REQUIRE(wait_process(target.pid).ok());
    }

    SECTION("checkpoint with resume lets the process finish; a damaged copy of its image is refused") {
        Program prog = start({kPrograms + "/ckpt_counter_tiny"});
        std::vector<std::string> lines;
        for (int i = 0; i < 5; ++i) lines.push_back(prog.line().value_or("?"));
        auto image = checkpoint(prog.pid);  // resume
        REQUIRE(image.ok());
        std::string path = temp_image_path("damaged");
        REQUIRE(save_image(*image, path).ok());

        prog.write.reset();
        for (auto& l : prog.lines_until_eof()) lines.push_back(l);
        check_tiny_output(lines);
        REQUIRE(wait_process(prog.pid).ok());

        REQUIRE(load_image(path).ok());
        auto bytes = read_file(path);
        REQUIRE(bytes.ok());
        for (size_t at : {size_t(200), bytes->size() / 2, bytes->size() - 1}) {
            std::string damaged = *bytes;
            damaged[at] = char(damaged[at] ^ 0x10);
            REQUIRE(write_file_atomic(path, damaged, 0600).ok());
            auto loaded = load_image(path);
            REQUIRE_FALSE(loaded.ok());
            CHECK_THAT(loaded.error().message(), Catch::Contains("checksum"));
        }
        REQUIRE(write_file_atomic(path, bytes->substr(0, bytes->size() - 4096), 0600).ok());
        auto truncated = load_image(path);
        REQUIRE_FALSE(truncated.ok());
        CHECK_THAT(truncated.error().message(), Catch::Contains("truncated"));
        ::unlink(path.c_str());
    }

    SECTION("a foreign file is refused") {
        std::string path = temp_image_path("foreign");
        REQUIRE(write_file_atomic(path, std::string(4096, 'x'), 0600).ok());
        auto loaded = load_image(path);
        ::unlink(path.c_str());
        REQUIRE_FALSE(loaded.ok());
        CHECK_THAT(loaded.error().message(), Catch::Contains("not an ssi checkpoint image"));
    }
}

TEST_CASE("image file: open files round-trip", "[checkpoint]") {
    ProcessImage image;
    image.files = {{0, false, false, O_RDWR, 0, OpenFile::Kind::terminal, "/dev/pts/3"},
                   {3, true, false, O_RDONLY | O_APPEND, 12345678901, OpenFile::Kind::regular, "/home/u/data"},
                   {7, false, true, O_WRONLY, 5, OpenFile::Kind::regular, "/tmp/x (deleted)"},
                   {9, true, false, O_RDONLY, 0, OpenFile::Kind::socket, "socket:[42]"}};
    std::string path = "/dev/shm/ssi-into-test-" + std::to_string(::getpid()) + "-roundtrip.img";
    REQUIRE(save_image(image, path).ok());
    auto loaded = load_image(path);
    ::unlink(path.c_str());
    REQUIRE(loaded.ok());
    REQUIRE(loaded->files.size() == image.files.size());
    for (size_t i = 0; i < image.files.size(); ++i) {
        const OpenFile &a = image.files[i], &b = loaded->files[i];
        CHECK((a.fd == b.fd && a.cloexec == b.cloexec && a.deleted == b.deleted && a.flags == b.flags &&
               a.pos == b.pos && a.kind == b.kind && a.path == b.path));
    }
}
