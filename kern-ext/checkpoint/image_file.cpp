// The image file. Layout (little-endian, x86-64):
//
//   header   "SSI-CKPT" | u32 version | u32 section count | u32 machine (62 = x86-64)
//            | u32 0 | u64 0 | u64 checksum of the 32 bytes before it
//   sections u32 kind | u32 0 | u64 payload length | u64 payload checksum | payload
//            in order: task, signals, mm, mappings, attributes, files, memory (the
//            readable mappings' contents, in table order, written straight from their
//            buffers or from the stopped process; its header's checksum field is 0 and
//            its checksum follows it: u64 checksum)
//
// Version 2 added the attributes section (itimers, rlimits, umask, personality, cwd) and
// the files section (open descriptors). Version 3 moved the memory section's checksum
// after it, so that the section can be written as it is read from the process and read
// as it is written into one (a streamed save or load: no whole copy in memory), and gave
// each mapping a huge-pages flag. Version 4 marks pre-copied mappings, with the runs of
// pages the memory section holds for them (only those written since the pre-copy).
//
// The checksum (image_checksum.h) is FNV-1a over 8-byte words; a foreign file fails on
// the magic, a newer one on the version, a damaged one on a checksum, and each error says
// which.
#include "kern-ext/checkpoint/checkpoint.h"
#include "kern-ext/checkpoint/chunk_pair.h"
#include "kern-ext/checkpoint/image_checksum.h"
#include "kern-ext/checkpoint/image_sections.h"
#include "kern-ext/checkpoint/remote_memory.h"
#include "kern-ext/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <future>
#include <iterator>
#include <optional>
#include <type_traits>

