// ImageServer: the deputy's end of the image channel (image_stream.h). It serves one file,
// the image of the move under way, to the supervisor that fetches it, and takes the image
// a leaving supervisor sends into IMAGE.part, renamed to IMAGE once whole. On a move home
// it also takes the pre-copy of the program's memory, into areas of the deputy's own
// address space at the program's addresses (FixedAreas): the program is rebuilt in the
// deputy, and finds that memory in place. It runs as the user (inside the deputy), so it
// can touch nothing the user could not.
#pragma once

#include "kern-ext/checkpoint/image_source.h"
#include "kern-ext/fixed_areas.h"
#include "kern-ext/unique_fd.h"

#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace ssi::remote {

class ImageServer {
public:
    // The image of the move under way; "" when none (every request is then refused).
    // Areas held for a pre-copy are let go: that move is over.
    void serve(std::string path);
    // A move from home: the image is IMAGE.head, then the memory `holder` (our child)
    // keeps; it is read in order as it is asked for, never written into a file. How far
    // it was sent shows in IMAGE.sent (sparse, that long) for ssi-migrate's bar. Returns
    // the image's size.
    Result<uint64_t> serve_held(std::string path, pid_t holder);
    // A post-copy of that move (docs/migration.md, "Post-copy"): the target asks for the
    // head alone ('H'), then for the held memory by address ('L', any order), and says
    // when it has it all ('Z'), which may come before the news that the program resumed.
    bool postcopy_done() const { return postcopy_done_; }
    // The deputy parks: the areas stay, for the rebuild in it.
    void keep_precopy();
    // The reply payload to one request payload; valid until the next call (a chunk is read
    // straight into a buffer kept from one request to the next: no allocation, one copy).
    const std::string& handle(std::string_view request);

private:
    const std::string& reply(std::string text);
    const std::string& read_held(uint64_t offset, uint32_t length);
    const std::string& read_file_at(int fd, uint64_t offset, uint32_t length);
    const std::string& read_holder(uint64_t address, uint32_t length);
    std::string path_;
    std::string reply_;
    UniqueFd reader_, writer_;
    FixedAreas precopy_;
    UniqueFd head_;                          // serve_held: IMAGE.head
    std::unique_ptr<ImageSource> held_;      // and the whole image, from it and the holder
    uint64_t held_at_ = 0;                   // how far it was read
    bool ended_ = false;                     // to its end
    pid_t holder_ = 0;                       // whose memory 'L' reads
    bool postcopy_done_ = false;
    void start_progress(std::string path);
    void add_progress(uint64_t bytes);
    void end_progress();
    UniqueFd progress_;  // IMAGE.precopy or IMAGE.sent, as long as what came or went so far
    std::string progress_path_;
    uint64_t progress_bytes_ = 0;
};

}  // namespace ssi::remote
