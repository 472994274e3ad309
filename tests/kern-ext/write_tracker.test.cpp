// kern-ext/checkpoint/write_tracker: the pages a running process writes, found by
// asynchronous userfaultfd write-protection and PAGEMAP_SCAN. Needs root (ptrace).
#include "kern-ext/checkpoint/write_tracker.h"
#include "kern-ext/files.h"
#include "kern-ext/process.h"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

using namespace ssi;

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kPages = 64;

// A child that owns `area` (inherited at the same address) and, on each command byte,
// writes one page of it ('0' + page), maps the area anew ('n'), unmaps its upper half
// ('u') or reads page 5 ('r'), answering one byte once done.
struct Writer {
    char* area = nullptr;
    int commands[2]{-1, -1}, answers[2]{-1, -1};
    pid_t pid = 0;

    Writer() {
        area = static_cast<char*>(::mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        REQUIRE(area != MAP_FAILED);
        for (uint64_t i = 0; i < kPages / 2; ++i) area[i * kPage] = 1;  // half of it populated, half never touched
        REQUIRE(::pipe(commands) == 0);
        REQUIRE(::pipe(answers) == 0);
        auto forked = fork_process();
        REQUIRE(forked.ok());
        pid = *forked;
        if (pid == 0) {
            char c;
            volatile char sink = 0;
            while (::read(commands[0], &c, 1) == 1) {
                if (c == 'n') ::mmap(area, kPages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
                else if (c == 'u') ::munmap(area + kPages / 2 * kPage, kPages / 2 * kPage);
                else if (c == 'r') sink = sink + area[5 * kPage];
                else area[uint64_t(c - '0') * kPage + 7] = c;
                if (::write(answers[1], &c, 1) != 1) break;
            }
            ::_exit(0);
        }
    }
    ~Writer() {
        ::kill(pid, SIGKILL);
        (void)wait_process(pid);
        for (int fd : {commands[0], commands[1], answers[0], answers[1]}) ::close(fd);
        ::munmap(area, kPages * kPage);
    }
    void command(char c) {
        REQUIRE(::write(commands[1], &c, 1) == 1);
        REQUIRE(::read(answers[0], &c, 1) == 1);
    }
    PageRun whole() const { return {uint64_t(area), uint64_t(area) + kPages * kPage}; }
    PageRun page(uint64_t i) const { return {uint64_t(area) + i * kPage, uint64_t(area) + (i + 1) * kPage}; }
};

size_t open_fds(pid_t pid) {
    auto all = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd");
    return size_t(std::distance(begin(all), end(all)));
}

}  // namespace

TEST_CASE("write tracker: exactly the pages written since the last look, populated or not", "[checkpoint][root]") {
    if (::geteuid() != 0) return;
    Writer w;
    auto areas = private_readable_areas(w.pid);
    REQUIRE(areas.ok());
    // Ours, or a larger one it merged into, writable.
    CHECK(std::any_of(areas->begin(), areas->end(), [&](const PrivateArea& a) {
        return a.run.start <= w.whole().start && w.whole().end <= a.run.end && a.prot == (PROT_READ | PROT_WRITE);
    }));

    std::vector<PageRun> tracked{w.whole()};
    auto tracker = WriteTracker::start(w.pid, tracked);
    REQUIRE(tracker.ok());
    CHECK(tracker->tracks(w.whole()));
    auto none = tracker->take_written(w.whole());
    REQUIRE(none.ok());
    CHECK(none->empty());

    w.command('3');  // populated before
    w.command('4');  // its neighbour: one run
    w.command('r');  // a read is no write
    w.command('9');
    w.command('0' + 40);  // never touched before the tracker started
    auto written = tracker->take_written(w.whole());
    REQUIRE(written.ok());
    CHECK(*written == std::vector<PageRun>{{w.page(3).start, w.page(4).end}, w.page(9), w.page(40)});
    auto again = tracker->take_written(w.whole());  // protected again by the look
    REQUIRE(again.ok());
    CHECK(again->empty());
    w.command('4');
    written = tracker->take_written(w.whole());
    REQUIRE(written.ok());
    CHECK(*written == std::vector<PageRun>{w.page(4)});

    // Mapped anew: memory the tracker never protected cannot be vouched for.
    w.command('n');
    CHECK_FALSE(tracker->take_written(w.whole()).ok());
    tracker->forget(w.whole());
    CHECK_FALSE(tracker->tracks(w.whole()));
}

TEST_CASE("write tracker: an area unmapped since it was listed is left out, the others followed", "[checkpoint][root]") {
    if (::geteuid() != 0) return;
    Writer w;
    const PageRun lower{w.whole().start, w.page(kPages / 2).start}, upper{lower.end, w.whole().end};
    std::vector<PageRun> listed{lower, upper};
    w.command('u');  // the process runs on between the listing and the start
    auto tracker = WriteTracker::start(w.pid, listed);
    REQUIRE(tracker.ok());
    CHECK(tracker->areas() == std::vector<PageRun>{lower});
    w.command('3');
    auto written = tracker->take_written(lower);
    REQUIRE(written.ok());
    CHECK(*written == std::vector<PageRun>{w.page(3)});
}

TEST_CASE("write tracker: the process runs on untraced, and writes freely once the tracker is gone", "[checkpoint][root]") {
    if (::geteuid() != 0) return;
    Writer w;
    const size_t fds_before = open_fds(w.pid);
    {
        std::vector<PageRun> tracked{w.whole()};
        auto tracker = WriteTracker::start(w.pid, tracked);
        REQUIRE(tracker.ok());
        w.command('1');
    }
    auto status = read_file("/proc/" + std::to_string(w.pid) + "/status");
    REQUIRE(status.ok());
    CHECK_THAT(*status, Catch::Contains("TracerPid:\t0"));
    // Its own userfaultfd was closed in it: nothing of ours is left behind.
    CHECK(open_fds(w.pid) == fds_before);
    for (char c : {'2', '3', char('0' + 50)}) w.command(c);
}
