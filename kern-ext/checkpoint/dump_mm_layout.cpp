// The memory descriptor's fields prctl(PR_SET_MM_MAP) restores: code/data/stack/brk
// bounds and argv/environ bounds from /proc/PID/stat, the auxv, and the process name.
// brk itself was read by dump_injected_state (stat has only start_brk).
#include "kern-ext/checkpoint/steps.h"
#include "kern-ext/files.h"

#include <sstream>

namespace ssi::ckpt {

Result<void> dump_mm_layout(pid_t pid, ProcessImage& image) {
    std::string dir = "/proc/" + std::to_string(pid);
    std::string stat = TRY(read_file(dir + "/stat"));
    size_t close = stat.rfind(')');
    size_t open = stat.find('(');
    if (close == std::string::npos || open == std::string::npos) return make_error("parse", dir + "/stat");
    image.comm = stat.substr(open + 1, close - open - 1);
    // Fields after the comm, numbered as in proc(5): field 3 (state) is index 0.
    std::istringstream in(stat.substr(close + 2));
    std::vector<std::string> f;
    for (std::string tok; in >> tok;) f.push_back(tok);
    if (f.size() < 49) return make_error("parse", dir + "/stat: too few fields");
    auto field = [&](int n) { return std::stoull(f[size_t(n - 3)]); };
    MmLayout& mm = image.mm;
    mm.start_code = field(26);
    mm.end_code = field(27);
    mm.start_stack = field(28);
    mm.start_data = field(45);
    mm.end_data = field(46);
    mm.start_brk = field(47);
    mm.arg_start = field(48);
    mm.arg_end = field(49);
    mm.env_start = field(50);
    mm.env_end = field(51);
    if (mm.start_code == 0 && mm.end_code == 0) return make_error("read mm layout", dir + "/stat hides it (no permission)", EPERM);
    mm.auxv = TRY(read_file(dir + "/auxv"));
    return ok();
}

}  // namespace ssi::ckpt
