// ssi-remote/start_names: a run's start names recorded in order, read back by the next
// run of the same program, and a damaged or foreign record read as none.
#include "ssi-remote/start_names.h"

#include "kern-ext/files.h"
#include "libssi/remote/fs_protocol.h"
#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <string>

using namespace ssi;
using namespace ssi::remote;

namespace {

struct NamesDir {
    test::TempDir top{"start-names"};
    std::string path = top / "names";  // StartNames::open makes it
};

std::shared_ptr<StartNames> open_names(const NamesDir& dir, const std::string& program, uint32_t uid = 1000) {
    auto names = StartNames::open(dir.path, 1, uid, program);
    REQUIRE(names.ok());
    return *names;
}

}  // namespace

TEST_CASE("start_names: a run's names are what the next run of the program reads", "[start_names]") {
    NamesDir dir;
    {
        auto first = open_names(dir, "/usr/bin/prog");
        CHECK(first->last().empty());
        first->looked_up(kRootNode, "usr", 10);
        first->looked_up(10, "lib", 11);
        first->looked_up(11, "libc.so.6", 12);
        first->read_link(12);
        first->looked_up(99, "orphan", 13);  // under a node it never saw: no path to record
        REQUIRE(first->save().ok());
        struct stat st{};
        REQUIRE(::stat(dir.path.c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0700);  // other users' names are nobody's business
    }
    auto second = open_names(dir, "/usr/bin/prog");
    StartNames::Names expected{{"usr", false}, {"usr/lib", false}, {"usr/lib/libc.so.6", true}};
    CHECK(second->last() == expected);

    // Another program, another user: records of their own.
    CHECK(open_names(dir, "/usr/bin/other")->last().empty());
    CHECK(open_names(dir, "/usr/bin/prog", 1001)->last().empty());

    // The same names again: the record is left as it is.
    second->looked_up(kRootNode, "usr", 10);
    second->looked_up(10, "lib", 11);
    second->looked_up(11, "libc.so.6", 12);
    second->read_link(12);
    auto before = read_file(second->path());
    REQUIRE(before.ok());
    REQUIRE(::unlink(second->path().c_str()) == 0);
    REQUIRE(second->save().ok());
    CHECK(::access(second->path().c_str(), F_OK) != 0);
}

TEST_CASE("start_names: a damaged record reads as none", "[start_names]") {
    NamesDir dir;
    auto names = open_names(dir, "/usr/bin/prog");
    const std::string path = names->path();
    auto reads_as_none = [&](const std::string& text) {
        REQUIRE(write_file_atomic(path, text, 0600).ok());
        return open_names(dir, "/usr/bin/prog")->last().empty();
    };
    CHECK_FALSE(reads_as_none("ssi start names 1\n/usr/bin/prog\n0 usr\n1 usr/lib\n"));
    CHECK(reads_as_none(""));
    CHECK(reads_as_none("ssi start names 2\n/usr/bin/prog\n0 usr\n"));
    CHECK(reads_as_none("ssi start names 1\n/usr/bin/elsewhere\n0 usr\n"));  // a hash collision
    CHECK(reads_as_none("ssi start names 1\n/usr/bin/prog\n0 usr\n2 usr/lib\n"));
    CHECK(reads_as_none("ssi start names 1\n/usr/bin/prog\n0 usr\n\n"));
    const char with_nul[] = "ssi start names 1\n/usr/bin/prog\n0 u\0sr\n";
    CHECK(reads_as_none(std::string(with_nul, sizeof with_nul - 1)));
    CHECK(reads_as_none("ssi start names 1\n/usr/bin/prog\n0 usr\n\xff\xfe\n"));

    // However long the record, no more than a request's worth is primed.
    std::string huge = "ssi start names 1\n/usr/bin/prog\n";
    for (size_t i = 0; i < kMaxPrimedNames + 100; ++i) huge += "0 n" + std::to_string(i) + "\n";
    REQUIRE(write_file_atomic(path, huge, 0600).ok());
    CHECK(open_names(dir, "/usr/bin/prog")->last().size() == kMaxPrimedNames);
}
