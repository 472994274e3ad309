#include "ssi-remote/precopy.h"

#include "kern-ext/checkpoint/checkpoint.h"
#include "kern-ext/checkpoint/remote_memory.h"
#include "libssi/remote/image_stream.h"
#include "ssi-remote/image_transfer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

namespace ssi::remote {
namespace {

// A round this small ends the pre-copy: the rest waits for the freeze.
constexpr uint64_t kSmallRound = 4 << 20;
constexpr int kMaxRounds = 8;

bool all_zero(const char* p, size_t n) {
    const uint64_t* w = reinterpret_cast<const uint64_t*>(p);
    uint64_t acc = 0;
    for (size_t i = 0; i < n / 8; ++i) acc |= w[i];
    return acc == 0;
}

// 'W' requests, read from the running program straight into their messages, with
// kImageChunksInFlight of them unanswered at most.
class PageSender {
public:
    explicit PageSender(zmq::socket_t& socket) : socket_(socket) {}

    // `run` as it is now. `fresh`: the deputy's copy is still zero, so all-zero chunks
    // (memory the program never wrote) are not sent.
    Result<void> send(pid_t pid, PageRun run, bool fresh) {
        constexpr size_t kHeader = 1 + sizeof(uint64_t);
        for (uint64_t at = run.start; at < run.end;) {
            const size_t n = size_t(std::min<uint64_t>(run.end - at, kImageChunkBytes));
            zmq::message_t request(kHeader + n);
            char* p = request.data<char>();
            p[0] = 'W';
            std::memcpy(p + 1, &at, sizeof at);
            TRY(read_remote_with_holes(pid, RemotePtr{at}, {p + kHeader, n}));
            at += n;
            if (fresh && all_zero(p + kHeader, n)) continue;
            while (in_flight_ >= kImageChunksInFlight) TRY(wait_one());
            try {
                socket_.send(zmq::buffer(&kImageKind, 1), zmq::send_flags::sndmore);
                socket_.send(request, zmq::send_flags::none);
            } catch (const zmq::error_t& e) {
                return Error{"pre-copy", e.num(), e.what()};
            }
            ++in_flight_;
            bytes_ += n;
        }
        return ok();
    }
    Result<void> drain() {
        while (in_flight_ > 0) TRY(wait_one());
        return ok();
    }
    uint64_t bytes() const { return bytes_; }

private:
    Result<void> wait_one() {
        try {
            TRY(receive_image_reply(socket_));
        } catch (const zmq::error_t& e) {
            return Error{"pre-copy", e.num(), e.what()};
        }
        --in_flight_;
        return ok();
    }
    zmq::socket_t& socket_;
    int in_flight_ = 0;
    uint64_t bytes_ = 0;
};

// The deputy maps what it can of `areas` (where nothing of its own is); those it holds.
Result<std::vector<PageRun>> hold_at_home(zmq::socket_t& socket, const std::vector<PrivateArea>& areas,
                                          const std::vector<uint64_t>& huge) {
    std::string list;
    for (const PrivateArea& a : areas) {
        const bool is_huge = std::find(huge.begin(), huge.end(), a.run.start) != huge.end();
        PrecopyArea area{a.run.start, a.run.end, a.prot, is_huge ? 1u : 0u};
        list.append(reinterpret_cast<const char*>(&area), sizeof area);
    }
    std::string reply;
    try {
        send_image_op(socket, encode_image_op('A', areas.size(), 0, list));
        reply = TRY(receive_image_reply(socket));
    } catch (const zmq::error_t& e) {
        return Error{"pre-copy", e.num(), e.what()};
    }
    auto op = decode_image_op(reply);
    if (!op || op->op != 'M' || op->offset != areas.size())
        return make_error("pre-copy", "unexpected reply from the deputy", EPROTO);
    std::vector<PageRun> held;
    for (size_t i = 0; i < areas.size(); ++i)
        if (op->data[i]) held.push_back(areas[i].run);
    return held;
}

}  // namespace

Result<Precopied> precopy_to_deputy(zmq::context_t& context, const SessionKeys& keys, pid_t program) {
    const auto started = std::chrono::steady_clock::now();
    Precopied out;
    // All of them, small ones too: each one left out costs calls injected into the
    // process at home while it is stopped, to map and fill it.
    std::vector<PrivateArea> areas = TRY(private_readable_areas(program));
    if (areas.empty()) return out;
    try {
        out.link = image_socket(context, keys);
    } catch (const zmq::error_t& e) {
        return Error{"pre-copy", e.num(), e.what()};
    }
    zmq::socket_t& socket = out.link;
    std::vector<PageRun> held = TRY(hold_at_home(socket, areas, TRY(huge_page_areas(program))));
    if (held.empty()) return out;
    auto tracker = WriteTracker::start(program, held);
    if (!tracker) {
        // A kernel before 6.7, or a seccomp filter of the program's that forbids
        // userfaultfd: no pre-copy; the image is whole, and the rebuild clears the areas.
        std::fprintf(stderr, "ssi-remote: no pre-copy: %s\n", tracker.error().message().c_str());
        return out;
    }
    out.tracker = std::move(*tracker);

    // Protected first, then read: a page written after its read is written after its
    // protection, and so is sent again.
    PageSender sender(socket);
    for (PageRun a : out.tracker->areas()) TRY(sender.send(program, a, true));
    for (uint64_t last = ~0ull; out.rounds < kMaxRounds;) {
        std::vector<PageRun> written;
        for (PageRun a : std::vector<PageRun>(out.tracker->areas())) {
            auto runs = out.tracker->take_written(a);
            if (!runs) {
                out.tracker->forget(a);  // mapped anew: it comes whole with the image
                continue;
            }
            written.insert(written.end(), runs->begin(), runs->end());
        }
        uint64_t dirty = 0;
        for (PageRun r : written) {
            TRY(sender.send(program, r, false));
            dirty += r.size();
        }
        ++out.rounds;
        // Small enough for the freeze, or no longer shrinking: the program writes as
        // fast as we send.
        if (dirty <= kSmallRound || dirty * 2 > last) break;
        last = dirty;
    }
    TRY(sender.drain());
    // The deputy gives each area the program's protection now, not while it is stopped.
    try {
        send_image_op(socket, encode_image_op('F', 0));
        TRY(receive_image_reply(socket));
    } catch (const zmq::error_t& e) {
        return Error{"pre-copy", e.num(), e.what()};
    }
    out.bytes = sender.bytes();
    out.huge_page_areas = TRY(huge_page_areas(program));
    out.ms = uint32_t(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
    return out;
}

}  // namespace ssi::remote
