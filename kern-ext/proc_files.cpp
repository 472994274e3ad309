#include "kern-ext/proc_files.h"

#include "kern-ext/file_ops.h"
#include "kern-ext/files.h"

#include <fcntl.h>

#include <cstdlib>

namespace ssi {
namespace {

std::string proc_of(pid_t tid) { return "/proc/" + std::to_string(tid); }

}  // namespace

Result<bool> closes_on_exec(pid_t tid, int fd) {
    std::string path = proc_of(tid) + "/fdinfo/" + std::to_string(fd);
    std::string text = TRY(read_file(path));
    auto at = text.find("flags:");
    if (at == std::string::npos) return make_error("parse", path + ": no flags", EIO);
    char* end = nullptr;
    unsigned long flags = std::strtoul(text.c_str() + at + 6, &end, 8);
    if (end == text.c_str() + at + 6) return make_error("parse", path + ": flags", EIO);
    return (flags & O_CLOEXEC) != 0;
}

Result<std::string> working_directory_of(pid_t tid) { return readlink_at(AT_FDCWD, proc_of(tid) + "/cwd"); }

Result<mode_t> umask_of(pid_t tid) {
    std::string path = proc_of(tid) + "/status";
    std::string text = TRY(read_file(path));
    auto at = text.find("\nUmask:");
    if (at == std::string::npos) return make_error("parse", path + ": no Umask", EIO);
    return mode_t(std::strtoul(text.c_str() + at + 7, nullptr, 8) & 0777);
}

Result<UniqueFd> root_directory_of(pid_t tid) { return open_at(AT_FDCWD, proc_of(tid) + "/root", O_PATH | O_DIRECTORY); }

}  // namespace ssi
