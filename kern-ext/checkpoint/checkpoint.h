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
// PID; its open files are the ones the caller hands over in RestoreOptions::fds, and the
// image's files reopened by path when RestoreOptions::files says so. restore_into
// rebuilds an image inside an existing process instead, which keeps its PID.
#pragma once

#include "kern-ext/checkpoint/lazy_memory.h"
#include "kern-ext/checkpoint/process_image.h"
#include "kern-ext/result.h"

#include <sys/types.h>

#include <optional>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ssi {

class WriteTracker;

struct CheckpointOptions {
    // What happens to the process once saved: it goes on, dies while still stopped, or
    // execs replace_argv (keeping its PID, parent, open files and cwd: a deputy left
    // behind by a migration; replace_stopped.cpp).
    enum After { resume, kill, replace } after = resume;
    // Runs while the process is still stopped, before `after` applies. If it fails (the
    // image could not be written), the process is let go untouched and the error returned:
    // with `kill`, the process dies only once its image is safe.
    std::function<Result<void>(const ProcessImage&)> while_frozen;
    // For `replace`: argv[0] is the program's absolute path; the environment is exactly
    // replace_env. If the exec fails, the process goes on untouched and the error returned.
    std::vector<std::string> replace_argv;
    std::vector<std::string> replace_env;
    // The process is about to move to another node: beyond stdin, stdout and stderr it may
    // hold only files, directories and devices, which can be reopened by path there.
    bool migrating = false;
    // The memory's contents are not copied into the image: while_frozen's save_image_to
    // reads them straight from the stopped process, a chunk at a time, so a large process
    // is saved without a whole copy of it in memory (and without faulting one in). The
    // image returned then has no contents: it can be saved only inside while_frozen.
    bool stream_memory = false;
    // With `replace` and stream_memory: the memory outlives the exec in a holder
    // (memory_holder.h), and the image returned reads its contents from there
    // (memory_from): it can be saved, or streamed, after the process has become the new
    // program. The caller owns the holder: SIGKILL it once the image is no longer needed
    // (the new program, its parent, reaps it with waitpid(__WALL); it dies with it too).
    bool hold_memory = false;
    // The process was pre-copied while this tracker followed it (write_tracker.h): the
    // mappings it follows are saved as the pages written since its last look, marked
    // pre-copied. Such an image can be rebuilt only by restore_into the process that
    // received the pre-copy (it holds the rest).
    WriteTracker* precopied = nullptr;
    // Which areas have transparent huge pages (huge_page_areas()), read a moment before
    // while the process ran: the stopped process's page tables are then not walked for
    // it (/proc/PID/smaps: ~13 ms at 1 GiB, all of it in a pre-copied move's freeze). An
    // area that changed since only gets its restore's huge-page advice wrong.
    std::optional<std::vector<uint64_t>> huge_page_areas;
};

// The start of every area of `pid` that has transparent huge pages or asked for them.
Result<std::vector<uint64_t>> huge_page_areas(pid_t pid);

// Refuses (with the reason, leaving the process untouched) several threads, a tracer,
// shared writable mappings, SysV shared memory and io_uring; else stops the process,
// saves it and lets it go on (or kills it while still stopped, so it never runs past
// the image).
Result<ProcessImage> checkpoint(pid_t pid, const CheckpointOptions& options = {});
// The same refusals, asked ahead without stopping the process (a migration's pre-copy
// asks before it sends anything); checkpoint() asks again.
Result<void> checkpointable(pid_t pid, bool migrating);
// For messages: a refusal's reason alone ("it has 2 threads; only single-threaded
// processes are supported"), any other failure as Error::message() says it.
std::string why_not(const Error& error);

// Who the restored process runs as (restore_credentials.cpp): set from inside it before
// it is let go, so an image (which a user may have crafted) never runs with the
// restorer's identity. File access is limited to these credentials from the start.
struct RestoreCredentials {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;
};

