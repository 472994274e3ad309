// Who the restored process is. The restorer is root (PR_SET_MM_MAP needs
// CAP_SYS_RESOURCE, a chosen PID CAP_SYS_ADMIN), and the child it forks starts as root;
// the image may have been crafted by whoever asks for the restart. So the child is given
// the asker's identity from inside, by injected calls, before any of the image's code
// can run:
//   - first (adopt_file_credentials), setgroups and setfsgid/setfsuid: every file the
//     rebuilding touches is touched as the asker (the first version opens none, but the
//     next ones will map files), while the capabilities the rebuilding needs are kept;
//   - last (restore_credentials), setresgid/setresuid: real, effective and saved ids all
//     the asker's, so no capability survives (an unprivileged uid leaves none), then
//     PR_SET_DUMPABLE back to 1, which the change of ids cleared, so the owner can
//     debug, checkpoint and read /proc of their own process as before.
// When the process already has exactly these credentials (restore_into a user's own
// process, which could not setgroups), both steps change nothing.
#include "kern-ext/checkpoint/steps.h"
#include "kern-ext/files.h"

#include <sys/prctl.h>
#include <sys/syscall.h>

#include <algorithm>
#include <sstream>
#include <string>

namespace ssi::ckpt {

namespace {
// The numbers after "Key:" on a line of /proc/PID/status.
std::vector<uint64_t> status_numbers(const std::string& status, const std::string& key) {
    std::vector<uint64_t> out;
    std::istringstream lines(status);
    std::string line;
    while (std::getline(lines, line))
        if (line.rfind(key + ":", 0) == 0) {
            std::istringstream values(line.substr(key.size() + 1));
            uint64_t v;
            while (values >> v) out.push_back(v);
        }
    return out;
}
}  // namespace

Result<RestoreCredentials> read_fs_credentials(pid_t pid) {
    std::string status = TRY(read_file("/proc/" + std::to_string(pid) + "/status"));
    std::vector<uint64_t> uids = status_numbers(status, "Uid"), gids = status_numbers(status, "Gid");
    if (uids.size() != 4 || gids.size() != 4) return make_error("parse", "/proc/" + std::to_string(pid) + "/status: Uid, Gid");
    RestoreCredentials c{uid_t(uids[3]), gid_t(gids[3]), {}};
    for (uint64_t g : status_numbers(status, "Groups")) c.groups.push_back(gid_t(g));
    return c;
}

Result<bool> has_credentials(pid_t pid, const RestoreCredentials& c) {
    std::string status = TRY(read_file("/proc/" + std::to_string(pid) + "/status"));
    std::vector<uint64_t> uids = status_numbers(status, "Uid"), gids = status_numbers(status, "Gid");
    std::vector<uint64_t> groups = status_numbers(status, "Groups");
    std::vector<uint64_t> wanted(c.groups.begin(), c.groups.end());
    std::sort(groups.begin(), groups.end());
    std::sort(wanted.begin(), wanted.end());
    wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
    return uids == std::vector<uint64_t>(4, c.uid) && gids == std::vector<uint64_t>(4, c.gid) && groups == wanted;
}

Result<void> adopt_file_credentials(RemoteSyscaller& sys, const RestoreRegion& region, const RestoreOptions& options) {
    if (!options.credentials) return ok();
    const RestoreCredentials& c = *options.credentials;
    if (TRY(has_credentials(sys.pid(), c))) return ok();
    if (c.groups.size() * sizeof(gid_t) > 4096) return make_error("restore credentials", "too many groups", E2BIG);
    std::string groups(reinterpret_cast<const char*>(c.groups.data()), c.groups.size() * sizeof(gid_t));
    if (!groups.empty()) TRY(write_remote(sys.pid(), region.scratch(), groups));
    TRY(sys.call("setgroups", SYS_setgroups, c.groups.size(), region.scratch().addr));
    // setfs[ug]id return the previous id, never an error: check the effect instead.
    TRY(sys.call("setfsgid", SYS_setfsgid, c.gid));
    TRY(sys.call("setfsuid", SYS_setfsuid, c.uid));
    if (TRY(sys.call("setfsgid", SYS_setfsgid, uint64_t(-1))) != c.gid ||
        TRY(sys.call("setfsuid", SYS_setfsuid, uint64_t(-1))) != c.uid)
        return make_error("restore credentials", "setfsuid/setfsgid did not take", EPERM);
    return ok();
}

Result<void> restore_credentials(RemoteSyscaller& sys, const RestoreOptions& options) {
    if (!options.credentials) return ok();
    const RestoreCredentials& c = *options.credentials;
    if (TRY(has_credentials(sys.pid(), c))) return ok();
    TRY(sys.call("setresgid", SYS_setresgid, c.gid, c.gid, c.gid));
    TRY(sys.call("setresuid", SYS_setresuid, c.uid, c.uid, c.uid));
    TRY(sys.call("prctl(PR_SET_DUMPABLE)", SYS_prctl, PR_SET_DUMPABLE, 1));
    return ok();
}

}  // namespace ssi::ckpt
