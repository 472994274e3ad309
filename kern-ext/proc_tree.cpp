#include "kern-ext/proc_tree.h"

#include "kern-ext/files.h"

#include <cstdlib>
#include <cstring>
#include <string>

namespace ssi {

Result<NamespacePids> read_namespace_pids(pid_t tid) {
    std::string path = "/proc/" + std::to_string(tid) + "/status";
    std::string text = TRY(read_file(path));
    NamespacePids out;
    auto tgid = text.find("\nTgid:");
    auto ns = text.find("\nNSpid:");
    if (tgid == std::string::npos || ns == std::string::npos) return make_error("parse", path + ": no Tgid/NSpid", EIO);
    out.tgid = pid_t(std::strtol(text.c_str() + tgid + 6, nullptr, 10));
    for (const char* p = text.c_str() + ns + 7; *p && *p != '\n';) {
        char* end = nullptr;
        long v = std::strtol(p, &end, 10);
        if (end == p) break;
        out.nspids.push_back(pid_t(v));
        p = end;
    }
    if (out.nspids.empty()) return make_error("parse", path + ": empty NSpid", EIO);
    return out;
}

Result<pid_t> innermost_pid_of_pidfd(pid_t tid, int fd) {
    std::string path = "/proc/" + std::to_string(tid) + "/fdinfo/" + std::to_string(fd);
    std::string text = TRY(read_file(path));
    auto ns = text.find("\nNSpid:");
    if (ns == std::string::npos) {
        // A pidfd of an ended process says "Pid: -1" and has no NSpid line.
        if (text.find("\nPid:\t-1") != std::string::npos) return make_error("pidfd", path, ESRCH);
        return make_error("pidfd", path + ": not a pidfd", EBADF);
    }
    pid_t innermost = 0;
    for (const char* p = text.c_str() + ns + 7; *p && *p != '\n';) {
        char* end = nullptr;
        long v = std::strtol(p, &end, 10);
        if (end == p) break;
        innermost = pid_t(v);
        p = end;
    }
    if (innermost <= 0) return make_error("pidfd", path + ": no PID", ESRCH);
    return innermost;
}

Result<std::vector<pid_t>> read_thread_children(pid_t tid) {
    std::string t = std::to_string(tid);
    std::string text = TRY(read_file("/proc/" + t + "/task/" + t + "/children"));
    std::vector<pid_t> out;
    for (const char* p = text.c_str(); *p;) {
        char* end = nullptr;
        long v = std::strtol(p, &end, 10);
        if (end == p) break;
        out.push_back(pid_t(v));
        p = end;
    }
    return out;
}

std::optional<int> zombie_wait_status(pid_t pid) {
    auto text = read_file("/proc/" + std::to_string(pid) + "/stat");
    if (!text) return std::nullopt;
    // "pid (comm) S ..." — comm may hold spaces and parentheses: fields count from the last ')'.
    auto close = text->rfind(')');
    if (close == std::string::npos || close + 2 >= text->size()) return std::nullopt;
    const char* p = text->c_str() + close + 2;
    if (*p != 'Z') return std::nullopt;
    // exit_code is field 52; the state is field 3.
    for (int field = 3; field < 52; ++field) {
        p = std::strchr(p, ' ');
        if (!p) return std::nullopt;
        ++p;
    }
    return int(std::strtol(p, nullptr, 10));
}

}  // namespace ssi
