// /proc/PID/maps, parsed: the layout a checkpoint saves and a restore clears; from
// /proc/PID/smaps, which areas use transparent huge pages; from /proc/PID/status, which
// signals do not have their default action.
#include "kern-ext/checkpoint/steps.h"
#include "kern-ext/files.h"

#include <sys/mman.h>

#include <cinttypes>
#include <cstring>
#include <cstdio>
#include <sstream>

namespace ssi::ckpt {

bool MapsEntry::is_kernel() const {
    return path == "[vdso]" || path == "[vvar]" || path == "[vvar_vclock]" || path == "[vsyscall]" ||
           path == "[uprobes]";
}

uint32_t MapsEntry::prot() const {
    if (perms.size() < 3) return 0;
    return (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) | (perms[2] == 'x' ? PROT_EXEC : 0);
}

Result<std::vector<MapsEntry>> read_maps(pid_t pid) {
    std::string file = pid == 0 ? "/proc/self/maps" : "/proc/" + std::to_string(pid) + "/maps";
    std::string text = TRY(read_file(file));
    std::vector<MapsEntry> out;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        MapsEntry e;
        char perms[8] = {};
        unsigned dev_major = 0, dev_minor = 0;
        int path_at = 0;
        if (std::sscanf(line.c_str(), "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %x:%x %" SCNu64 " %n", &e.start, &e.end,
                        perms, &e.offset, &dev_major, &dev_minor, &e.inode, &path_at) < 7)
            return make_error("parse", file + ": \"" + line + "\"");
        e.perms = perms;
        if (path_at > 0 && size_t(path_at) < line.size()) e.path = line.substr(size_t(path_at));
        out.push_back(std::move(e));
    }
    return out;
}

Result<std::vector<uint64_t>> read_huge_page_areas(pid_t pid) {
    std::string file = "/proc/" + std::to_string(pid) + "/smaps";
    std::string text = TRY(read_file(file));
    std::vector<uint64_t> out;
    std::istringstream lines(text);
    std::string line;
    uint64_t start = 0;
    bool huge = false;
    auto close_area = [&] {
        if (huge) out.push_back(start);
        huge = false;
    };
    while (std::getline(lines, line)) {
        if (line.empty()) continue;
        char c = line[0];
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) {  // an area's first line: "start-end perms ..."
            close_area();
            start = std::strtoull(line.c_str(), nullptr, 16);
        } else if (line.rfind("AnonHugePages:", 0) == 0) {
            huge = huge || std::strtoull(line.c_str() + 14, nullptr, 10) > 0;
        } else if (line.rfind("VmFlags:", 0) == 0) {
            huge = huge || (line + " ").find(" hg ") != std::string::npos;
        }
    }
    close_area();
    return out;
}

Result<uint64_t> signals_not_default(pid_t pid) {
    const std::string status = TRY(read_file("/proc/" + std::to_string(pid) + "/status"));
    uint64_t mask = 0;
    for (const char* field : {"\nSigIgn:\t", "\nSigCgt:\t"}) {
        size_t at = status.find(field);
        if (at == std::string::npos) return ~0ull;
        mask |= std::strtoull(status.c_str() + at + std::strlen(field), nullptr, 16);
    }
    return mask;
}

}  // namespace ssi::ckpt

namespace ssi {
Result<std::vector<uint64_t>> huge_page_areas(pid_t pid) { return ckpt::read_huge_page_areas(pid); }
}  // namespace ssi
