// Rebuild every mapping at its address: an anonymous private mapping (file-backed ones
// too, as copies of their saved contents, in this first version), filled through
// process_vm_writev, then given its saved protection. A pre-copied mapping is kept as
// the process holds it, and gets only the pages written since. Pages that are all zero are not
// written: a fresh anonymous page already is, and not touching it saves a page fault.
//
// The contents come from the image's buffers, or, for an image loaded streamed
// (load_image_streamed), straight from its source in 4 MiB chunks as they arrive: the
// rebuild then overlaps with the transfer and holds no whole copy of the image. Reading
// the next chunk (another thread) overlaps with writing this one: 256 MiB moved 10-15%
// faster so, on a loaded machine.
//
// Areas that had transparent huge pages (or asked for them) get MADV_HUGEPAGE again before
// they are written, so process_vm_writev faults them in as huge pages; the others stay in
// 4 KiB pages, as the process had them. Measured on the 2-core KVM guest of
// docs/benchmarks.md, writing 1 GiB: ~0.2 s in huge pages from memory freed a moment
// before, but 1.6-2.6 s from memory idle for a few seconds (the guest reports free 2 MiB
// blocks to the host, which must fault them in again), against a steady ~0.45 s in 4 KiB
// pages, which come from smaller free blocks. So huge pages are given where the process
// had them, not wherever alignment allows.
#include "kern-ext/checkpoint/chunk_pair.h"
#include "kern-ext/checkpoint/nonzero_runs.h"
#include "kern-ext/checkpoint/steps.h"

#include <sys/mman.h>
#include <sys/syscall.h>

#include <algorithm>
#include <future>
#include <optional>

namespace ssi::ckpt {

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kStreamChunk = ChunkPair::kBytes;

// Writes the runs of non-zero pages of data[0, n) to `to` in the process.
Result<void> write_nonzero(pid_t pid, uint64_t to, const char* data, uint64_t n) {
    return for_each_nonzero_run(data, n, [&](uint64_t at, uint64_t len) {
        return write_remote(pid, RemotePtr{to + at}, {data + at, len});
    });
}

// The mapping's contents from the image's stream, a chunk at a time: the next chunk is
// read on another thread (from a file, or from the network as it arrives) while this one
// is written into the process, two chunks taking turns (a mapping of one chunk is read
// here: a thread per small mapping cost more than it saved). Chunks end on 2 MiB
// boundaries of the address space where they can, so each write fills whole huge pages.
// `fresh`: the memory is new, zero already, and all-zero pages are not written.
Result<void> stream_contents(pid_t pid, PageRun m, bool fresh, ImageMemoryStream& stream, ChunkPair& chunks) {
    auto write = [&](uint64_t to, const char* data, uint64_t n) {
        return fresh ? write_nonzero(pid, to, data, n) : write_remote(pid, RemotePtr{to}, {data, n});
    };
    auto end_of_chunk = [&](uint64_t at) {
        uint64_t next = std::min<uint64_t>(m.end, (at + kStreamChunk) & ~((2ull << 20) - 1));
        return next > at ? next : std::min<uint64_t>(m.end, at + kStreamChunk);
    };
    auto read_into = [&](uint64_t at, Buffer& chunk) {
        return std::async(std::launch::async, [&stream, &chunk, n = end_of_chunk(at) - at] {
            return stream.read({chunk.data(), n});
        });
    };
    if (m.size() <= kStreamChunk) {
        TRY(stream.read({chunks[0].data(), m.size()}));
        return write(m.start, chunks[0].data(), m.size());
    }
    auto next = read_into(m.start, chunks[0]);
    for (uint64_t at = m.start, turn = 0; at < m.end; turn ^= 1) {
        const uint64_t after = end_of_chunk(at);
        TRY(next.get());
        if (after < m.end) next = read_into(after, chunks[turn ^ 1]);
        TRY(write(at, chunks[turn].data(), after - at));  // a read under way is awaited by ~future
        at = after;
    }
    return ok();
}

// A pre-copied mapping is there already, filled while the original still ran
// (check_precopied said so before anything was touched): only the pages written since.
// Its protection is changed only where it must be (each change is an injected call).
Result<void> write_precopied(RemoteSyscaller& sys, const ProcessImage& image, const MemoryMapping& m,
                             uint32_t prot, std::optional<ChunkPair>& chunks) {
    if (m.huge_pages) (void)sys.raw(SYS_madvise, m.start, m.size(), MADV_HUGEPAGE);  // advice only
    if (!m.runs.empty() && (prot == ~0u || !(prot & PROT_WRITE))) {
        prot = PROT_READ | PROT_WRITE;
        TRY(sys.call("mprotect", SYS_mprotect, m.start, m.size(), prot));
    }
    uint64_t offset = 0;
    for (const PageRun& r : m.runs) {
        if (m.contents.size() == m.saved_bytes())
            TRY(write_remote(sys.pid(), RemotePtr{r.start}, {m.contents.data() + offset, r.size()}));
        else if (image.memory_stream) TRY(stream_contents(sys.pid(), r, false, *image.memory_stream, *chunks));
        else return make_error("restore", "the image holds no contents for a pre-copied mapping", EINVAL);
        offset += r.size();
    }
    if (m.prot != prot) TRY(sys.call("mprotect", SYS_mprotect, m.start, m.size(), m.prot));
    return ok();
}

}  // namespace

Result<void> map_image_memory(RemoteSyscaller& sys, const ProcessImage& image, bool lazy) {
    std::optional<ChunkPair> chunks;
    if (image.memory_stream && !lazy) chunks = TRY(ChunkPair::take());
    std::vector<MapsEntry> held;  // where pre-copied mappings are, and their protection
    if (std::any_of(image.mappings.begin(), image.mappings.end(), [](const MemoryMapping& m) { return m.precopied; }))
        held = TRY(read_maps(sys.pid()));
    for (const MemoryMapping& m : image.mappings) {
        if (m.precopied) {
            TRY(write_precopied(sys, image, m, current_protection(held, {m.start, m.end}), chunks));
            continue;
        }
        int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | (m.grows_down ? MAP_GROWSDOWN : 0);
        // Post-copied, its pages come through the userfaultfd, whatever the protection.
        uint32_t first_prot = m.readable() && !lazy ? PROT_READ | PROT_WRITE : m.prot;
        uint64_t at = TRY(sys.call("mmap", SYS_mmap, m.start, m.size(), first_prot, uint64_t(flags), uint64_t(-1), 0));
        if (at != m.start) return make_error("mmap", "mapping landed at the wrong address", EFAULT);
        if (!m.readable()) continue;
        if (m.huge_pages) (void)sys.raw(SYS_madvise, m.start, m.size(), MADV_HUGEPAGE);  // advice only
        if (lazy) continue;
        if (m.contents.size() == m.size()) TRY(write_nonzero(sys.pid(), m.start, m.contents.data(), m.size()));
        else if (image.memory_stream) TRY(stream_contents(sys.pid(), {m.start, m.end}, true, *image.memory_stream, *chunks));
        else return make_error("restore", "the image holds no contents for a readable mapping", EINVAL);
        if (m.prot != (PROT_READ | PROT_WRITE)) TRY(sys.call("mprotect", SYS_mprotect, m.start, m.size(), m.prot));
    }
    if (image.memory_stream && !lazy && image.memory_stream->left() != 0)
        return make_error("restore", "the image's memory section is longer than its mappings", EBADMSG);
    return ok();
}

}  // namespace ssi::ckpt
