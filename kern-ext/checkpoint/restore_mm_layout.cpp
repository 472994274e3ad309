// The memory descriptor: code/data/brk/stack/argv/environ bounds and the auxv, in one
// prctl(PR_SET_MM, PR_SET_MM_MAP) (needs CAP_SYS_RESOURCE), so brk() grows the restored
// heap and /proc/PID/cmdline shows the restored arguments; and the process name.
#include "kern-ext/checkpoint/steps.h"

#include <linux/prctl.h>
#include <sys/syscall.h>

#include <cstring>

namespace ssi::ckpt {

Result<void> restore_mm_layout(RemoteSyscaller& sys, const RestoreRegion& region, const ProcessImage& image) {
    const MmLayout& mm = image.mm;
    prctl_mm_map map{};
    map.start_code = mm.start_code;
    map.end_code = mm.end_code;
    map.start_data = mm.start_data;
    map.end_data = mm.end_data;
    map.start_brk = mm.start_brk;
    map.brk = mm.brk;
    map.start_stack = mm.start_stack;
    map.arg_start = mm.arg_start;
    map.arg_end = mm.arg_end;
    map.env_start = mm.env_start;
    map.env_end = mm.env_end;
    map.exe_fd = uint32_t(-1);  // /proc/PID/exe stays the restorer's for now

    const uint64_t auxv_at = (sizeof map + 15) & ~15ull;
    if (auxv_at + mm.auxv.size() > 4096) return make_error("restore mm", "auxv too large", E2BIG);
    map.auxv = reinterpret_cast<__u64*>(region.scratch().addr + auxv_at);
    map.auxv_size = uint32_t(mm.auxv.size());
    std::string scratch(auxv_at + mm.auxv.size(), '\0');
    std::memcpy(scratch.data(), &map, sizeof map);
    std::memcpy(scratch.data() + auxv_at, mm.auxv.data(), mm.auxv.size());
    TRY(write_remote(sys.pid(), region.scratch(), scratch));
    TRY(sys.call("prctl(PR_SET_MM_MAP)", SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, region.scratch().addr, sizeof map, 0));

    std::string name = image.comm.substr(0, 15);
    name.push_back('\0');
    TRY(write_remote(sys.pid(), region.scratch(), name));
    TRY(sys.call("prctl(PR_SET_NAME)", SYS_prctl, PR_SET_NAME, region.scratch().addr));
    return ok();
}

}  // namespace ssi::ckpt