namespace ssi {

using namespace ckpt;

namespace {

constexpr char kMagic[8] = {'S', 'S', 'I', '-', 'C', 'K', 'P', 'T'};
constexpr uint32_t kVersion = 4;
constexpr uint32_t kMachine = 62;  // EM_X86_64
enum Section : uint32_t { kTask = 1, kSignals, kMm, kMappings, kMemory, kAttributes, kFiles };
// The order in the file: memory last, as it is streamed.
constexpr Section kSectionOrder[] = {kTask, kSignals, kMm, kMappings, kAttributes, kFiles, kMemory};
constexpr uint32_t kSectionCount = std::size(kSectionOrder);
const char* section_name(uint32_t kind) {
    static const char* names[] = {"?", "task", "signals", "mm", "mappings", "memory", "attributes", "files"};
    return kind <= kFiles ? names[kind] : "?";
}

// ---- file framing --------------------------------------------------------------------

struct FileHeader {
    char magic[8];
    uint32_t version, sections, machine, zero;
    uint64_t reserved;
    uint64_t checksum;  // of the 32 bytes above
};
static_assert(sizeof(FileHeader) == 40);

struct SectionHeader {
    uint32_t kind, zero;
    uint64_t length;
    uint64_t checksum;
};
static_assert(sizeof(SectionHeader) == 24);

Result<void> write_section(ImageSink& out, uint32_t kind, const std::string& payload) {
    SectionHeader h{kind, 0, payload.size(), checksum(payload)};
    TRY(out.write({reinterpret_cast<const char*>(&h), sizeof h}));
    TRY(out.write(payload));
    return ok();
}

Error damaged(const std::string& path, uint32_t kind) {
    return make_error("load checkpoint image",
                      path + ": checksum mismatch in section " + section_name(kind) + " (the file is damaged)", EBADMSG);
}

// The bytes of `r`, from `held` (a buffer holding them) or, a chunk at a time, from the
// stopped process: the next chunk is read on another thread while this one is written
// (process_vm_readv needs no tracer thread), two chunks taking turns. A run of one chunk
// is read here: a thread per small mapping cost more than it saved (python has a hundred).
Result<void> write_run(ImageSink& out, const ProcessImage& image, PageRun r, const char* held,
                       std::optional<ChunkPair>& chunks, Checksum& sum) {
    if (held) {
        sum.add(held, r.size());
        return out.write({held, r.size()});
    }
    if (image.memory_from == 0) return make_error("save checkpoint image", "a readable mapping has no contents", EINVAL);
    if (!chunks) chunks = TRY(ChunkPair::take());
    auto size_at = [&](uint64_t at) { return size_t(std::min<uint64_t>(r.end - at, ChunkPair::kBytes)); };
    if (r.size() <= ChunkPair::kBytes) {
        Buffer& chunk = (*chunks)[0];
        TRY(read_remote_with_holes(image.memory_from, RemotePtr{r.start}, {chunk.data(), r.size()}));
        sum.add(chunk.data(), r.size());
        return out.write({chunk.data(), r.size()});
    }
    auto read_into = [&](uint64_t at, Buffer& chunk) {
        return std::async(std::launch::async, [&image, at, n = size_at(at), &chunk] {
            return read_remote_with_holes(image.memory_from, RemotePtr{at}, {chunk.data(), n});
        });
    };
    auto next = read_into(r.start, (*chunks)[0]);
    for (uint64_t at = r.start, turn = 0; at < r.end; turn ^= 1) {
        const size_t n = size_at(at);
        TRY(next.get());
        const uint64_t after = at + n;
        if (after < r.end) next = read_into(after, (*chunks)[turn ^ 1]);
        sum.add((*chunks)[turn].data(), n);
        TRY(out.write({(*chunks)[turn].data(), n}));  // on a failure, the read under way is awaited by ~future
        at = after;
    }
    return ok();
}

// One mapping's contents: all of it, or only its written runs when it was pre-copied.
Result<void> write_contents(ImageSink& out, const ProcessImage& image, const MemoryMapping& m,
                            std::optional<ChunkPair>& chunks, Checksum& sum) {
    const bool held = m.contents.size() == m.saved_bytes();
    uint64_t offset = 0;
    for (const PageRun& r : m.saved_runs()) {
        TRY(write_run(out, image, r, held ? m.contents.data() + offset : nullptr, chunks, sum));
        offset += r.size();
    }
    return ok();
}

// The whole memory section into the mappings' buffers, its checksum checked.
Result<void> load_contents(ImageSource& in, const std::string& path, ProcessImage& image) {
    Checksum sum;
    for (MemoryMapping& m : image.mappings) {
        const uint64_t n = m.saved_bytes();
        if (n == 0) continue;
        m.contents = TRY(Buffer::create(n));
        TRY(read_image_exact(in, {m.contents.data(), n}, path));
        sum.add(m.contents.data(), n);
    }
    uint64_t expected = 0;
    TRY(read_image_exact(in, {reinterpret_cast<char*>(&expected), sizeof expected}, path));
    if (sum.value() != expected) return damaged(path, kMemory);
    return ok();
}

Result<ProcessImage> load(ImageSource& in, const std::string& path, bool streamed) {
    FileHeader h{};
    TRY(read_image_exact(in, {reinterpret_cast<char*>(&h), sizeof h}, path));
    if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0)
        return make_error("load checkpoint image", path + ": not an ssi checkpoint image (bad magic)", EBADMSG);
    if (h.checksum != checksum({reinterpret_cast<const char*>(&h), offsetof(FileHeader, checksum)}))
        return make_error("load checkpoint image", path + ": checksum mismatch in the file header (the file is damaged)", EBADMSG);
    if (h.version != kVersion)
        return make_error("load checkpoint image",
                          path + ": image format version " + std::to_string(h.version) + ", this build reads " +
                              std::to_string(kVersion), ENOTSUP);
    if (h.machine != kMachine || h.sections != kSectionCount)
        return make_error("load checkpoint image", path + ": image of another machine type", ENOTSUP);

