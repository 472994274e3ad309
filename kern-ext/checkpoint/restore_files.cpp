// The restored process's open files, as RestoreOptions::files says:
//   closed:   every fd but the given ones (options.fds) is closed;
//   reopen:   besides the given ones, every file, directory and device of the image is
//             opened again by its path, as the restored credentials (the fs ids that
//             adopt_file_credentials set), without O_CREAT/O_TRUNC/O_EXCL so nothing is
//             created or emptied, moved to its offset and its number with its
//             close-on-exec; a pipe, socket, terminal or deleted file cannot be, and is
//             refused before anything is touched (check_restore_files);
//   in_place: restore_into a process that already holds the image's files under the
//             same numbers (checked before it is seized, by their /proc paths): each
//             regular file is moved back to its saved offset (shared with whoever else
//             holds the same open file), close-on-exec set as saved, other fds closed.
#include "kern-ext/checkpoint/steps.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

namespace ssi::ckpt {

namespace {

using Files = RestoreOptions::Files;

bool reopenable(const OpenFile& f) {
    return !f.deleted && (f.kind == OpenFile::Kind::regular || f.kind == OpenFile::Kind::directory ||
                          f.kind == OpenFile::Kind::char_device);
}

bool seekable(const OpenFile& f) { return f.kind == OpenFile::Kind::regular && (f.flags & O_PATH) == 0; }

// The fds the caller provides: handed over (restore) or the process's own stdio kept.
std::vector<int> given_fds(const RestoreOptions& options) {
    std::vector<int> given;
    for (const auto& [target, source] : options.fds) given.push_back(target);
    if (options.keep_stdio) given.insert(given.end(), {0, 1, 2});
    return given;
}

// The process holds the image's file under the same number (by its /proc path).
bool held_in_place(const std::vector<OpenFile>& held, const OpenFile& f) {
    auto it = std::find_if(held.begin(), held.end(), [&](const OpenFile& h) { return h.fd == f.fd; });
    return it != held.end() && it->path == f.path && !f.deleted;
}

bool contains(const std::vector<int>& fds, int fd) { return std::find(fds.begin(), fds.end(), fd) != fds.end(); }

// Closes every fd of the process but `keep`: close_range over the gaps between them.
Result<void> close_all_but(RemoteSyscaller& sys, std::vector<int> keep) {
    std::sort(keep.begin(), keep.end());
    uint64_t from = 0;
    for (int fd : keep) {
        if (uint64_t(fd) > from) TRY(sys.call("close_range", SYS_close_range, from, uint64_t(fd) - 1, 0));
        from = uint64_t(fd) + 1;
    }
    TRY(sys.call("close_range", SYS_close_range, from, ~0u, 0));
    return ok();
}

Result<void> set_cloexec(RemoteSyscaller& sys, const OpenFile& f) {
    TRY(sys.call("fcntl(F_SETFD)", SYS_fcntl, uint64_t(f.fd), F_SETFD, f.cloexec ? FD_CLOEXEC : 0));
    return ok();
}

Result<void> reopen(RemoteSyscaller& sys, const RestoreRegion& region, const OpenFile& f) {
    const std::string what = "fd " + std::to_string(f.fd) + " " + f.path + ", injected into pid " + std::to_string(sys.pid());
    if (f.path.size() >= 4096) return make_error("openat", what, ENAMETOOLONG);
    TRY(write_remote(sys.pid(), region.scratch(), {f.path.c_str(), f.path.size() + 1}));
    const uint32_t flags = f.flags & ~uint32_t(O_CREAT | O_TRUNC | O_EXCL | O_CLOEXEC);
    int64_t opened = TRY(sys.raw(SYS_openat, uint64_t(AT_FDCWD), region.scratch().addr, flags, 0));
    if (opened < 0) return Error{"openat", int(-opened), what};
    if (seekable(f)) TRY(sys.call("lseek", SYS_lseek, uint64_t(opened), uint64_t(f.pos), SEEK_SET));
    if (opened == f.fd) return set_cloexec(sys, f);
    TRY(sys.call("dup3", SYS_dup3, uint64_t(opened), uint64_t(f.fd), f.cloexec ? O_CLOEXEC : 0));
    TRY(sys.call("close", SYS_close, uint64_t(opened)));
    return ok();
}

// Files the process still holds are kept (their offsets and close-on-exec put back);
// files the image opened elsewhere (a migrated process) are opened again by path.
Result<void> in_place(RemoteSyscaller& sys, const RestoreRegion& region, const ProcessImage& image,
                      const RestoreOptions& options) {
    const std::vector<int> given = given_fds(options);
    const std::vector<OpenFile> held = TRY(read_open_files(sys.pid()));
    std::vector<int> kept = given;
    std::vector<const OpenFile*> kept_files, reopened;
    for (const OpenFile& f : image.files) {
        if (contains(given, f.fd)) continue;
        if (held_in_place(held, f)) kept.push_back(f.fd), kept_files.push_back(&f);
        else reopened.push_back(&f);
    }
    TRY(close_all_but(sys, kept));
    for (const OpenFile* f : kept_files) {
        if (seekable(*f)) TRY(sys.call("lseek", SYS_lseek, uint64_t(f->fd), uint64_t(f->pos), SEEK_SET));
        TRY(set_cloexec(sys, *f));
    }
    for (const OpenFile* f : reopened) TRY(reopen(sys, region, *f));
    return ok();
}

}  // namespace

Result<void> check_restore_files(pid_t target, const ProcessImage& image, const RestoreOptions& options) {
    if (options.files == Files::reopen) {
        const std::vector<int> given = given_fds(options);
        for (const OpenFile& f : image.files)
            if (!contains(given, f.fd) && !reopenable(f))
                return make_error("restore", "fd " + std::to_string(f.fd) + " is " + (f.deleted ? "a deleted file" : describe(f.kind)) +
                                                 " (" + f.path + "): only files, directories and devices can be reopened",
                                  ENOTSUP);
    }
    if (options.files == Files::in_place) {
        if (target == 0) return make_error("restore", "files in place: only restore_into finds them in the process", EINVAL);
        const std::vector<int> given = given_fds(options);
        std::vector<OpenFile> held = TRY(read_open_files(target));
        for (const OpenFile& f : image.files)
            if (!contains(given, f.fd) && !held_in_place(held, f) && !reopenable(f))
                return make_error("restore in place",
                                  "pid " + std::to_string(target) + ": fd " + std::to_string(f.fd) + " (" + f.path +
                                      ") is not held by the process and cannot be reopened",
                                  EBADF);
    }
    return ok();
}

Result<void> restore_files(RemoteSyscaller& sys, const RestoreRegion& region, const ProcessImage& image,
                           const RestoreOptions& options) {
    switch (options.files) {
        case Files::closed: return close_all_but(sys, given_fds(options));
        case Files::reopen: {
            const std::vector<int> given = given_fds(options);
            TRY(close_all_but(sys, given));
            for (const OpenFile& f : image.files)
                if (!contains(given, f.fd)) TRY(reopen(sys, region, f));
            return ok();
        }
        case Files::in_place: return in_place(sys, region, image, options);
    }
    return ok();
}

}  // namespace ssi::ckpt
