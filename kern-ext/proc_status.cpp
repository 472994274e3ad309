#include "kern-ext/proc_status.h"

#include "kern-ext/files.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace ssi {

Result<ProcessUids> read_process_uids(pid_t pid) {
    std::string path = "/proc/" + std::to_string(pid) + "/status";
    std::string text = TRY(read_file(path));
    auto pos = text.find("\nUid:");
    if (pos == std::string::npos) return make_error("parse", path + ": no Uid line", EIO);
    unsigned r = 0, e = 0, s = 0;
    if (std::sscanf(text.c_str() + pos + 5, "%u %u %u", &r, &e, &s) != 3)
        return make_error("parse", path + ": bad Uid line", EIO);
    return ProcessUids{r, e, s};
}

}  // namespace ssi

namespace ssi {

Result<ProcessIdentity> read_process_identity(pid_t pid) {
    std::string path = "/proc/" + std::to_string(pid) + "/status";
    std::string text = TRY(read_file(path));
    ProcessIdentity id;
    auto field = [&](const char* name) -> const char* {
        auto pos = text.find(std::string("\n") + name);
        return pos == std::string::npos ? nullptr : text.c_str() + pos + 1 + std::strlen(name);
    };
    const char* ppid = field("PPid:");
    const char* uid = field("Uid:");
    const char* gid = field("Gid:");
    const char* groups = field("Groups:");
    if (!ppid || !uid || !gid || !groups) return make_error("parse", path + ": missing fields", EIO);
    id.ppid = pid_t(std::strtol(ppid, nullptr, 10));
    id.uid = uid_t(std::strtoul(uid, nullptr, 10));
    id.gid = gid_t(std::strtoul(gid, nullptr, 10));
    for (const char* p = groups; *p && *p != '\n';) {
        char* end = nullptr;
        unsigned long g = std::strtoul(p, &end, 10);
        if (end == p) break;
        id.groups.push_back(gid_t(g));
        p = end;
    }
    return id;
}

}  // namespace ssi
