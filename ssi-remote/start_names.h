// StartNames: the names a program's start looks up, remembered on this node from its last
// run and looked up at home in one round trip at its next (a PrimeRequest), before the
// program asks. Starting `true` walks ~25 names — the loader's symlinks, libc's
// directories, the program's own path — each a LOOKUP or READLINK round trip of its own;
// primed, the kernel's requests are answered here.
//
// Only names travel: every one is looked up at home afresh, with the user's credentials,
// and enters the deputy's tables exactly as the kernel's own LOOKUP would (its names
// checked before any request made through them), so a primed name is as fresh as one the
// kernel asked for a moment earlier. A name gone since is left out; negative lookups are
// never primed (a file created at home is found at once).
//
// Recorded per (home, uid, program) in a root-only directory beside the file copies:
// the names a run looked up during its first second, in order, at most kMaxPrimedNames.
// A run rewrites the record when its names differ from what it was primed with.
#pragma once

#include "kern-ext/result.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace ssi::remote {

class StartNames {
public:
    using Names = std::vector<std::pair<std::string, bool>>;  // path under the root, read its link

    // The record for runs of `program` by `uid` from `home`, in `dir` (created, root only).
    static Result<std::shared_ptr<StartNames>> open(const std::string& dir, int32_t home, uint32_t uid,
                                                    const std::string& program);

    // What the last run recorded; empty when none (or unreadable).
    const Names& last() const { return last_; }

    // This run's lookups, as the kernel asks them: `name` in directory `parent` is `node`.
    // Only names under paths already known (the root's first) are recorded.
    void looked_up(uint64_t parent, const std::string& name, uint64_t node);
    void read_link(uint64_t node);

    // Writes this run's record for the next run, when it differs from the last.
    Result<void> save() const;

    // The record's file, for tests.
    const std::string& path() const { return path_; }

private:
    StartNames(std::string path, std::string program, Names last);
    bool recording() const;

    std::string path_;
    std::string program_;
    Names last_;
    std::chrono::steady_clock::time_point started_;
    mutable std::mutex mu_;
    std::map<uint64_t, std::string> paths_;  // node -> its path under the root
    Names recorded_;
};

}  // namespace ssi::remote
