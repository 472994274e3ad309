#include "kern-ext/proc_sampler.h"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <fstream>

using namespace ssi;

namespace {

const ProcessSample* find(const std::vector<ProcessSample>& samples, pid_t pid) {
    auto it = std::find_if(samples.begin(), samples.end(), [&](const ProcessSample& s) { return s.pid == pid; });
    return it == samples.end() ? nullptr : &*it;
}

// This process's argv, as /proc has it, joined the way ps shows it.
std::string own_cmdline() {
    std::ifstream in("/proc/self/cmdline", std::ios::binary);
    std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!raw.empty() && raw.back() == '\0') raw.pop_back();
    std::replace(raw.begin(), raw.end(), '\0', ' ');
    return raw;
}

// A child sleeping with a distinctive argv, killed and reaped by the destructor.
struct SleepingChild {
    pid_t pid = -1;
    SleepingChild() {
        pid = ::fork();
        if (pid == 0) {
            ::execlp("sleep", "sleep", "4711.25", nullptr);
            ::_exit(127);
        }
    }
    void reap() {
        if (pid <= 0) return;
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        pid = -1;
    }
    ~SleepingChild() { reap(); }
};

// Waits until the child runs sleep and is asleep in it (just after its exec it is still
// running, 'R'), at most ~2 s.
bool wait_for_sleep(ProcessSampler& sampler, pid_t pid) {
    for (int i = 0; i < 200; ++i) {
        auto s = sampler.sample(std::span<const pid_t>(&pid, 1));
        if (s && s->size() == 1 && (*s)[0].comm == "sleep" && (*s)[0].state[0] == 'S') return true;
        ::usleep(10'000);
    }
    return false;
}

}  // namespace

TEST_CASE("ProcessSampler") {
    auto sampler = ProcessSampler::create();
    REQUIRE(sampler.ok());

    SECTION("sees its own process") {
        auto all = sampler->sample_all();
        REQUIRE(all.ok());
        CHECK(all->size() > 1);
        const ProcessSample* self = find(*all, ::getpid());
        REQUIRE(self);
        CHECK(self->ppid == ::getppid());
        CHECK(self->uid == ::getuid());
        CHECK(self->euid == ::geteuid());
        CHECK(self->cmdline == own_cmdline());
        CHECK_FALSE(self->user.empty());
        CHECK_FALSE(self->tty.empty());
        CHECK(self->rss_kb > 0);
        CHECK(self->vsz_kb >= self->rss_kb);
        CHECK(std::string("RS").find(self->state[0]) != std::string::npos);
        int64_t now = std::time(nullptr);
        CHECK(self->start_time <= now);
        CHECK(self->start_time > now - 3600);
        CHECK(self->pcpu_x10 <= 2000);
    }

    SECTION("a child shows with its argv and state, and is gone once reaped") {
        SleepingChild child;
        REQUIRE(child.pid > 0);
        REQUIRE(wait_for_sleep(*sampler, child.pid));
        auto all = sampler->sample_all();
        REQUIRE(all.ok());
        const ProcessSample* s = find(*all, child.pid);
        REQUIRE(s);
        CHECK(s->cmdline == "sleep 4711.25");
        CHECK(s->comm == "sleep");
        CHECK(s->ppid == ::getpid());
        CHECK(s->state[0] == 'S');

        pid_t pids[] = {child.pid, ::getpid()};
        auto two = sampler->sample(pids);
        REQUIRE(two.ok());
        CHECK(two->size() == 2);

        child.reap();
        auto after = sampler->sample(pids);
        REQUIRE(after.ok());
        REQUIRE(after->size() == 1);
        CHECK((*after)[0].pid == ::getpid());
        auto listed = sampler->list_pids();
        REQUIRE(listed.ok());
        CHECK(std::find(listed->begin(), listed->end(), pids[0]) == listed->end());
    }

    SECTION("kernel threads show as [comm], like ps") {
        pid_t kthreadd = 2;
        auto s = sampler->sample(std::span<const pid_t>(&kthreadd, 1));
        REQUIRE(s.ok());
        if (!s->empty() && (*s)[0].comm == "kthreadd") CHECK((*s)[0].cmdline == "[kthreadd]");
    }

    SECTION("list_pids lists this process, as many as sample_all") {
        auto pids = sampler->list_pids();
        REQUIRE(pids.ok());
        CHECK(std::find(pids->begin(), pids->end(), ::getpid()) != pids->end());
        CHECK(std::find(pids->begin(), pids->end(), 1) != pids->end());
        auto again = sampler->list_pids();  // the kept fd rewinds
        REQUIRE(again.ok());
        auto all = sampler->sample_all();
        REQUIRE(all.ok());
        auto diff = long(pids->size()) - long(all->size());
        CHECK(std::abs(diff) < 10);
    }

    SECTION("asking for more pids than libproc2 takes at once is split") {
        std::vector<pid_t> many(600, ::getpid());
        many.push_back(999'999'99);
        auto s = sampler->sample(many);
        REQUIRE(s.ok());
        CHECK(!s->empty());
        CHECK(find(*s, ::getpid()));
    }
}
