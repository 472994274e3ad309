// The open file descriptors: number, close-on-exec, open flags and offset (fdinfo), what
// kind of file (stat through /proc/PID/fd/N) and its path (readlink). Restore reopens
// files, directories and devices by path, or finds them in place (restore_files.cpp);
// a migrating checkpoint refuses the rest up front (refuse_unsupported.cpp).
#include "kern-ext/checkpoint/steps.h"
#include "kern-ext/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <sstream>

namespace ssi {

const char* describe(OpenFile::Kind kind) {
    switch (kind) {
        case OpenFile::Kind::regular: return "a regular file";
        case OpenFile::Kind::directory: return "a directory";
        case OpenFile::Kind::char_device: return "a character device";
        case OpenFile::Kind::pipe: return "a pipe";
        case OpenFile::Kind::socket: return "a socket";
        case OpenFile::Kind::terminal: return "a terminal";
        case OpenFile::Kind::other: return "a special file";
    }
    return "?";
}

namespace ckpt {

namespace {

// Terminals: /dev/tty*, /dev/console, /dev/ptmx (majors 4, 5) and pty slaves (136-143).
bool is_terminal(dev_t rdev) {
    unsigned major = ::major(rdev);
    return major == 4 || major == 5 || (major >= 136 && major <= 143);
}

OpenFile::Kind kind_of(const struct stat& st) {
    switch (st.st_mode & S_IFMT) {
        case S_IFREG: return OpenFile::Kind::regular;
        case S_IFDIR: return OpenFile::Kind::directory;
        case S_IFCHR: return is_terminal(st.st_rdev) ? OpenFile::Kind::terminal : OpenFile::Kind::char_device;
        case S_IFIFO: return OpenFile::Kind::pipe;
        case S_IFSOCK: return OpenFile::Kind::socket;
        default: return OpenFile::Kind::other;  // anon inodes (eventfd, epoll...), block devices
    }
}

// "pos:\t0\nflags:\t02100002\n...": the offset and the flags (octal).
Result<void> parse_fdinfo(const std::string& text, const std::string& name, OpenFile& f) {
    std::istringstream lines(text);
    std::string line;
    bool pos = false, flags = false;
    while (std::getline(lines, line)) {
        if (line.rfind("pos:", 0) == 0) pos = std::sscanf(line.c_str() + 4, "%lld", reinterpret_cast<long long*>(&f.pos)) == 1;
        if (line.rfind("flags:", 0) == 0) flags = std::sscanf(line.c_str() + 6, "%o", &f.flags) == 1;
    }
    if (!pos || !flags) return make_error("parse", name + ": no pos or flags line");
    f.cloexec = (f.flags & O_CLOEXEC) != 0;
    f.flags &= ~uint32_t(O_CLOEXEC);
    return ok();
}

}  // namespace

Result<std::vector<OpenFile>> read_open_files(pid_t pid) {
    const std::string proc = "/proc/" + std::to_string(pid);
    std::vector<int> fds;
    {
        DIR* d = ::opendir((proc + "/fd").c_str());
        if (d == nullptr) return sys_error("opendir", proc + "/fd");
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.') fds.push_back(std::atoi(e->d_name));
        ::closedir(d);
    }
    std::sort(fds.begin(), fds.end());

    std::vector<OpenFile> files;
    for (int fd : fds) {
        const std::string link = proc + "/fd/" + std::to_string(fd);
        OpenFile f;
        f.fd = fd;
        char target[PATH_MAX];
        ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
        if (n < 0) {
            if (errno == ENOENT) continue;  // closed meanwhile (the process runs)
            return sys_error("readlink", link);
        }
        f.path.assign(target, size_t(n));
        struct stat st {};
        if (::stat(link.c_str(), &st) < 0) {
            if (errno == ENOENT) continue;
            return sys_error("stat", link);
        }
        f.kind = kind_of(st);
        f.deleted = f.kind == OpenFile::Kind::regular && st.st_nlink == 0;
        const std::string info = proc + "/fdinfo/" + std::to_string(fd);
        auto text = read_file(info);
        if (!text) {
            if (text.error().err == ENOENT) continue;
            return text.error();
        }
        TRY(parse_fdinfo(*text, info, f));
        files.push_back(std::move(f));
    }
    return files;
}

Result<void> dump_open_files(pid_t pid, ProcessImage& image) {
    image.files = TRY(read_open_files(pid));
    return ok();
}

}  // namespace ckpt
}  // namespace ssi
