// ssi-remote/file_cache: copies named by their exact version, published only whole,
// refused when too young or too big, and evicted least recently used first.
#include "ssi-remote/file_cache.h"

#include "kern-ext/file_ops.h"
#include "kern-ext/files.h"
#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <dirent.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace ssi;
using namespace ssi::remote;

namespace {

constexpr int64_t kSecond = 1'000'000'000;

struct CacheDir {
    test::TempDir top{"file-cache"};
    std::string path = top / "cache";  // FileCache::open makes it
    std::vector<std::string> names() const {
        std::vector<std::string> out;
        if (DIR* d = ::opendir(path.c_str())) {
            while (dirent* e = ::readdir(d))
                if (e->d_name[0] != '.') out.push_back(e->d_name);
            ::closedir(d);
        }
        return out;
    }
};

std::string pattern(size_t n, char seed) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) s[i] = char(seed + i * 7);
    return s;
}

// What a reply spliced from the copy's file carries.
std::string read_copy(const CachedFile& f, size_t size, uint64_t offset = 0) {
    std::string out(size, '\0');
    size_t done = 0;
    while (done < size) {
        auto n = pread_some(f.fd(), {out.data() + done, size - done}, off_t(offset + done));
        REQUIRE(n.ok());
        if (*n == 0) break;
        done += *n;
    }
    out.resize(done);
    return out;
}

}  // namespace

TEST_CASE("file_cache: a copy is kept only whole, and found only by its exact version", "[file_cache]") {
    CacheDir dir;
    auto cache = FileCache::open(dir.path, 1 << 20);
    REQUIRE(cache.ok());
    const std::string bytes = pattern(10000, 'a');  // two whole pages and a partial one
    const FileVersion v{1, 1000, 0x801, 42, int64_t(bytes.size()), 5 * kSecond, 5 * kSecond};
    const int64_t settled = v.ctime_ns + 2 * kSecond;

    auto fill = (*cache)->open_copy(v, settled);
    REQUIRE(fill);
    CHECK_FALSE(fill->whole());
    // Pages only count whole: this covers none of page 0 and not all of page 1.
    fill->add(100, {bytes.data() + 100, 8000});
    fill->add(0, {bytes.data(), 4096});
    (*cache)->release(*fill);
    CHECK(dir.names().empty());

    fill = (*cache)->open_copy(v, settled);
    REQUIRE(fill);
    fill->add(4096, {bytes.data() + 4096, 4096});
    fill->add(0, {bytes.data(), 4096});
    fill->add(8192, {bytes.data() + 8192, bytes.size() - 8192});  // the last page, short
    (*cache)->release(*fill);
    CHECK(dir.names() == std::vector<std::string>{v.name()});

    auto hit = (*cache)->open_copy(v, settled);
    REQUIRE(hit);
    CHECK(hit->whole());
    CHECK(read_copy(*hit, 1 << 16) == bytes);
    CHECK(read_copy(*hit, 100, 9950) == bytes.substr(9950));

    SECTION("another version of the same file, or another user's run, is another copy") {
        std::vector<FileVersion> others(5, v);
        others[0].ctime_ns += 1;
        others[1].mtime_ns -= 1;
        others[2].size -= 1;
        others[3].home = 2;
        others[4].uid = 1001;  // its deputy could name any file: never another user's copy
        for (const FileVersion& other : others) {
            auto f = (*cache)->open_copy(other, settled);
            REQUIRE(f);
            CHECK_FALSE(f->whole());
        }
    }
    SECTION("a version changed less than a second before its open is not copied") {
        FileVersion young = v;
        young.ctime_ns = settled - kSecond / 2;
        CHECK_FALSE((*cache)->open_copy(young, settled));
    }
    SECTION("a file bigger than a quarter of the budget is not copied") {
        FileVersion huge = v;
        huge.size = int64_t((*cache)->max_file_bytes()) + 1;
        CHECK_FALSE((*cache)->open_copy(huge, settled));
    }
}

TEST_CASE("file_cache: the bytes a small file came whole with become its copy", "[file_cache]") {
    CacheDir dir;
    auto cache = FileCache::open(dir.path, 1 << 20);
    REQUIRE(cache.ok());
    const std::string bytes = pattern(40000, 'k');
    const FileVersion v{1, 0, 0x801, 7, int64_t(bytes.size()), 5 * kSecond, 5 * kSecond};
    const int64_t settled = v.ctime_ns + 2 * kSecond;
    CHECK_FALSE((*cache)->has(v));

    SECTION("a settled version is kept, and found") {
        (*cache)->keep_whole(v, settled, bytes);
        CHECK((*cache)->has(v));
        auto hit = (*cache)->open_copy(v, settled);
        REQUIRE(hit);
        CHECK(hit->whole());
        CHECK(read_copy(*hit, 1 << 16) == bytes);
        FileVersion other = v;
        other.ctime_ns += 1;
        CHECK_FALSE((*cache)->has(other));
    }
    SECTION("a young version, or bytes that are not the whole version, are not") {
        (*cache)->keep_whole(v, v.ctime_ns + kSecond / 2, bytes);
        (*cache)->keep_whole(v, settled, std::string_view(bytes).substr(1));
        CHECK_FALSE((*cache)->has(v));
        CHECK(dir.names().empty());
    }
}

TEST_CASE("file_cache: over its budget, the least recently used copies go", "[file_cache]") {
    CacheDir dir;
    auto cache = FileCache::open(dir.path, 64 << 10);
    REQUIRE(cache.ok());
    const std::string bytes = pattern(16 << 10, 'x');
    auto version = [&](uint64_t ino) { return FileVersion{1, 0, 1, ino, int64_t(bytes.size()), kSecond, kSecond}; };
    auto keep = [&](uint64_t ino) {
        auto f = (*cache)->open_copy(version(ino), 10 * kSecond);
        REQUIRE(f);
        if (f->whole()) return;
        f->add(0, {bytes.data(), bytes.size()});
        (*cache)->release(*f);
    };
    for (uint64_t ino = 1; ino <= 4; ++ino) {
        keep(ino);
        ::usleep(20000);  // distinct use times
    }
    CHECK(dir.names().size() == 4);
    keep(1);  // used again: now the most recent
    ::usleep(20000);
    keep(5);  // 80 KiB > 64 KiB: the least recently used, 2, goes
    auto names = dir.names();
    CHECK(names.size() == 4);
    CHECK(std::find(names.begin(), names.end(), version(2).name()) == names.end());
    CHECK(std::find(names.begin(), names.end(), version(1).name()) != names.end());
    CHECK(std::find(names.begin(), names.end(), version(5).name()) != names.end());
}

TEST_CASE("file_cache: the budget is never more than an eighth of the filesystem", "[file_cache]") {
    if (::geteuid() != 0) {
        WARN("not root: no tmpfs to mount, skipped");
        return;
    }
    CacheDir dir;
    const std::string mnt = dir.path.substr(0, dir.path.rfind('/'));
    REQUIRE(::mount("ssi-test", mnt.c_str(), "tmpfs", 0, "size=1m") == 0);
    {
        auto cache = FileCache::open(dir.path, 256ull << 20);
        REQUIRE(cache.ok());
        CHECK((*cache)->max_file_bytes() == (1u << 20) / 8 / 4);
    }
    CHECK(::umount(mnt.c_str()) == 0);
}
