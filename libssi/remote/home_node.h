// The server's table entries (HomeFileServer::Node, ::Handle), shared by its source files.
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"
#include "libssi/remote/home_file_server.h"

#include <fcntl.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ssi::remote {

// How the server holds a name: a path descriptor of the name itself, never of what a
// symbolic link points to.
inline constexpr int kPathFlags = O_PATH | O_NOFOLLOW;
// *at() calls on such a descriptor itself.
inline constexpr int kSelf = AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW;

// A name within one directory, as a request may carry it: not empty, ".", ".." or with a
// slash (EINVAL).
inline Result<void> check_name(const std::string& name) {
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos)
        return make_error("check name", name, EINVAL);
    return ok();
}

struct HomeFileServer::Node {
    UniqueFd fd;  // O_PATH | O_NOFOLLOW
    dev_t dev = 0;
    ino_t ino = 0;
    uint64_t lookups = 0;  // guarded by the server's mutex
    // The names the target's kernel knows it by, checked before use (home_names.cpp);
    // guarded by the server's mutex.
    struct KnownName {
        uint64_t parent;
        std::string name;
        uint64_t checked_at = kNeverChecked;  // the parent's `changes` when last found to hold
        bool is(uint64_t in, std::string_view called) const { return parent == in && name == called; }
    };
    static constexpr uint64_t kNeverChecked = ~uint64_t(0);
    std::vector<KnownName> names;
    // A directory whose names the target knows is watched for changes: a name is checked
    // with fstatat again only after news of its directory. Guarded by the server's mutex.
    int watch = -1;            // the DirectoryWatch number, or -1
    bool unwatchable = false;  // tried and failed: its names are checked at every use
    uint64_t changes = 0;      // news of this directory so far (any overflow counts for all)
    std::mutex lock_mu;    // guards owners, and each lock call made on them
    std::map<uint64_t, UniqueFd> owners;  // one open file description per POSIX lock owner
};

struct HomeFileServer::Handle {
    UniqueFd fd;
    std::shared_ptr<Node> node;
    std::mutex dir_mu;       // directories: guards the position and the count below
    int64_t dir_next = 0;    // where the directory fd is positioned now
    uint64_t dir_node = 0;   // the directory's node id (ReaddirplusRequest enters its names)
    uint32_t plus_nodes = 0; // lookups ReaddirplusRequest made through this handle
};

}  // namespace ssi::remote
