#include "libssi/signals.h"

#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <set>

using namespace ssi;

namespace {

int parsed(std::string_view text) {
    INFO("'" << text << "'");
    auto r = parse_signal(text);
    REQUIRE(r.ok());
    return *r;
}

void refused(std::string_view text) {
    INFO("'" << text << "'");
    auto r = parse_signal(text);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message(), Catch::Contains("unknown signal"));
}

}  // namespace

TEST_CASE("signals", "[signals]") {
    SECTION("a signal by name, with or without SIG, in any case, or by number") {
        for (auto text : {"TERM", "SIGTERM", "term", "sigterm", "Term", "15"}) CHECK(parsed(text) == SIGTERM);
        CHECK(parsed("KILL") == SIGKILL);
        CHECK(parsed("9") == SIGKILL);
        CHECK(parsed("HUP") == SIGHUP);
        CHECK(parsed("USR1") == SIGUSR1);
        CHECK(parsed("0") == 0);  // kill -0: existence check
    }

    SECTION("the aliases kill(1) accepts") {
        CHECK(parsed("IOT") == SIGABRT);
        CHECK(parsed("SIGIOT") == SIGABRT);
        CHECK(parsed("POLL") == SIGIO);
        CHECK(parsed("CLD") == SIGCHLD);
        CHECK(parsed("CHLD") == SIGCHLD);
    }

    SECTION("real-time signals") {
        CHECK(parsed("RTMIN") == SIGRTMIN);
        CHECK(parsed("RTMAX") == SIGRTMAX);
        CHECK(parsed("RTMIN+3") == SIGRTMIN + 3);
        CHECK(parsed("SIGRTMIN+3") == SIGRTMIN + 3);
        CHECK(parsed("rtmin+3") == SIGRTMIN + 3);
        CHECK(parsed("RTMAX-1") == SIGRTMAX - 1);
        CHECK(parsed("RTMIN+0") == SIGRTMIN);
        CHECK(parsed("RTMAX-0") == SIGRTMAX);
        // Spelled either way, the far end of the range.
        CHECK(parsed("RTMIN+" + std::to_string(SIGRTMAX - SIGRTMIN)) == SIGRTMAX);
        CHECK(parsed("RTMAX-" + std::to_string(SIGRTMAX - SIGRTMIN)) == SIGRTMIN);
        CHECK(parsed(std::to_string(SIGRTMAX)) == SIGRTMAX);
    }

    SECTION("bad names and numbers are refused") {
        for (auto text : {"", "SIG", "sig", "TERMX", "SIGSIGTERM", "FOO", "-1", "-15", "1.5", " 15", "15 ", "+15",
                          "RTMIN+", "RTMIN-1", "RTMAX+1", "RTMIN+-1", "RTMIN+x"})
            refused(text);
        refused(std::to_string(SIGRTMAX + 1));
        refused("RTMIN+" + std::to_string(SIGRTMAX - SIGRTMIN + 1));
        refused("RTMAX-" + std::to_string(SIGRTMAX - SIGRTMIN + 1));
        refused("99999999999999999999");
        CHECK_THAT(parse_signal("BOGUS").error().message(), Catch::Contains("BOGUS"));
    }

    SECTION("signal names") {
        CHECK(signal_name(SIGTERM) == "TERM");
        CHECK(signal_name(SIGKILL) == "KILL");
        CHECK(signal_name(SIGRTMIN) == "RTMIN");
        CHECK(signal_name(SIGRTMAX) == "RTMAX");
        CHECK(signal_name(SIGRTMIN + 3) == "RTMIN+3");
        CHECK(signal_name(SIGRTMAX - 1) == "RTMAX-1");
    }

    SECTION("every signal's name parses back to it") {
        auto all = all_signals();
        REQUIRE_FALSE(all.empty());
        CHECK(all.front() == 1);
        CHECK(all.back() == SIGRTMAX);
        CHECK(std::set<int>(all.begin(), all.end()).size() == all.size());
        CHECK(std::is_sorted(all.begin(), all.end()));
        std::set<std::string> names;
        for (int s : all) {
            std::string name = signal_name(s);
            INFO(s << " is " << name);
            CHECK(names.insert(name).second);  // names are unique
            CHECK(parsed(name) == s);
            CHECK(parsed("SIG" + name) == s);
            CHECK(parsed(std::to_string(s)) == s);
        }
        for (int s : {SIGHUP, SIGINT, SIGKILL, SIGTERM, SIGSTOP, SIGCONT, SIGCHLD, SIGUSR2})
            CHECK(std::find(all.begin(), all.end(), s) != all.end());
    }
}
