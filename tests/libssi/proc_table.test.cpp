#include "libssi/proc_table.h"

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

using namespace ssi;
namespace bip = boost::interprocess;

namespace {

// A name of its own per test, removed when the test ends.
struct ShmName {
    std::string name;
    explicit ShmName(const char* what) : name("ssi-test-" + std::string(what) + "-" + std::to_string(::getpid())) {
        bip::shared_memory_object::remove(name.c_str());
    }
    ~ShmName() { bip::shared_memory_object::remove(name.c_str()); }
};

wire::ProcessRecord record(int32_t pid, std::string cmd) {
    wire::ProcessRecord r;
    r.gpid = 20'000'000 + pid;
    r.node = 3;
    r.home = 2;
    r.pid = pid;
    r.ppid = 1;
    r.uid = 1000;
    r.user = "alice";
    r.state = "Ss+";
    r.pcpu_x10 = 123;
    r.rss_kb = 4096;
    r.vsz_kb = 1 << 20;
    r.start_time = 1'700'000'000;
    r.cpu_ms = 98765;
    r.tty = "pts/7";
    r.comm = "sleep";
    r.cmd = std::move(cmd);
    return r;
}

// Overwrites `bytes` of the table at `offset` through a writable mapping of our own.
void scribble(const std::string& name, size_t offset, size_t bytes, unsigned char value) {
    bip::shared_memory_object shm(bip::open_only, name.c_str(), bip::read_write);
    bip::mapped_region region(shm, bip::read_write, bip::offset_t(offset), bytes);
    std::memset(region.get_address(), value, bytes);
}

}  // namespace

