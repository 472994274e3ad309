// The supervisor's pre-copy of a program moving home (docs/migration.md, "Pre-copy"):
// while the program runs on, its private areas (data and code) go into the deputy's own memory
// at the same addresses (the deputy is the process it will be rebuilt in), then, round
// by round, the pages it wrote meanwhile, until a round is small. What it writes after
// the last round is what the checkpoint then saves of those areas (WriteTracker), so the
// program is stopped only for that and the rest of its state.
#pragma once

#include "kern-ext/checkpoint/write_tracker.h"
#include "kern-ext/result.h"
#include "ssi-remote/fs_transport.h"

#include <zmq.hpp>

#include <optional>

namespace ssi::remote {

struct Precopied {
    std::optional<WriteTracker> tracker;  // none: nothing was pre-copied (no area, or the deputy held none)
    uint64_t bytes = 0;                   // sent, all rounds
    uint32_t ms = 0;                      // while the program ran on
    int rounds = 0;                       // after the first, whole one
    zmq::socket_t link;                   // the image channel it used, idle: the image goes on it too
    std::vector<uint64_t> huge_page_areas;  // read at its end, while the program still ran
};

// A failure (the deputy gone) leaves the program running, untouched but for the time.
Result<Precopied> precopy_to_deputy(zmq::context_t& context, const SessionKeys& keys, pid_t program);

}  // namespace ssi::remote