    ProcessImage image;
    for (uint32_t kind : kSectionOrder) {
        SectionHeader s{};
        TRY(read_image_exact(in, {reinterpret_cast<char*>(&s), sizeof s}, path));
        if (s.kind != kind)
            return make_error("load checkpoint image", path + ": expected section " + section_name(kind), EBADMSG);
        if (kind == kMemory) {
            if (s.length != image.saved_memory_bytes()) return damaged(path, kind);
            if (!streamed) TRY(load_contents(in, path, image));
            else image.memory_stream = std::make_unique<ImageMemoryStream>(in, path, s.length);
            break;
        }
        if (s.length > (64u << 20)) return damaged(path, kind);  // a header this size is no header
        std::string payload(s.length, '\0');
        TRY(read_image_exact(in, payload, path));
        if (checksum(payload) != s.checksum) return damaged(path, kind);
        switch (kind) {
            case kTask: TRY(decode_task(payload, image)); break;
            case kSignals: TRY(decode_signals(payload, image)); break;
            case kMm: TRY(decode_mm(payload, image)); break;
            case kMappings: TRY(decode_mappings(payload, image)); break;
            case kFiles: TRY(decode_files(payload, image)); break;
            case kAttributes: TRY(decode_attributes(payload, image)); break;
        }
    }
    return image;
}

}  // namespace

Result<void> save_image(const ProcessImage& image, const std::string& path) {
    std::string tmp = path + ".tmp";
    UniqueFd fd = TRY(open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600));
    if (auto saved = save_image_to(image, fd.get(), tmp); !saved) {
        ::unlink(tmp.c_str());  // no half image left behind
        return saved.error();
    }
    fd.reset();
    if (::rename(tmp.c_str(), path.c_str()) < 0) return sys_error("rename", tmp + " -> " + path);
    return ok();
}

Result<void> save_image_to(const ProcessImage& image, int fd, const std::string& name) {
    (void)name;
    FdImageSink sink(fd);
    return save_image_to(image, sink);
}

Result<void> save_image_head_to(const ProcessImage& image, ImageSink& out) {
    FileHeader h{};
    std::memcpy(h.magic, kMagic, sizeof kMagic);
    h.version = kVersion;
    h.sections = kSectionCount;
    h.machine = kMachine;
    h.checksum = checksum({reinterpret_cast<const char*>(&h), offsetof(FileHeader, checksum)});
    TRY(out.write({reinterpret_cast<const char*>(&h), sizeof h}));
    TRY(write_section(out, kTask, encode_task(image)));
    TRY(write_section(out, kSignals, encode_signals(image)));
    TRY(write_section(out, kMm, encode_mm(image)));
    TRY(write_section(out, kMappings, encode_mappings(image)));
    TRY(write_section(out, kAttributes, encode_attributes(image)));
    TRY(write_section(out, kFiles, encode_files(image)));

    SectionHeader mem{kMemory, 0, image.saved_memory_bytes(), 0};
    return out.write({reinterpret_cast<const char*>(&mem), sizeof mem});
}

Result<void> save_image_to(const ProcessImage& image, ImageSink& out) {
    TRY(save_image_head_to(image, out));
    Checksum sum;
    std::optional<ChunkPair> chunks;  // for contents read from the process
    for (const MemoryMapping& m : image.mappings)
        if (m.saved_bytes() != 0) TRY(write_contents(out, image, m, chunks, sum));
    const uint64_t total = sum.value();
    return out.write({reinterpret_cast<const char*>(&total), sizeof total});
}

Result<ProcessImage> load_image(const std::string& path) {
    UniqueFd fd = TRY(open_file(path, O_RDONLY));
    return load_image_from(fd.get(), path);
}

Result<ProcessImage> load_image_from(int in, const std::string& path) {
    FdImageSource source(in);
    return load(source, path, false);
}

Result<ProcessImage> load_image_streamed(ImageSource& in, const std::string& name) { return load(in, name, true); }

}  // namespace ssi
