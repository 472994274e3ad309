// ssi-ps's options, selection, columns and output, without a cluster: the tool's
// non-main files are compiled into the unit tests.
#include "shell/ssi-ps/ps.h"

#include <catch2/catch.hpp>

using namespace ssi;
using namespace ssi::ps;

namespace {

Result<Options> parse(std::vector<const char*> args) {
    args.insert(args.begin(), "ssi-ps");
    return parse_options(int(args.size()), args.data());
}

std::vector<std::string> headers_of(const Options& o) {
    std::vector<std::string> h;
    for (const auto& c : o.columns) h.push_back(c.header);
    return h;
}

Record rec(int node, int pid, std::string user, uint32_t uid, std::string cmd, uint32_t pcpu_x10 = 0) {
    Record r;
    r.home = node;
    r.node = node;
    r.pid = pid;
    r.gpid = int64_t(node) * kGpidFactor + pid;
    r.ppid = 1;
    r.user = std::move(user);
    r.uid = uid;
    r.state = "S";
    r.pcpu_x10 = pcpu_x10;
    r.tty = "?";
    r.comm = cmd.substr(0, cmd.find(' '));
    r.cmd = std::move(cmd);
    r.cpu_ms = 61'000;
    return r;
}

std::vector<int64_t> gpids(const std::vector<const Record*>& rows) {
    std::vector<int64_t> out;
    for (const Record* r : rows) out.push_back(r->gpid);
    return out;
}

}  // namespace

TEST_CASE("ssi-ps options") {
    SECTION("default, -f, aux") {
        auto o = parse({});
        REQUIRE(o.ok());
        CHECK(headers_of(*o) == std::vector<std::string>{"GPID", "NODE", "PID", "TTY", "STAT", "TIME", "COMMAND"});
        CHECK_FALSE(o->has_selection());
        CHECK(o->headers);
        for (auto args : {std::vector<const char*>{"aux"}, {"-aux"}, {"axu"}}) {
            auto u = parse(args);
            REQUIRE(u.ok());
            CHECK(headers_of(*u) == std::vector<std::string>{"USER", "GPID", "NODE", "%CPU", "VSZ", "RSS", "TTY",
                                                             "STAT", "START", "TIME", "COMMAND"});
        }
        auto f = parse({"-ef"});
        REQUIRE(f.ok());
        CHECK(headers_of(*f).front() == "USER");
        CHECK(headers_of(*f).back() == "CMD");
        CHECK(parse({"-e"}).ok());
        CHECK(parse({"-A"}).ok());
        CHECK(parse({"ax"}).ok());
    }

    SECTION("-o, with ps's header syntax") {
        auto o = parse({"-o", "pid,user", "-o", "comm"});
        REQUIRE(o.ok());
        CHECK(headers_of(*o) == std::vector<std::string>{"PID", "USER", "COMMAND"});
        auto attached = parse({"-eopid=,args="});
        REQUIRE(attached.ok());
        CHECK(headers_of(*attached) == std::vector<std::string>{"", ""});
        auto renamed = parse({"-o", "gpid,pid=THEPID,comm"});  // procps 4: the header ends at a comma
        REQUIRE(renamed.ok());
        CHECK(headers_of(*renamed) == std::vector<std::string>{"GPID", "THEPID", "COMMAND"});
        auto bsd = parse({"axo", "stat,%cpu,state"});
        REQUIRE(bsd.ok());
        CHECK(headers_of(*bsd) == std::vector<std::string>{"STAT", "%CPU", "S"});
        auto format = parse({"--format=node,cmd"});
        REQUIRE(format.ok());
        CHECK(headers_of(*format) == std::vector<std::string>{"NODE", "CMD"});
    }

    SECTION("selection and sort") {
        auto o = parse({"-p", "3:4711,20000005", "-u", "root,1000", "-n", "2", "--sort=-%cpu,+pid", "-k", "node"});
        REQUIRE(o.ok());
        REQUIRE(o->gpids.size() == 2);
        CHECK(o->gpids[0] == Gpid{3, 4711});
        CHECK(o->gpids[1] == Gpid{2, 5});
        CHECK(o->users == std::vector<std::string>{"root", "1000"});
        CHECK(o->nodes == std::vector<int32_t>{2});
        REQUIRE(o->sort.size() == 3);
        CHECK((o->sort[0].col == Col::Pcpu && o->sort[0].descending));
        CHECK((o->sort[1].col == Col::Pid && !o->sort[1].descending));
        CHECK((o->sort[2].col == Col::Node && !o->sort[2].descending));
        CHECK(o->has_selection());
        auto attached = parse({"-p3:1", "--user=alice", "--node", "4", "--sort", "time"});
        REQUIRE(attached.ok());
        CHECK(attached->gpids.size() == 1);
        CHECK(attached->users.size() == 1);
        CHECK(attached->nodes == std::vector<int32_t>{4});
    }

    SECTION("flags") {
        auto o = parse({"--no-headers", "--json", "--fresh", "--timeout=250", "-w"});
        REQUIRE(o.ok());
        CHECK_FALSE(o->headers);
        CHECK(o->json);
        CHECK(o->fresh);
        CHECK(o->fresh_timeout_ms == 250);
        CHECK(o->wide);
        CHECK_FALSE(parse({"--no-header"})->headers);
        CHECK_FALSE(parse({"axh"})->headers);
        CHECK(parse({"--help"})->help);
    }

    SECTION("bad arguments say what is wrong") {
        auto message = [](std::vector<const char*> args) {
            auto o = parse(args);
            return o.ok() ? std::string("accepted") : o.error().message();
        };
        CHECK_THAT(message({"-o", "pid,nosuch"}), Catch::Contains("unknown column 'nosuch'"));
        CHECK_THAT(message({"-p", "abc"}), Catch::Contains("'abc' is not a gpid"));
        CHECK_THAT(message({"-p", "0:5"}), Catch::Contains("is not a gpid"));
        CHECK_THAT(message({"-n", "0"}), Catch::Contains("'0' is not a node id"));
        CHECK_THAT(message({"-n", "two"}), Catch::Contains("is not a node id"));
        CHECK_THAT(message({"--sort", "-bogus"}), Catch::Contains("unknown column 'bogus'"));
        CHECK_THAT(message({"--bogus"}), Catch::Contains("unknown option '--bogus'"));
        CHECK_THAT(message({"-q"}), Catch::Contains("unknown option '-q'"));
        CHECK_THAT(message({"axj"}), Catch::Contains("unsupported BSD option 'j'"));
        CHECK_THAT(message({"-o"}), Catch::Contains("needs an argument"));
        CHECK_THAT(message({"--sort"}), Catch::Contains("needs an argument"));
        CHECK_THAT(message({"--json=yes"}), Catch::Contains("takes no argument"));
        CHECK_THAT(message({"--timeout=0"}), Catch::Contains("milliseconds"));
    }
}

