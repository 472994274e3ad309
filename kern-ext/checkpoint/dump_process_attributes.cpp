// What the checkpointer can read from outside: resource limits (prlimit on the pid), the
// umask ("Umask:" of /proc/PID/status), the personality (/proc/PID/personality) and the
// working directory (the /proc/PID/cwd link). The interval timers need the process
// itself (dump_itimers.cpp).
#include "kern-ext/checkpoint/steps.h"
#include "kern-ext/file_ops.h"
#include "kern-ext/files.h"
#include "kern-ext/resource_limits.h"

#include <fcntl.h>

#include <sstream>

namespace ssi::ckpt {

namespace {
Result<uint32_t> parse_number(const std::string& text, int base, const std::string& what) {
    try {
        size_t used = 0;
        unsigned long v = std::stoul(text, &used, base);
        if (used == 0 || v > 0xffffffffu) throw std::invalid_argument(text);
        return uint32_t(v);
    } catch (const std::exception&) {
        return make_error("parse", what + ": '" + text + "'", EBADMSG);
    }
}
}  // namespace

Result<void> dump_process_attributes(pid_t pid, ProcessImage& image) {
    ProcessAttributes& a = image.attributes;
    for (int r = 0; r < int(a.rlimits.size()); ++r) {
        rlimit l = TRY(get_resource_limit(pid, r));
        a.rlimits[size_t(r)] = ResourceLimit{l.rlim_cur, l.rlim_max};
    }
    const std::string dir = "/proc/" + std::to_string(pid);
    std::string status = TRY(read_file(dir + "/status"));
    size_t at = status.find("\nUmask:");
    if (at == std::string::npos) return make_error("parse", dir + "/status: no Umask line", EBADMSG);
    a.umask = TRY(parse_number(status.substr(at + 7, status.find('\n', at + 1) - at - 7), 8, dir + "/status Umask"));
    a.personality = TRY(parse_number(TRY(read_file(dir + "/personality")), 16, dir + "/personality"));
    a.cwd = TRY(readlink_at(AT_FDCWD, dir + "/cwd"));
    return ok();
}

}  // namespace ssi::ckpt
