// Checkpoint and restart of one single-threaded process (issue 4, first step).
//
//   ProcessImage image = TRY(checkpoint(pid, {.after = CheckpointOptions::kill}));
//   TRY(save_image(image, "/run/ssi/4711.img"));
//   ...
//   ProcessImage again = TRY(load_image("/run/ssi/4711.img"));
//   pid_t restored = TRY(restore(again, {.fds = {{1, pipe_write_end}}}));
//
// What is refused, what is saved and how it is rebuilt: docs in each step's file
// (kern-ext/checkpoint/*.cpp). The restored process is a child of the caller with a new
// PID; its open files are the ones the caller hands over in RestoreOptions::fds.
#pragma once

#include "kern-ext/checkpoint/process_image.h"
#include "kern-ext/result.h"

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

namespace ssi {

struct CheckpointOptions {
    enum After { resume, kill } after = resume;  // what happens to the process once saved
};

// Refuses (with the reason, leaving the process untouched) several threads, a tracer,
// shared writable mappings, SysV shared memory and io_uring; else stops the process,
// saves it and lets it go on (or kills it while still stopped, so it never runs past
// the image).
Result<ProcessImage> checkpoint(pid_t pid, const CheckpointOptions& options = {});

struct RestoreOptions {
    // {fd number in the restored process, fd in the caller}; every other fd is closed.
    std::vector<std::pair<int, int>> fds;
};

// Rebuilds the image in a new child of the caller and lets it run; returns its PID.
// On failure the half-built child is killed and reaped.
Result<pid_t> restore(const ProcessImage& image, const RestoreOptions& options = {});

// The image file: a versioned header and checksummed sections (image_file.cpp).
Result<void> save_image(const ProcessImage& image, const std::string& path);
Result<ProcessImage> load_image(const std::string& path);

}  // namespace ssi
