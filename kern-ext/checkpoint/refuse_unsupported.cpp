// Step 1 of a checkpoint: say no, clearly and before touching anything, to what this
// version cannot restore. Run again once the process is stopped, because a thread may
// have been created between the first look and the stop. A migrating process must also
// hold nothing beyond stdin, stdout and stderr that cannot be reopened by path on the
// node it goes to.
#include "kern-ext/checkpoint/steps.h"
#include "kern-ext/files.h"

#include <dirent.h>
#include <unistd.h>

#include <climits>
#include <sstream>

namespace ssi::ckpt {

namespace {

Error refused(pid_t pid, const std::string& why) {
    return make_error("checkpoint refused", "pid " + std::to_string(pid) + ": " + why, ENOTSUP);
}

// The value of a "Key:\tvalue" line of /proc/PID/status.
std::string status_field(const std::string& status, const std::string& key) {
    std::istringstream lines(status);
    std::string line;
    while (std::getline(lines, line))
        if (line.rfind(key + ":", 0) == 0) {
            size_t v = line.find_first_not_of(" \t", key.size() + 1);
            return v == std::string::npos ? "" : line.substr(v);
        }
    return "";
}

Result<void> refuse_threads_and_tracers(pid_t pid) {
    std::string status = TRY(read_file("/proc/" + std::to_string(pid) + "/status"));
    std::string threads = status_field(status, "Threads");
    if (threads != "1") return refused(pid, "it has " + threads + " threads; only single-threaded processes are supported");
    std::string tracer = status_field(status, "TracerPid");
    // Once we have seized it, the tracer is us: this thread (TracerPid names a thread).
    if (tracer != "0" && tracer != std::to_string(::gettid()))
        return refused(pid, "it is being traced (by pid " + tracer + ")");
    return ok();
}

Result<void> refuse_mappings(pid_t pid) {
    for (const MapsEntry& m : TRY(read_maps(pid))) {
        if (m.path.rfind("/SYSV", 0) == 0) return refused(pid, "it has SysV shared memory attached (" + m.path + ")");
        if (m.path.find("io_uring") != std::string::npos) return refused(pid, "it uses io_uring (" + m.path + ")");
        if (m.perms.size() == 4 && m.perms[3] == 's' && m.perms[1] == 'w') {
            char range[64];
            std::snprintf(range, sizeof range, "%llx-%llx", (unsigned long long)m.start, (unsigned long long)m.end);
            return refused(pid, std::string("it has a shared writable mapping (") + range + " " +
                                    (m.path.empty() ? "anonymous" : m.path) + ")");
        }
    }
    return ok();
}

Result<void> refuse_io_uring_fds(pid_t pid) {
    std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return sys_error("opendir", dir);
    Result<void> verdict = ok();
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        char target[PATH_MAX];
        ssize_t n = ::readlink((dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
        if (n < 0) continue;  // closed meanwhile
        target[n] = '\0';
        if (std::string(target) == "anon_inode:[io_uring]") {
            verdict = refused(pid, std::string("it uses io_uring (fd ") + e->d_name + ")");
            break;
        }
    }
    ::closedir(d);
    return verdict;
}

Result<void> refuse_unmigratable_fds(pid_t pid) {
    const char* rule =
        ": beyond stdin, stdout and stderr a migrating process may hold only files, directories and devices "
        "(not supported yet)";
    for (const OpenFile& f : TRY(read_open_files(pid))) {
        if (f.fd < 3) continue;
        std::string fd = "fd " + std::to_string(f.fd);
        if (f.deleted) return refused(pid, fd + " is a deleted file (" + f.path + ")" + rule);
        if (f.kind != OpenFile::Kind::regular && f.kind != OpenFile::Kind::directory &&
            f.kind != OpenFile::Kind::char_device)
            return refused(pid, fd + " is " + describe(f.kind) + " (" + f.path + ")" + rule);
    }
    return ok();
}

}  // namespace

Result<void> refuse_unsupported(pid_t pid, bool migrating) {
    TRY(refuse_threads_and_tracers(pid));
    TRY(refuse_mappings(pid));
    TRY(refuse_io_uring_fds(pid));
    if (migrating) TRY(refuse_unmigratable_fds(pid));
    return ok();
}

}  // namespace ssi::ckpt

namespace ssi {

Result<void> checkpointable(pid_t pid, bool migrating) { return ckpt::refuse_unsupported(pid, migrating); }

std::string why_not(const Error& error) {
    if (error.call != "checkpoint refused") return error.message();
    auto colon = error.context.find(": ");  // after "pid N"
    return colon == std::string::npos ? error.context : error.context.substr(colon + 2);
}

}  // namespace ssi