TEST_CASE("ssi-ps selection") {
    std::vector<Record> rows = {rec(2, 50, "bob", 1001, "vim b", 5), rec(1, 7, "root", 0, "init", 1),
                                rec(3, 9, "alice", 1000, "make -j8", 900), rec(1, 60, "alice", 1000, "bash", 3)};
    Options all = *parse({});
    CHECK(gpids(select_rows(rows, all)) == std::vector<int64_t>{10000007, 10000060, 20000050, 30000009});

    SECTION("selections add up, like ps") {
        CHECK(gpids(select_rows(rows, *parse({"-u", "alice"}))) == std::vector<int64_t>{10000060, 30000009});
        CHECK(gpids(select_rows(rows, *parse({"-u", "1001,0"}))) == std::vector<int64_t>{10000007, 20000050});
        CHECK(gpids(select_rows(rows, *parse({"-n", "1", "-p", "3:9"}))) ==
              std::vector<int64_t>{10000007, 10000060, 30000009});
        CHECK(select_rows(rows, *parse({"-p", "4:1"})).empty());
        CHECK(select_rows(rows, *parse({"-u", "nobody"})).empty());
    }

    SECTION("sort keys, stable over gpid order") {
        CHECK(gpids(select_rows(rows, *parse({"--sort=-%cpu"}))) ==
              std::vector<int64_t>{30000009, 20000050, 10000060, 10000007});
        CHECK(gpids(select_rows(rows, *parse({"--sort", "user,-pid"}))) ==
              std::vector<int64_t>{10000060, 30000009, 20000050, 10000007});
        CHECK(gpids(select_rows(rows, *parse({"--sort", "time"}))) ==
              std::vector<int64_t>{10000007, 10000060, 20000050, 30000009});
    }
}