struct RestoreOptions {
    // {fd number in the restored process, fd in the caller}; every other fd is closed.
    std::vector<std::pair<int, int>> fds;
    // The PID to try to take (clone3 set_tid, needs CAP_SYS_ADMIN); when it is taken, or
    // 0, the process gets a new PID. restore() returns the PID it got.
    pid_t pid = 0;
    // Without them the process keeps the caller's credentials (the tests' case). When
    // they are the process's own already (restore_into a user's own process), nothing is
    // changed: an unprivileged process could not setgroups.
    std::optional<RestoreCredentials> credentials;
    // The image's open files (restore_files.cpp):
    //   closed:   only the `fds` above; every other fd is closed;
    //   reopen:   files, directories and devices are opened again by path (as
    //             `credentials`), at their offsets and numbers; the others are an error,
    //             unless given in `fds`;
    //   in_place: restore_into only: the process already holds the image's files under the
    //             same numbers; offsets and close-on-exec are put back, other fds closed.
    enum class Files { closed, reopen, in_place } files = Files::closed;
    // restore_into only: fds 0, 1 and 2 stay the process's own, whatever the image had
    // there (a migration: the relays on a target, the originals at home in the deputy).
    bool keep_stdio = false;
    // Called when the process is whole, stopped, about to be let go: the last chance to
    // say no (a migration's commit point). A failure kills the process.
    std::function<Result<void>()> before_resume;
    // restore_into only, for an image whose memory is held (hold_memory) by a child of
    // the process — the holder it left when it was replaced: once the memory is in place
    // the holder is killed and reaped from inside (it is nobody else's child to reap).
    bool end_holder = false;
    // Post-copy (lazy_memory.h): the image's memory is not read; its readable mappings
    // are left empty, registered with a userfaultfd and handed to this, which must fill
    // them from another thread from then on, before the rebuild goes on (its own steps
    // touch the memory). A failure of the filler later is the caller's to handle.
    std::function<Result<void>(LazyMemory)> lazy_memory;
};

// Rebuilds the image in a new child of the caller and lets it run; returns its PID.
// On failure the half-built child is killed and reaped.
Result<pid_t> restore(const ProcessImage& image, const RestoreOptions& options = {});
// An image taken with hold_memory, made restorable: its memory streamed from the holder
// (memory_from) as load_image_streamed streams it from a file. The source returned is
// what the stream reads from: keep it until the restore is done.
Result<std::unique_ptr<ImageSource>> stream_from_holder(ProcessImage& image);
// The bytes of such an image's memory section (contents in table order, then its
// checksum), read from the holder as they are asked for: what follows the head.
Result<std::unique_ptr<ImageSource>> memory_section_from_holder(const ProcessImage& image);
// How many bytes that is.
uint64_t memory_section_bytes(const ProcessImage& image);
// A whole image, as save_image_to would have written it, from its head (an open file
// save_image_head_to wrote) and the memory held by `holder`: what a move from home serves
// to its target. Read in order; `size` is its length in bytes.
struct HeldImageStream {
    std::unique_ptr<ImageSource> bytes;
    uint64_t size = 0;
};
Result<HeldImageStream> stream_held_image(int head_fd, const std::string& name, pid_t holder);
// The image of a head file and its holder, ready for restore_into: its memory streams
// from the holder (`source`, kept until the restore is done).
Result<ProcessImage> load_held_image(int head_fd, const std::string& name, pid_t holder,
                                     std::unique_ptr<ImageSource>& source);

// Rebuilds the image inside `pid`, an existing process, which keeps its PID and parent
// (restore_into.cpp). `pid` must be single-threaded, traceable by the caller and parked
// (e.g. in pause() with every signal blocked); the calling thread is its tracer for the
// whole call. options.fds and options.pid must be empty. On a failure before its memory
// was replaced, the process is given back as it was; after that, it is killed.
Result<void> restore_into(pid_t pid, const ProcessImage& image, const RestoreOptions& options = {});

// The image file: a versioned header and checksummed sections (image_file.cpp).
Result<void> save_image(const ProcessImage& image, const std::string& path);
Result<ProcessImage> load_image(const std::string& path);
// The same on an open file (the caller opened or created it); `name` is for messages.
// save_image_to writes from the file's current offset and leaves it open.
Result<void> save_image_to(const ProcessImage& image, int fd, const std::string& name);
Result<void> save_image_to(const ProcessImage& image, ImageSink& out);
// The image up to its memory's contents (header, sections, the memory section's header):
// with the memory_section_from_holder bytes after it, the image save_image_to writes.
// A move from home keeps only this in a file; the memory stays in its holder.
Result<void> save_image_head_to(const ProcessImage& image, ImageSink& out);
Result<ProcessImage> load_image_from(int fd, const std::string& name);
// Everything but the memory's contents, which restore() and restore_into() then read
// from `in` as they write them into the process: the rebuild overlaps with the image's
// arrival, and no whole copy of it is held. `in` must outlive the restore. A damaged
// memory section is noticed at its end, during the rebuild, which then fails.
Result<ProcessImage> load_image_streamed(ImageSource& in, const std::string& name);

}  // namespace ssi
