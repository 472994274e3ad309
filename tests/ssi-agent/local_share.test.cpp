#include "ssi-agent/local_share.h"

#include "libssi/gpid.h"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <optional>

using namespace ssi;
using namespace ssi::agent;

namespace {

constexpr int32_t kSelf = 1;

// A child that waits on a pipe between its fork and its exec of sleep, as a shell's
// child does for a moment; killed and reaped by the destructor.
struct ChildBeforeExec {
    pid_t pid = -1;
    int go[2] = {-1, -1};
    ChildBeforeExec() {
        REQUIRE(::pipe(go) == 0);
        pid = ::fork();
        if (pid == 0) {
            char c;
            if (::read(go[0], &c, 1) == 1) ::execlp("sleep", "sleep", "4711.5", nullptr);
            ::_exit(127);
        }
        ::close(go[0]);
    }
    // Lets it exec, and waits (at most ~2 s) until it runs sleep.
    bool exec_now() {
        if (::write(go[1], "x", 1) != 1) return false;
        for (int i = 0; i < 200; ++i) {
            std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
            std::string name;
            if (std::getline(comm, name) && name == "sleep") return true;
            ::usleep(10'000);
        }
        return false;
    }
    ~ChildBeforeExec() {
        ::close(go[1]);
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
    }
};

std::optional<wire::ProcessRecord> upserted(const wire::TableDelta& delta, pid_t pid) {
    int64_t gpid = Gpid{kSelf, pid}.value();
    for (const auto& r : delta.upserts)
        if (r.gpid == gpid) return r;
    return std::nullopt;
}

}  // namespace

TEST_CASE("LocalShare: a fast scan shows a new process's exec", "[local_share]") {
    auto share = LocalShare::create(kSelf);
    REQUIRE(share);
    REQUIRE(share->scan(true));
    ChildBeforeExec child;

    auto first = share->scan(false);
    REQUIRE(first);
    auto row = upserted(*first, child.pid);
    REQUIRE(row);
    CHECK(row->cmd.find("sleep 4711.5") == std::string::npos);  // still the test binary

    REQUIRE(child.exec_now());
    auto second = share->scan(false);
    REQUIRE(second);
    row = upserted(*second, child.pid);
    REQUIRE(row);  // without re-reading the young, only the full refresh 2 s later shows it
    CHECK(row->cmd == "sleep 4711.5");
    CHECK(row->comm == "sleep");
    CHECK(share->rows().at(row->gpid).cmd == "sleep 4711.5");
}

TEST_CASE("LocalShare: a fast scan stops re-reading a process after its first scans", "[local_share]") {
    auto share = LocalShare::create(kSelf);
    REQUIRE(share);
    REQUIRE(share->scan(true));
    ChildBeforeExec child;
    REQUIRE(share->scan(false));
    for (unsigned i = 0; i < LocalShare::kYoungScans; ++i) REQUIRE(share->scan(false));

    // Old now: fast scans list it without reading it; the full refresh does.
    REQUIRE(child.exec_now());
    auto fast = share->scan(false);
    REQUIRE(fast);
    CHECK_FALSE(upserted(*fast, child.pid));
    auto full = share->scan(true);
    REQUIRE(full);
    auto row = upserted(*full, child.pid);
    REQUIRE(row);
    CHECK(row->cmd == "sleep 4711.5");
}
