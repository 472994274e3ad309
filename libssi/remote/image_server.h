// ImageServer: the deputy's end of the image channel (image_stream.h). It serves one file,
// the image of the move under way, to the supervisor that fetches it, and takes the image
// a leaving supervisor sends into IMAGE.part, renamed to IMAGE once whole. On a move home
// it also takes the pre-copy of the program's memory, into areas of the deputy's own
// address space at the program's addresses (FixedAreas): the program is rebuilt in the
// deputy, and finds that memory in place. It runs as the user (inside the deputy), so it
// can touch nothing the user could not.
#pragma once

#include "kern-ext/fixed_areas.h"
#include "kern-ext/unique_fd.h"

#include <string>
#include <string_view>

namespace ssi::remote {

class ImageServer {
public:
    // The image of the move under way; "" when none (every request is then refused).
    // Areas held for a pre-copy are let go: that move is over.
    void serve(std::string path);
    // The deputy parks: the areas stay, for the rebuild in it.
    void keep_precopy();
    // The reply payload to one request payload; valid until the next call (a chunk is read
    // straight into a buffer kept from one request to the next: no allocation, one copy).
    const std::string& handle(std::string_view request);

private:
    const std::string& reply(std::string text);
    std::string path_;
    std::string reply_;
    UniqueFd reader_, writer_;
    FixedAreas precopy_;
    void end_progress();
    UniqueFd progress_;  // IMAGE.precopy, as long as the pre-copy so far
    std::string progress_path_;
    uint64_t progress_bytes_ = 0;
};

}  // namespace ssi::remote
