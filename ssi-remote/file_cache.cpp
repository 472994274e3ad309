#include "ssi-remote/file_cache.h"

#include "kern-ext/file_ops.h"
#include "kern-ext/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <utility>

namespace ssi::remote {
namespace {

constexpr uint64_t kPage = 4096;
// A version younger than this at its open may still change without moving its ctime.
constexpr int64_t kSettledNs = 1'000'000'000;

int64_t ns_of(const struct timespec& t) { return int64_t(t.tv_sec) * 1'000'000'000 + t.tv_nsec; }

}  // namespace

std::string FileVersion::name() const {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%" PRId32 "-%" PRIu32 "-%" PRIx64 "-%" PRIx64 "-%" PRId64 "-%" PRId64 "-%" PRId64,
                  home, uid, dev, ino, size, mtime_ns, ctime_ns);
    return buf;
}

CachedFile::CachedFile(UniqueFd fd, FileVersion version, bool whole)
    : fd_(std::move(fd)), version_(version), whole_(whole) {
    if (!whole_) {
        have_.assign((uint64_t(version_.size) + kPage - 1) / kPage, false);
        missing_ = have_.size();
    }
}

void CachedFile::add(uint64_t offset, std::span<const char> data) {
    if (whole_ || data.empty()) return;
    {
        std::lock_guard lock(mu_);
        if (failed_) return;
    }
    // The bytes first, then the pages they complete: a page counts once it is on file.
    size_t done = 0;
    while (done < data.size()) {
        auto n = pwrite_some(fd_.get(), data.subspan(done), off_t(offset + done));
        if (!n || *n == 0) {
            std::lock_guard lock(mu_);
            failed_ = true;  // out of room: this copy is dropped at release
            return;
        }
        done += *n;
    }
    const uint64_t end = std::min<uint64_t>(offset + data.size(), uint64_t(version_.size));
    uint64_t page = (offset + kPage - 1) / kPage;  // the first page that starts inside
    std::lock_guard lock(mu_);
    for (; page < have_.size(); ++page) {
        const uint64_t page_end = std::min<uint64_t>((page + 1) * kPage, uint64_t(version_.size));
        if (page_end > end) break;
        if (!have_[page]) have_[page] = true, --missing_;
    }
}

bool CachedFile::complete() const {
    std::lock_guard lock(mu_);
    return !failed_ && missing_ == 0;
}

Result<std::shared_ptr<FileCache>> FileCache::open(const std::string& dir, uint64_t budget) {
    TRY(make_dirs(dir, 0700));
    TRY(change_mode(dir, 0700));
    UniqueFd fd = TRY(open_file(dir, O_RDONLY | O_DIRECTORY));
    // Never more than an eighth of the filesystem (a small /run stays usable).
    const struct statvfs fs = TRY(stat_fs(fd.get()));
    budget = std::min<uint64_t>(budget, uint64_t(fs.f_blocks) * fs.f_frsize / 8);
    return std::shared_ptr<FileCache>(new FileCache(std::move(fd), budget));
}

std::shared_ptr<CachedFile> FileCache::open_copy(const FileVersion& version, int64_t opened_at_ns) {
    if (version.size <= 0 || uint64_t(version.size) > max_file_bytes()) return nullptr;
    if (auto fd = open_at(dir_.get(), version.name(), O_RDONLY | O_NOFOLLOW)) {
        // Recently used: its mtime is what eviction goes by.
        (void)utimens_at(fd->get(), "", nullptr, AT_EMPTY_PATH);
        return std::shared_ptr<CachedFile>(new CachedFile(std::move(*fd), version, true));
    }
    if (opened_at_ns - version.ctime_ns < kSettledNs) return nullptr;
    auto fd = open_at(dir_.get(), ".", O_TMPFILE | O_RDWR, 0600);
    if (!fd || !truncate_fd(fd->get(), version.size)) return nullptr;
    return std::shared_ptr<CachedFile>(new CachedFile(std::move(*fd), version, false));
}

void FileCache::release(CachedFile& file) {
    if (file.whole_ || !file.complete()) return;
    // Linked under its name only now, whole; a copy another run linked first is as good.
    auto linked = link_at(file.fd_.get(), "", dir_.get(), file.version_.name(), AT_EMPTY_PATH);
    if (linked) evict_to_budget();
}

bool FileCache::has(const FileVersion& version) const {
    return stat_at(dir_.get(), version.name(), AT_SYMLINK_NOFOLLOW).ok();
}

void FileCache::keep_whole(const FileVersion& version, int64_t opened_at_ns, std::span<const char> bytes) {
    if (bytes.size() != uint64_t(version.size)) return;
    auto copy = open_copy(version, opened_at_ns);
    if (!copy || copy->whole()) return;
    copy->add(0, bytes);
    release(*copy);
}

// Least recently used first, until the copies fit in the budget.
void FileCache::evict_to_budget() {
    std::lock_guard lock(evict_mu_);
    auto listing = open_at(dir_.get(), ".", O_RDONLY | O_DIRECTORY);
    if (!listing) return;
    struct Copy {
        std::string name;
        int64_t used_ns = 0;
        uint64_t bytes = 0;
    };
    std::vector<Copy> copies;
    uint64_t total = 0;
    for (;;) {
        auto entries = read_dir_entries(listing->get(), 1 << 16);
        if (!entries || entries->empty()) break;
        for (const DirEntry& e : *entries) {
            if (e.name == "." || e.name == "..") continue;
            auto st = stat_at(dir_.get(), e.name, AT_SYMLINK_NOFOLLOW);
            if (!st || !S_ISREG(st->st_mode)) continue;
            copies.push_back({e.name, ns_of(st->st_mtim), uint64_t(st->st_blocks) * 512});
            total += copies.back().bytes;
        }
    }
    if (total <= budget_) return;
    std::sort(copies.begin(), copies.end(), [](const Copy& a, const Copy& b) { return a.used_ns < b.used_ns; });
    for (const Copy& c : copies) {
        if (total <= budget_) break;
        if (unlink_at(dir_.get(), c.name, 0)) total -= c.bytes;
    }
}

}  // namespace ssi::remote
