// Input that a reader took from a descriptor but that its consumer never read, put back
// where the next read of that descriptor finds it first. A migration back home needs it:
// the deputy read stdin ahead of the program, and the program, rebuilt in the deputy,
// reads the same descriptor next.
#pragma once

#include "kern-ext/result.h"

#include <string_view>

namespace ssi {

// How `bytes` went back:
//   seek:     a regular file or block device: the offset moved back by their length;
//   terminal: pushed into the terminal's input queue (TIOCSTI), as if typed again;
//   feeder:   anything else (a pipe, a socket): `fd` is replaced by a new pipe, fed by a
//             detached process ("ssi-stdin-feed") with `bytes` and then what follows
//             them in the original, until its end or until the reader closes the pipe.
enum class PushedBack { seek, terminal, feeder };

// Where a feeder would be needed: start one, or (in_place) give up with ESPIPE — at its
// exit, a reader cannot hand a pipe's bytes back to the others that read it.
enum class PushBack { or_feeder, in_place };

// `bytes` must be what was read last from `fd` (the seek assumes it). With a feeder, call
// it with no other thread running, or none that allocates: a feeder is forked.
Result<PushedBack> push_back_input(int fd, std::string_view bytes, PushBack how = PushBack::or_feeder);

}  // namespace ssi