TEST_CASE("ProcTable") {
    SECTION("round trip of rows, long strings and down nodes") {
        ShmName shm("roundtrip");
        auto writer = ProcTableWriter::create(shm.name, 3);
        REQUIRE(writer.ok());
        std::string long_cmd = "python3 " + std::string(5000, 'x');
        std::string utf8_cmd = std::string(1022, 'a') + "\xc3\xa9";  // é straddles the 1023-byte cut
        std::vector<wire::ProcessRecord> rows = {record(100, "sleep 1000"), record(101, long_cmd),
                                                 record(102, utf8_cmd), record(103, "")};
        rows[3].user = std::string(200, 'u');
        REQUIRE(writer->publish(rows, {2, 5}).ok());

        auto reader = ProcTableReader::open(shm.name);
        REQUIRE(reader.ok());
        auto snap = reader->read();
        REQUIRE(snap.ok());
        CHECK(snap->local_node == 3);
        CHECK(snap->down_nodes == std::vector<int32_t>{2, 5});
        CHECK(snap->published_at_ms > 0);
        REQUIRE(snap->processes.size() == 4);
        const auto& r0 = snap->processes[0];
        CHECK(r0.gpid == 20'000'100);
        CHECK(r0.node == 3);
        CHECK(r0.home == 2);
        CHECK(r0.pid == 100);
        CHECK(r0.ppid == 1);
        CHECK(r0.uid == 1000);
        CHECK(r0.user == "alice");
        CHECK(r0.state == "Ss+");
        CHECK(r0.pcpu_x10 == 123);
        CHECK(r0.rss_kb == 4096);
        CHECK(r0.vsz_kb == 1 << 20);
        CHECK(r0.start_time == 1'700'000'000);
        CHECK(r0.cpu_ms == 98765);
        CHECK(r0.tty == "pts/7");
        CHECK(r0.comm == "sleep");
        CHECK(r0.cmd == "sleep 1000");
        CHECK(snap->processes[1].cmd == long_cmd.substr(0, 1023));
        CHECK(snap->processes[2].cmd == std::string(1022, 'a'));  // cut before the é, not inside it
        CHECK(snap->processes[3].cmd.empty());
        CHECK(snap->processes[3].user == std::string(63, 'u'));
    }

    SECTION("the table is world-readable and the generation increases") {
        ShmName shm("generation");
        auto writer = ProcTableWriter::create(shm.name, 1);
        REQUIRE(writer.ok());
        struct stat st{};
        REQUIRE(::stat(("/dev/shm/" + shm.name).c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0644);
        auto reader = ProcTableReader::open(shm.name);
        REQUIRE(reader.ok());
        uint64_t last = reader->read()->generation;
        for (int i = 0; i < 5; ++i) {
            REQUIRE(writer->publish({record(i + 1, "x")}, {}).ok());
            auto snap = reader->read();
            REQUIRE(snap.ok());
            CHECK(snap->generation > last);
            CHECK(snap->processes.at(0).pid == i + 1);
            last = snap->generation;
        }
    }

    SECTION("a reader racing the writer only sees whole published sets") {
        ShmName shm("race");
        auto writer = ProcTableWriter::create(shm.name, 1);
        REQUIRE(writer.ok());
        auto reader = ProcTableReader::open(shm.name);
        REQUIRE(reader.ok());
        // Publish k (generation k) holds k % 50 + 1 rows, each with pid k and cmd "k...",
        // and down node k.
        constexpr int kPublishes = 3000;
        std::atomic<bool> done{false};
        std::thread writer_thread([&] {
            std::vector<wire::ProcessRecord> rows;
            for (int k = 1; k <= kPublishes; ++k) {
                rows.assign(size_t(k % 50 + 1), record(k, std::string(size_t(k % 700), char('a' + k % 26))));
                if (!writer->publish(rows, {k % 9999}).ok()) break;
            }
            done = true;
        });
        int reads = 0, torn = 0;
        uint64_t last = 0;
        while (!done || reads == 0) {
            auto snap = reader->read();
            REQUIRE(snap.ok());
            ++reads;
            uint64_t k = snap->generation;
            if (k == 0) continue;
            bool whole = k >= last && snap->processes.size() == k % 50 + 1 &&
                         snap->down_nodes == std::vector<int32_t>{int32_t(k % 9999)};
            for (const auto& r : snap->processes)
                whole = whole && r.pid == int32_t(k) && r.cmd == std::string(k % 700, char('a' + k % 26));
            if (!whole) ++torn;
            last = k;
        }
        writer_thread.join();
        CHECK(torn == 0);
        CHECK(reads > 10);
        CHECK(reader->read()->generation == kPublishes);
    }

    SECTION("a missing table says so") {
        auto reader = ProcTableReader::open("ssi-test-never-created");
        REQUIRE_FALSE(reader.ok());
        CHECK(reader.error().message() ==
              "no process table at /dev/shm/ssi-test-never-created (is ssi-agent running?)");
    }

    SECTION("a table with bad magic is rejected") {
        ShmName shm("magic");
        auto writer = ProcTableWriter::create(shm.name, 1);
        REQUIRE(writer.ok());
        scribble(shm.name, 0, 8, 0x5a);
        auto reader = ProcTableReader::open(shm.name);
        REQUIRE_FALSE(reader.ok());
        CHECK_THAT(reader.error().message(), Catch::Contains("not an ssi process table (bad magic)"));
    }

    SECTION("something else's small object is rejected, not read past its end") {
        ShmName shm("small");
        bip::shared_memory_object other(bip::create_only, shm.name.c_str(), bip::read_write);
        other.truncate(16);
        auto reader = ProcTableReader::open(shm.name);
        REQUIRE_FALSE(reader.ok());
        CHECK_THAT(reader.error().message(), Catch::Contains("not an ssi process table"));
    }

    SECTION("garbage counts and lengths are caught") {
        ShmName shm("garbage");
        auto writer = ProcTableWriter::create(shm.name, 1);
        REQUIRE(writer.ok());
        REQUIRE(writer->publish({record(1, "a"), record(2, "b")}, {}).ok());  // lands in slot 1
        auto reader = ProcTableReader::open(shm.name);
        REQUIRE(reader.ok());
        // Slot 0 follows the 4 KiB header: all-ones counts and lengths there.
        REQUIRE(writer->publish({record(1, "a"), record(2, "b")}, {}).ok());  // now slot 0 is active
        // Rows start after the slot header (40064 bytes): all-ones lengths are cut to the arrays.
        scribble(shm.name, 4096 + 40064, 2 * 1280, 0xff);
        auto rows = reader->read();
        REQUIRE(rows.ok());
        REQUIRE(rows->processes.size() == 2);
        CHECK(rows->processes[0].cmd == std::string(1023, '\xff'));
        CHECK(rows->processes[1].user.size() == 63);
        scribble(shm.name, 4096, 256 * 1024, 0xff);
        auto snap = reader->read();
        REQUIRE_FALSE(snap.ok());
        CHECK_THAT(snap.error().message(), Catch::Contains("is corrupt"));
    }

    SECTION("a replaced table is followed by name; a removed one is reported") {
        ShmName shm("replace");
        auto first = ProcTableWriter::create(shm.name, 1);
        REQUIRE(first.ok());
        REQUIRE(first->publish({record(1, "old")}, {}).ok());
        auto reader = ProcTableReader::open(shm.name);
        REQUIRE(reader.ok());
        auto second = ProcTableWriter::create(shm.name, 1);
        REQUIRE(second.ok());
        REQUIRE(second->publish({record(2, "new")}, {}).ok());
        auto snap = reader->read();
        REQUIRE(snap.ok());
        CHECK(snap->processes.at(0).cmd == "new");
        second->remove();
        auto gone = reader->read();
        REQUIRE_FALSE(gone.ok());
        CHECK_THAT(gone.error().message(), Catch::Contains("is ssi-agent running?"));
    }
}