TEST_CASE("ssi-ps columns") {
    SECTION("TIME is [DD-]HH:MM:SS, ELAPSED [[DD-]HH:]MM:SS") {
        auto cputime = [](uint64_t ms) { std::string s; format_cputime(s, ms); return s; };
        CHECK(cputime(0) == "00:00:00");
        CHECK(cputime(999) == "00:00:00");
        CHECK(cputime(3'723'000) == "01:02:03");
        CHECK(cputime((2 * 86400 + 5) * 1000ull) == "2-00:00:05");
        auto etime = [](int64_t s) { std::string out; format_etime(out, s); return out; };
        CHECK(etime(65) == "01:05");
        CHECK(etime(3600) == "01:00:00");
        CHECK(etime(86400 + 61) == "1-00:01:01");
        CHECK(etime(-5) == "00:00");
    }

    SECTION("START and STIME as ps writes them") {
        // Midday local time on some day, so "an hour ago" is the same day.
        struct tm noon {};
        noon.tm_year = 124;
        noon.tm_mon = 5;
        noon.tm_mday = 15;
        noon.tm_hour = 12;
        noon.tm_isdst = -1;
        int64_t now = int64_t(::mktime(&noon));
        TimeContext tc = TimeContext::at(now);
        auto start = [&](int64_t t) { std::string s; format_start(s, t, tc); return s; };
        auto stime = [&](int64_t t) { std::string s; format_stime(s, t, tc); return s; };
        CHECK(start(now - 3600) == "11:00");
        CHECK(start(now - 10 * 86400) == "Jun  5");
        CHECK(start(now - 20 * 86400) == "May 26");
        CHECK(stime(now - 3600) == "11:00");
        CHECK(stime(now - 10 * 86400) == "Jun05");
        CHECK(stime(now - 400 * 86400) == "2023");
    }

    SECTION("cells") {
        Record r = rec(3, 4711, "alice", 1000, "sleep 1000", 1234);
        r.state = "Ss+";
        r.cmd.clear();
        TimeContext tc = TimeContext::at(0);
        auto cell = [&](const char* name) {
            std::string s;
            format_cell(s, *column_by_name(name), r, tc);
            return s;
        };
        CHECK(cell("gpid") == "30004711");
        CHECK(cell("%cpu") == "123");  // ps drops the decimal from 100.0 up
        r.pcpu_x10 = 57;
        CHECK(cell("pcpu") == "5.7");
        CHECK(cell("stat") == "Ss+");
        CHECK(cell("state") == "S");
        CHECK(cell("args") == "[sleep]");
        CHECK(cell("uid") == "1000");
        CHECK_FALSE(column_by_name("nope").ok());
    }
}

TEST_CASE("ssi-ps output") {
    std::vector<Record> rows = {rec(1, 7, "root", 0, "init"), rec(12, 123456, "alice", 1000, "make -j8 all")};
    std::vector<const Record*> ptrs = {&rows[0], &rows[1]};
    TimeContext tc = TimeContext::at(0);

    SECTION("aligned table: numbers right, text left, last column unpadded") {
        Options o = *parse({"-o", "gpid,node,user,time,args"});
        CHECK(render_table(ptrs, o.columns, true, tc) ==
              "     GPID NODE USER      TIME COMMAND\n"
              " 10000007    1 root  00:01:01 init\n"
              "120123456   12 alice 00:01:01 make -j8 all\n");
        CHECK(render_table(ptrs, o.columns, false, tc) ==
              " 10000007    1 root  00:01:01 init\n"
              "120123456   12 alice 00:01:01 make -j8 all\n");
        Options bare = *parse({"-o", "pid=", "-o", "comm="});
        CHECK(render_table(ptrs, bare.columns, true, tc) == "     7 init\n123456 make\n");
        CHECK(render_table(ptrs, o.columns, true, tc, 20) ==
              "     GPID NODE USER \n"
              " 10000007    1 root \n"
              "120123456   12 alice\n");
        CHECK(render_table({}, o.columns, true, tc) == "GPID NODE USER TIME COMMAND\n");
    }

    SECTION("JSON lines, escaped") {
        rows[1].cmd = "say \"hi\"\\\n\x01 caf\xc3\xa9 \xff";
        std::string json = render_json(ptrs, tc);
        CHECK(json ==
              "{\"gpid\":10000007,\"node\":1,\"home\":1,\"pid\":7,\"ppid\":1,\"user\":\"root\",\"uid\":0,"
              "\"state\":\"S\",\"pcpu\":0.0,\"rss_kb\":0,\"vsz_kb\":0,\"start\":0,\"cpu_ms\":61000,"
              "\"time\":\"00:01:01\",\"tty\":\"?\",\"comm\":\"init\",\"cmd\":\"init\"}\n"
              "{\"gpid\":120123456,\"node\":12,\"home\":12,\"pid\":123456,\"ppid\":1,\"user\":\"alice\","
              "\"uid\":1000,\"state\":\"S\",\"pcpu\":0.0,\"rss_kb\":0,\"vsz_kb\":0,\"start\":0,\"cpu_ms\":61000,"
              "\"time\":\"00:01:01\",\"tty\":\"?\",\"comm\":\"make\","
              "\"cmd\":\"say \\\"hi\\\"\\\\\\n\\u0001 caf\xc3\xa9 \\ufffd\"}\n");
    }
}
