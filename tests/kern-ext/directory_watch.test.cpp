// kern-ext/directory_watch: news of names created, removed and moved in a watched
// directory, of its end, and the headroom kept in the user's inotify instances.
#include "kern-ext/directory_watch.h"

#include "kern-ext/file_ops.h"
#include "kern-ext/files.h"
#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

using namespace ssi;

namespace {

bool has(const std::vector<int>& v, int x) { return std::find(v.begin(), v.end(), x) != v.end(); }

}  // namespace

TEST_CASE("directory_watch: each change of a watched directory is news, once", "[directory_watch]") {
    test::TempDir top("dirwatch");
    const std::string& root = top.path();
    REQUIRE(make_dirs(root + "/d", 0755).ok());
    auto watch = DirectoryWatch::create(1);
    REQUIRE(watch.ok());
    auto dir = open_at(AT_FDCWD, root + "/d", O_PATH | O_DIRECTORY);
    REQUIRE(dir.ok());
    auto number = watch->watch(dir->get());
    REQUIRE(number.ok());
    CHECK(*watch->watch(dir->get()) == *number);  // the same directory, the same watch

    auto quiet = watch->take_news();
    REQUIRE(quiet.ok());
    CHECK(quiet->changed.empty());
    CHECK_FALSE(quiet->lost);

    REQUIRE(write_file_atomic(root + "/d/f", "x", 0644).ok());  // a create and a rename
    auto news = watch->take_news();
    REQUIRE(news.ok());
    CHECK(has(news->changed, *number));
    CHECK(watch->take_news()->changed.empty());  // taken once

    {
        auto f = open_file(root + "/d/f", O_WRONLY | O_TRUNC);  // a write changes no name
        REQUIRE(f.ok());
        REQUIRE(write_all(f->get(), std::string_view("longer")).ok());
    }
    CHECK(watch->take_news()->changed.empty());

    dir->reset();  // the watch ends when the directory's inode goes, which a descriptor holds
    REQUIRE(::unlink((root + "/d/f").c_str()) == 0);
    REQUIRE(::rmdir((root + "/d").c_str()) == 0);
    auto gone = watch->take_news();
    REQUIRE(gone.ok());
    CHECK(has(gone->changed, *number));  // the unlink
    CHECK(has(gone->ended, *number));    // and the directory's end
}

TEST_CASE("directory_watch: not made when it would leave too little to the user's other programs", "[directory_watch]") {
    // Descriptors stand in for the user's instances here: the spare ones cannot be made.
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        for (int fd = 3; fd < 1024; ++fd) ::close(fd);
        rlimit low{9, 9};  // six descriptors free
        if (::setrlimit(RLIMIT_NOFILE, &low) != 0) ::_exit(10);
        auto refused = DirectoryWatch::create(16);
        if (refused.ok()) ::_exit(11);
        if (refused.error().err != EMFILE) std::fprintf(stderr, "%s\n", refused.error().message().c_str()), ::_exit(13);
        auto made = DirectoryWatch::create(3);  // its own and 3 spare, then the mount table's
        if (!made.ok()) ::_exit(12);
        ::_exit(0);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}
