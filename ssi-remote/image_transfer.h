// The supervisor's end of the image channel (libssi/remote/image_stream.h): a migration's
// image streams between the deputy's home file and this supervisor over the session's
// ZeroMQ link, several chunks in flight, through a pipe that checkpoint/restore's own
// image reader and writer use as their file — so an image is parsed while it arrives and
// sent while it is written, and never touches a disk here.
#pragma once

#include "kern-ext/checkpoint/checkpoint.h"
#include "kern-ext/result.h"
#include "ssi-remote/fs_transport.h"

#include <zmq.hpp>

namespace ssi::remote {

// The image of the move under way, from the deputy.
Result<ProcessImage> fetch_image(zmq::context_t& context, const SessionKeys& keys);
// `image` to the deputy, whole (renamed into place) when this returns; its size.
Result<uint64_t> send_image(zmq::context_t& context, const SessionKeys& keys, const ProcessImage& image);

}  // namespace ssi::remote
