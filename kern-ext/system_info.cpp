#include "kern-ext/system_info.h"

#include "kern-ext/files.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace ssi {
namespace {

uint64_t meminfo_field(const std::string& text, const char* key) {
    auto pos = text.find(key);
    if (pos == std::string::npos) return 0;
    return std::strtoull(text.c_str() + pos + std::strlen(key), nullptr, 10);
}

}  // namespace

Result<SystemInfo> read_system_info() {
    SystemInfo info;
    struct utsname uts {};
    if (::uname(&uts) < 0) return sys_error("uname");
    info.hostname = uts.nodename;
    long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    info.cpus = n > 0 ? uint32_t(n) : 1;
    std::string load = TRY(read_file("/proc/loadavg"));
    if (std::sscanf(load.c_str(), "%lf %lf %lf", &info.load1, &info.load5, &info.load15) != 3)
        return make_error("parse", "/proc/loadavg", EIO);
    std::string mem = TRY(read_file("/proc/meminfo"));
    info.mem_total_kb = meminfo_field(mem, "MemTotal:");
    info.mem_available_kb = meminfo_field(mem, "MemAvailable:");
    return info;
}

}  // namespace ssi
