// The image file. Layout (little-endian, x86-64):
//
//   header   "SSI-CKPT" | u32 version | u32 section count | u32 machine (62 = x86-64)
//            | u32 0 | u64 0 | u64 checksum of the 32 bytes before it
//   sections u32 kind | u32 0 | u64 payload length | u64 payload checksum | payload
//            in order: task, signals, mm, mappings, attributes, files, memory (the
//            readable mappings' contents, in table order, written straight from their
//            buffers)
//
// Version 2 added the attributes section (itimers, rlimits, umask, personality, cwd) and
// the files section (open descriptors).
//
// The checksum is FNV-1a over 8-byte words (zero-padded tail) with an xor-shift after
// each multiply, one pass at memory speed; every step is a bijection, so a changed word
// always changes it. A foreign file fails on the magic, a newer one on the version, a
// damaged one on a checksum, and each error says which.
#include "kern-ext/checkpoint/checkpoint.h"
#include "kern-ext/checkpoint/image_sections.h"
#include "kern-ext/files.h"

#include <fcntl.h>

#include <cstring>
#include <iterator>
#include <type_traits>

namespace ssi {

using namespace ckpt;

namespace {

constexpr char kMagic[8] = {'S', 'S', 'I', '-', 'C', 'K', 'P', 'T'};
constexpr uint32_t kVersion = 2;
constexpr uint32_t kMachine = 62;  // EM_X86_64
enum Section : uint32_t { kTask = 1, kSignals, kMm, kMappings, kMemory, kAttributes, kFiles };
// The order in the file: memory last, as it is streamed.
constexpr Section kSectionOrder[] = {kTask, kSignals, kMm, kMappings, kAttributes, kFiles, kMemory};
constexpr uint32_t kSectionCount = std::size(kSectionOrder);
const char* section_name(uint32_t kind) {
    static const char* names[] = {"?", "task", "signals", "mm", "mappings", "memory", "attributes", "files"};
    return kind <= kFiles ? names[kind] : "?";
}

class Checksum {
public:
    void add(const char* p, size_t n) {
        size_t whole = n & ~size_t(7);
        for (size_t i = 0; i < whole; i += 8) {
            uint64_t w;
            std::memcpy(&w, p + i, 8);
            mix(w);
        }
        if (whole < n) {
            uint64_t w = 0;
            std::memcpy(&w, p + whole, n - whole);
            mix(w);
        }
    }
    uint64_t value() const { return h_; }

private:
    void mix(uint64_t w) {
        h_ ^= w;
        h_ *= 0x100000001b3ull;
        h_ ^= h_ >> 32;
    }
    uint64_t h_ = 0xcbf29ce484222325ull;
};

uint64_t checksum(std::string_view data) {
    Checksum c;
    c.add(data.data(), data.size());
    return c.value();
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

Result<void> write_section(int fd, uint32_t kind, const std::string& payload) {
    SectionHeader h{kind, 0, payload.size(), checksum(payload)};
    TRY(write_all(fd, {reinterpret_cast<const char*>(&h), sizeof h}));
    TRY(write_all(fd, payload));
    return ok();
}

Result<void> read_exact(int fd, char* out, size_t n, const std::string& path) {
    size_t done = 0;
    while (done < n) {
        size_t got = TRY(read_some(fd, {out + done, n - done}));
        if (got == 0) return make_error("load checkpoint image", path + ": file ends early (truncated)", EBADMSG);
        done += got;
    }
    return ok();
}

Error damaged(const std::string& path, uint32_t kind) {
    return make_error("load checkpoint image",
                      path + ": checksum mismatch in section " + section_name(kind) + " (the file is damaged)", EBADMSG);
}

}  // namespace

Result<void> save_image(const ProcessImage& image, const std::string& path) {
    std::string tmp = path + ".tmp";
    UniqueFd fd = TRY(open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600));
    TRY(save_image_to(image, fd.get(), tmp));
    fd.reset();
    if (::rename(tmp.c_str(), path.c_str()) < 0) return sys_error("rename", tmp + " -> " + path);
    return ok();
}

Result<void> save_image_to(const ProcessImage& image, int out, const std::string& name) {
    (void)name;
    FileHeader h{};
    std::memcpy(h.magic, kMagic, sizeof kMagic);
    h.version = kVersion;
    h.sections = kSectionCount;
    h.machine = kMachine;
    h.checksum = checksum({reinterpret_cast<const char*>(&h), offsetof(FileHeader, checksum)});
    TRY(write_all(out, {reinterpret_cast<const char*>(&h), sizeof h}));
    TRY(write_section(out, kTask, encode_task(image)));
    TRY(write_section(out, kSignals, encode_signals(image)));
    TRY(write_section(out, kMm, encode_mm(image)));
    TRY(write_section(out, kMappings, encode_mappings(image)));
    TRY(write_section(out, kAttributes, encode_attributes(image)));
    TRY(write_section(out, kFiles, encode_files(image)));

    SectionHeader mem{kMemory, 0, 0, 0};
    Checksum sum;
    for (const MemoryMapping& m : image.mappings) {
        mem.length += m.contents.size();
        sum.add(m.contents.data(), m.contents.size());
    }
    mem.checksum = sum.value();
    TRY(write_all(out, {reinterpret_cast<const char*>(&mem), sizeof mem}));
    for (const MemoryMapping& m : image.mappings) TRY(write_all(out, {m.contents.data(), m.contents.size()}));
    return ok();
}

Result<ProcessImage> load_image(const std::string& path) {
    UniqueFd fd = TRY(open_file(path, O_RDONLY));
    return load_image_from(fd.get(), path);
}

Result<ProcessImage> load_image_from(int in, const std::string& path) {
    FileHeader h{};
    TRY(read_exact(in, reinterpret_cast<char*>(&h), sizeof h, path));
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
        TRY(read_exact(in, reinterpret_cast<char*>(&s), sizeof s, path));
        if (s.kind != kind)
            return make_error("load checkpoint image", path + ": expected section " + section_name(kind), EBADMSG);
        if (kind == kMemory) {
            Checksum sum;
            uint64_t total = 0;
            for (MemoryMapping& m : image.mappings) {
                if (!m.readable()) continue;
                total += m.size();
                if (total > s.length) return damaged(path, kind);
                m.contents = TRY(Buffer::create(m.size()));
                TRY(read_exact(in, m.contents.data(), m.size(), path));
                sum.add(m.contents.data(), m.size());
            }
            if (total != s.length || sum.value() != s.checksum) return damaged(path, kind);
            break;
        }
        if (s.length > (64u << 20)) return damaged(path, kind);  // a header this size is no header
        std::string payload(s.length, '\0');
        TRY(read_exact(in, payload.data(), payload.size(), path));
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

}  // namespace ssi
