// What the checkpointer can read from outside: the umask ("Umask:" of /proc/PID/status),
// the personality (/proc/PID/personality) and the working directory (the /proc/PID/cwd
// link). Interval timers and resource limits are asked of the process itself
// (dump_itimers.cpp, dump_rlimits.cpp).
#include "kern-ext/checkpoint/steps.h"
#include "kern-ext/file_ops.h"
#include "kern-ext/files.h"

#include <fcntl.h>

#include <stdexcept>
#include <string>

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
