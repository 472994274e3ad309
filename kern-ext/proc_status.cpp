#include "kern-ext/proc_status.h"

#include "kern-ext/files.h"

#include <cstdio>
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
