// The image file's sections (image_sections.h).
#include "kern-ext/checkpoint/image_sections.h"

#include <cstring>
#include <type_traits>

namespace ssi::ckpt {

namespace {

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

}  // namespace

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
        w.put(uint8_t(m.huge_pages));
        w.put(m.offset);
        w.put_string(m.path);
        w.put(uint8_t(m.precopied));
        w.put(uint64_t(m.runs.size()));
        for (const PageRun& run : m.runs) w.put(run);
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
        m.huge_pages = TRY(r.get<uint8_t>()) != 0;
        m.offset = TRY(r.get<uint64_t>());
        m.path = TRY(r.get_string());
        if (m.end <= m.start || (m.start | m.end) % 4096 != 0)
            return make_error("load checkpoint image", "mapping with a bad address range", EBADMSG);
        m.precopied = TRY(r.get<uint8_t>()) != 0;
        uint64_t runs = TRY(r.get<uint64_t>());
        if (runs > m.size() / 4096 || (runs != 0 && !m.precopied) || (m.precopied && !m.readable()))
            return make_error("load checkpoint image", "mapping with bad pre-copied runs", EBADMSG);
        for (uint64_t at = m.start; runs-- > 0;) {
            PageRun run = TRY(r.get<PageRun>());
            if (run.start < at || run.end <= run.start || run.end > m.end || (run.start | run.end) % 4096 != 0)
                return make_error("load checkpoint image", "mapping with a bad pre-copied run", EBADMSG);
            at = run.end;
            m.runs.push_back(run);
        }
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

}  // namespace ssi::ckpt
