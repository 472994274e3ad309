// FileCache: copies of home files kept on this node across runs, so that a program started
// here again (its loader and libraries, an interpreter's modules) reads them without
// asking home. A fresh mount per run starts with a cold page cache; without this, every
// run would fetch libc again.
//
// Never stale, by construction: a copy is named by the exact version it copies — home
// node, device, inode, size, mtime and ctime as home's fstat of the *open* file said — and
// every open still asks home (the OPEN round trip is the check). Any change at home moves
// ctime, which nobody can set back, so a changed file never finds an old copy. A copy is
// made only from a version whose ctime was over a second old at its open: a write in the
// same clock tick as the open could otherwise leave ctime and size as they were (a
// kernel without fine-grained timestamps).
//
// Never shared between users: the deputy that answers a run's OPENs is the user's own
// program, so it could name another user's file in its reply; a copy is found only by
// runs of the uid that made it (as the home agent vouched for it), from the same home.
//
// A copy is filled from the READ replies of one open file, or from the bytes a small file
// came whole with (nothing is fetched twice or in advance), and published when every page
// of it arrived, at its release: written into an O_TMPFILE and linked under its name, so a
// reader sees a whole copy or none. Only root (the supervisor) reads the directory; a copy
// is served only after home let the opener open the file. Least recently used copies go
// when the directory exceeds its budget (256 MiB, or an eighth of the filesystem if that
// is less).
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace ssi::remote {

// What a copy copies, and for whom; its file name.
struct FileVersion {
    int32_t home = 0;
    uint32_t uid = 0;  // the runs that may read it
    uint64_t dev = 0, ino = 0;
    int64_t size = 0;
    int64_t mtime_ns = 0, ctime_ns = 0;
    std::string name() const;
};

// One open file's copy: found whole (reads come from it), or being filled by the reads
// that go home.
class CachedFile {
public:
    bool whole() const { return whole_; }
    // A whole copy's file, for a reply spliced from it without a copy through memory.
    int fd() const { return fd_.get(); }
    const FileVersion& version() const { return version_; }
    // A fill: what home answered to a READ at `offset`. Only whole pages count.
    void add(uint64_t offset, std::span<const char> data);

private:
    friend class FileCache;
    CachedFile(UniqueFd fd, FileVersion version, bool whole);
    bool complete() const;

    UniqueFd fd_;
    FileVersion version_;
    bool whole_ = false;
    mutable std::mutex mu_;  // a fill's pages, written by several FUSE threads at once
    std::vector<bool> have_;
    size_t missing_ = 0;
    bool failed_ = false;
};

class FileCache {
public:
    // `dir` is created (root only) if missing; `budget` bytes of copies at most, and
    // never more than an eighth of the filesystem it is on.
    static Result<std::shared_ptr<FileCache>> open(const std::string& dir, uint64_t budget);

    // Files bigger than this are not copied (a quarter of the budget).
    uint64_t max_file_bytes() const { return budget_ / 4; }

    // For an open of `version` made when home's clock said `opened_at_ns`: its copy if
    // this node has one, else an empty copy to fill, or nothing when the version may not
    // be cached (too big, too young, or the directory failed us).
    std::shared_ptr<CachedFile> open_copy(const FileVersion& version, int64_t opened_at_ns);

    // The open file was released: a complete fill becomes the copy later opens find.
    void release(CachedFile& file);
    // Whether this node has a copy of `version` (for an open to ask home for no bytes).
    bool has(const FileVersion& version) const;
    // A small file that came whole with its open (fs_protocol.h, kOpenWholeBytes): its
    // bytes become its copy at once, on the same conditions as a fill.
    void keep_whole(const FileVersion& version, int64_t opened_at_ns, std::span<const char> bytes);

private:
    FileCache(UniqueFd dir, uint64_t budget) : dir_(std::move(dir)), budget_(budget) {}
    void evict_to_budget();

    UniqueFd dir_;
    uint64_t budget_;
    std::mutex evict_mu_;
};

}  // namespace ssi::remote
