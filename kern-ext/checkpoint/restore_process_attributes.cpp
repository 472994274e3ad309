// Personality, umask and working directory, by injected personality(2), umask(2) and
// chdir(2). Run after adopt_file_credentials, so the directory is entered with the
// restoring user's file rights (a directory they may not search is refused, naming it).
#include "kern-ext/checkpoint/steps.h"

#include <sys/syscall.h>

namespace ssi::ckpt {

Result<void> restore_process_attributes(RemoteSyscaller& sys, const RestoreRegion& region, const ProcessImage& image) {
    const ProcessAttributes& a = image.attributes;
    // personality() returns the previous persona, never an error: check it took.
    TRY(sys.call("personality", SYS_personality, a.personality));
    if (TRY(sys.call("personality", SYS_personality, 0xffffffffu)) != a.personality)
        return make_error("personality", "restore: persona " + std::to_string(a.personality) + " refused", EINVAL);
    TRY(sys.call("umask", SYS_umask, a.umask & 0777));
    if (a.cwd.empty()) return ok();
    if (a.cwd.size() >= 4096 || a.cwd[0] != '/')
        return make_error("restore working directory", a.cwd + ": not an absolute path that fits a page", EINVAL);
    std::string path = a.cwd;
    path.push_back('\0');
    TRY(write_remote(sys.pid(), region.scratch(), path));
    auto entered = sys.call("chdir", SYS_chdir, region.scratch().addr);
    if (!entered) return Error{"restore working directory: chdir", entered.error().err, a.cwd};
    return ok();
}

}  // namespace ssi::ckpt
