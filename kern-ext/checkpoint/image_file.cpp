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
#include "kern-ext/files.h"

#include <fcntl.h>

#include <cstring>
#include <iterator>
#include <type_traits>

namespace ssi {

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

// ---- encoding ------------------------------------------------------------------------

class Writer {
public:
    template <class T>
    void put(const T& v) {
        static_assert(std::is_trivially_copyable_v<T>);
        out_.append(reinterpret_cast<const char*>(&v), sizeof v);
    }
    void put_string(const std::string& s) {
        put(uint64_t(s.size()));
        out_ += s;
    }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

class Reader {
public:
    Reader(std::string_view in, const char* section) : in_(in), section_(section) {}
    template <class T>
    Result<T> get() {
        T v;
        if (in_.size() < sizeof v) return truncated();
        std::memcpy(&v, in_.data(), sizeof v);
        in_.remove_prefix(sizeof v);
        return v;
    }
    Result<std::string> get_string() {
        uint64_t n = TRY(get<uint64_t>());
        if (in_.size() < n) return truncated();
        std::string s(in_.substr(0, n));
        in_.remove_prefix(n);
        return s;
    }
    Result<void> done() {
        if (!in_.empty()) return make_error("load checkpoint image", std::string("trailing bytes in section ") + section_, EBADMSG);
        return ok();
    }

private:
    Error truncated() { return make_error("load checkpoint image", std::string("section ") + section_ + " is too short", EBADMSG); }
    std::string_view in_;
    const char* section_;
};

std::string encode_task(const ProcessImage& im) {
    Writer w;
    w.put(int32_t(im.pid));
    w.put_string(im.comm);
    w.put(im.regs);
    w.put_string(im.xstate);
    return w.take();
}

Result<void> decode_task(std::string_view in, ProcessImage& im) {
    Reader r(in, "task");
    im.pid = TRY(r.get<int32_t>());
    im.comm = TRY(r.get_string());
    im.regs = TRY(r.get<Registers>());
    im.xstate = TRY(r.get_string());
    return r.done();
}

std::string encode_signals(const ProcessImage& im) {
    Writer w;
    w.put(im.sigmask);
    w.put(im.actions);
    w.put(im.altstack_sp);
    w.put(im.altstack_size);
    w.put(im.altstack_flags);
    w.put(uint64_t(im.pending.size()));
    for (const PendingSignal& p : im.pending) {
        w.put(uint8_t(p.shared));
        w.put(p.info);
    }
    return w.take();
}

Result<void> decode_signals(std::string_view in, ProcessImage& im) {
    Reader r(in, "signals");
    im.sigmask = TRY(r.get<uint64_t>());
    im.actions = TRY(r.get<decltype(im.actions)>());
    im.altstack_sp = TRY(r.get<uint64_t>());
    im.altstack_size = TRY(r.get<uint64_t>());
    im.altstack_flags = TRY(r.get<int32_t>());
    uint64_t n = TRY(r.get<uint64_t>());
    for (uint64_t i = 0; i < n; ++i) {
        PendingSignal p;
        p.shared = TRY(r.get<uint8_t>()) != 0;
        p.info = TRY(r.get<decltype(p.info)>());
        im.pending.push_back(p);
    }
    return r.done();
}

std::string encode_mm(const ProcessImage& im) {
    Writer w;
    const MmLayout& m = im.mm;
    for (uint64_t v : {m.start_code, m.end_code, m.start_data, m.end_data, m.start_brk, m.brk, m.start_stack,
                       m.arg_start, m.arg_end, m.env_start, m.env_end})
        w.put(v);
    w.put_string(m.auxv);
    w.put(im.rseq);
    return w.take();
}

Result<void> decode_mm(std::string_view in, ProcessImage& im) {
    Reader r(in, "mm");
    MmLayout& m = im.mm;
    for (uint64_t* v : {&m.start_code, &m.end_code, &m.start_data, &m.end_data, &m.start_brk, &m.brk, &m.start_stack,
                        &m.arg_start, &m.arg_end, &m.env_start, &m.env_end})
        *v = TRY(r.get<uint64_t>());
    m.auxv = TRY(r.get_string());
    im.rseq = TRY(r.get<RseqRegistration>());
    return r.done();
}

std::string encode_mappings(const ProcessImage& im) {
    Writer w;
    w.put(uint64_t(im.kernel_mappings.size()));
    for (const KernelMapping& k : im.kernel_mappings) {
        w.put_string(k.name);
        w.put(k.start);
        w.put(k.end);
    }
    w.put(uint64_t(im.mappings.size()));
    for (const MemoryMapping& m : im.mappings) {
        w.put(m.start);
        w.put(m.end);
        w.put(m.prot);
        w.put(uint8_t(m.shared));
        w.put(uint8_t(m.grows_down));
        w.put(m.offset);
        w.put_string(m.path);
    }
    return w.take();
}

Result<void> decode_mappings(std::string_view in, ProcessImage& im) {
    Reader r(in, "mappings");
    uint64_t nk = TRY(r.get<uint64_t>());
    for (uint64_t i = 0; i < nk; ++i) {
        KernelMapping k;
        k.name = TRY(r.get_string());
        k.start = TRY(r.get<uint64_t>());
        k.end = TRY(r.get<uint64_t>());
        im.kernel_mappings.push_back(std::move(k));
    }
    uint64_t n = TRY(r.get<uint64_t>());
    for (uint64_t i = 0; i < n; ++i) {
        MemoryMapping m;
        m.start = TRY(r.get<uint64_t>());
        m.end = TRY(r.get<uint64_t>());
        m.prot = TRY(r.get<uint32_t>());
        m.shared = TRY(r.get<uint8_t>()) != 0;
        m.grows_down = TRY(r.get<uint8_t>()) != 0;
        m.offset = TRY(r.get<uint64_t>());
        m.path = TRY(r.get_string());
        if (m.end <= m.start || (m.start | m.end) % 4096 != 0)
            return make_error("load checkpoint image", "mapping with a bad address range", EBADMSG);
        im.mappings.push_back(std::move(m));
    }
    return r.done();
}

std::string encode_files(const ProcessImage& im) {
    Writer w;
    w.put(uint64_t(im.files.size()));
    for (const OpenFile& f : im.files) {
        w.put(f.fd);
        w.put(uint8_t(f.cloexec));
        w.put(uint8_t(f.deleted));
        w.put(uint8_t(f.kind));
        w.put(f.flags);
        w.put(f.pos);
        w.put_string(f.path);
    }
    return w.take();
}

Result<void> decode_files(std::string_view in, ProcessImage& im) {
    Reader r(in, "files");
    uint64_t n = TRY(r.get<uint64_t>());
    for (uint64_t i = 0; i < n; ++i) {
        OpenFile f;
        f.fd = TRY(r.get<int32_t>());
        f.cloexec = TRY(r.get<uint8_t>()) != 0;
        f.deleted = TRY(r.get<uint8_t>()) != 0;
        uint8_t kind = TRY(r.get<uint8_t>());
        f.flags = TRY(r.get<uint32_t>());
        f.pos = TRY(r.get<int64_t>());
        f.path = TRY(r.get_string());
        if (f.fd < 0 || kind > uint8_t(OpenFile::Kind::other))
            return make_error("load checkpoint image", "open file with a bad fd or kind", EBADMSG);
        f.kind = OpenFile::Kind(kind);
        im.files.push_back(std::move(f));
    }
    return r.done();
}

std::string encode_attributes(const ProcessImage& im) {
    Writer w;
    const ProcessAttributes& a = im.attributes;
    w.put(a.itimers);
    w.put(a.rlimits);
    w.put(a.umask);
    w.put(a.personality);
    w.put_string(a.cwd);
    return w.take();
}

Result<void> decode_attributes(std::string_view in, ProcessImage& im) {
    Reader r(in, "attributes");
    ProcessAttributes& a = im.attributes;
    a.itimers = TRY(r.get<decltype(a.itimers)>());
    a.rlimits = TRY(r.get<decltype(a.rlimits)>());
    a.umask = TRY(r.get<uint32_t>());
    a.personality = TRY(r.get<uint32_t>());
    a.cwd = TRY(r.get_string());
    return r.done();
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
