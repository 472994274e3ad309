#include "ssi-remote/postcopy.h"

#include "libssi/remote/image_stream.h"
#include "ssi-remote/image_transfer.h"
#include "kern-ext/files.h"

#include <signal.h>

#include <zmq_addon.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <vector>

namespace ssi::remote {

namespace {

using clock = std::chrono::steady_clock;

constexpr uint64_t kBlock = 64 << 10;           // asked for around a page waited for
constexpr uint64_t kPiece = kImageChunkBytes;   // asked for in the background
constexpr int kSilenceMs = 30000;               // the deputy's answer, at most

enum BlockState : uint8_t { kMissing, kAsked, kFilled };

struct Area {
    PageRun run;
    std::vector<uint8_t> blocks;  // BlockState of each kBlock from run.start
    uint64_t block_start(size_t i) const { return run.start + i * kBlock; }
    uint64_t block_end(size_t i) const { return std::min(run.end, block_start(i + 1)); }
};

}  // namespace

// The filler's state, on its thread only.
class PostCopy::Filler {
public:
    Filler(LazyMemory& memory, zmq::socket_t& bulk, zmq::socket_t& faults, std::function<void()> after_first_piece)
        : memory_(memory), bulk_(bulk), faults_(faults), after_first_piece_(std::move(after_first_piece)) {
        for (const PageRun& r : memory.areas())
            areas_.push_back({r, std::vector<uint8_t>((r.size() + kBlock - 1) / kBlock, kMissing)});
        order_.resize(areas_.size());
        std::iota(order_.begin(), order_.end(), size_t(0));
        std::stable_sort(order_.begin(), order_.end(),
                         [&](size_t a, size_t b) { return areas_[a].run.size() < areas_[b].run.size(); });
    }

    // Every page there, or an error. `gone`: the program ended meanwhile (nothing to fill).
    // `wake` is poked when `stop` or `all` is set; `all`: the rest may be asked for.
    Result<void> run(int wake, const std::atomic<bool>& stop, const std::atomic<bool>& all, bool& gone) {
        last_reply_ = clock::now();
        for (;;) {
            if (all) TRY(ask_more());
            if (next_area_ == order_.size() && in_flight_[0] == 0 && in_flight_[1] == 0) return ok();
            zmq::pollitem_t items[] = {{nullptr, memory_.fd(), ZMQ_POLLIN, 0},
                                       {bulk_.handle(), 0, ZMQ_POLLIN, 0},
                                       {faults_.handle(), 0, ZMQ_POLLIN, 0},
                                       {nullptr, wake, ZMQ_POLLIN, 0}};
            try {
                zmq::poll(items, 4, std::chrono::milliseconds(1000));
            } catch (const zmq::error_t& e) {
                if (e.num() != EINTR) return Error{"zmq_poll", e.num(), {}};
            }
            if (stop) return make_error("post-copy", "stopped", ECANCELED);
            if (items[3].revents & ZMQ_POLLIN) clear_wakeup_fd(wake);
            if (items[0].revents & ZMQ_POLLIN) TRY(on_faults());
            for (int s = 0; s < 2; ++s) {
                zmq::socket_t& socket = s == 0 ? bulk_ : faults_;
                std::vector<zmq::message_t> frames;
                while (zmq::recv_multipart(socket, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
                    --in_flight_[s];
                    last_reply_ = clock::now();
                    auto filled = on_reply(frames);
                    if (!filled && filled.error().err == ESRCH) return gone = true, ok();
                    TRY(std::move(filled));
                    frames.clear();
                    if (s == 0 && after_first_piece_) std::exchange(after_first_piece_, nullptr)();
                }
            }
            if (in_flight_[0] + in_flight_[1] > 0 &&
                clock::now() - last_reply_ > std::chrono::milliseconds(kSilenceMs))
                return make_error("post-copy", "the deputy did not answer", ETIMEDOUT);
        }
    }

    uint64_t bytes() const { return bytes_; }
    int faults() const { return faults_seen_; }

private:
    // The next pieces of the rest, up to four in flight: runs of blocks nobody asked for.
    Result<void> ask_more() {
        while (in_flight_[0] < kImageChunksInFlight && next_area_ < order_.size()) {
            Area& a = areas_[order_[next_area_]];
            while (next_block_ < a.blocks.size() && a.blocks[next_block_] != kMissing) ++next_block_;
            if (next_block_ == a.blocks.size()) {
                ++next_area_, next_block_ = 0;
                continue;
            }
            size_t last = next_block_;
            while (last + 1 < a.blocks.size() && a.blocks[last + 1] == kMissing &&
                   a.block_end(last + 1) - a.block_start(next_block_) <= kPiece)
                ++last;
            ask(bulk_, 0, a, next_block_, last);
            next_block_ = last + 1;
        }
        return ok();
    }

    void ask(zmq::socket_t& socket, int which, Area& a, size_t first, size_t last) {
        for (size_t i = first; i <= last; ++i) a.blocks[i] = kAsked;
        const uint64_t from = a.block_start(first);
        send_image_op(socket, encode_image_op('L', from, uint32_t(a.block_end(last) - from)));
        ++in_flight_[which];
    }

    Area* area_of(uint64_t address) {
        auto it = std::upper_bound(areas_.begin(), areas_.end(), address,
                                   [](uint64_t at, const Area& a) { return at < a.run.start; });
        if (it == areas_.begin()) return nullptr;
        --it;
        return address < it->run.end ? &*it : nullptr;
    }

    Result<void> on_faults() {
        while (auto page = TRY(memory_.next_fault())) {
            ++faults_seen_;
            Area* a = area_of(*page);
            // Not one of ours (changed since it was registered): nothing will come for it.
            if (!a) {
                (void)TRY(memory_.settle(*page));
                continue;
            }
            const size_t i = (*page - a->run.start) / kBlock;
            if (a->blocks[i] == kFilled) {
                (void)TRY(memory_.settle(*page));  // a zero page the fill left missing
                continue;
            }
            if (a->blocks[i] == kMissing) ask(faults_, 1, *a, i, i);
            waiting_.push_back(*page);
        }
        return ok();
    }

    Result<void> on_reply(std::vector<zmq::message_t>& frames) {
        if (frames.size() != 2 || frames[0].size() != 1 || *frames[0].data<char>() != kImageKind)
            return make_error("post-copy", "malformed reply from the deputy", EPROTO);
        auto op = decode_image_op({frames[1].data<char>(), frames[1].size()});
        if (!op) return make_error("post-copy", "malformed reply from the deputy", EPROTO);
        if (op->op == 'E') return make_error("post-copy", "at home: " + std::string(op->data), EIO);
        Area* a = op->op == 'D' ? area_of(op->offset) : nullptr;
        if (!a || op->data.empty() || op->offset + op->data.size() > a->run.end ||
            (op->offset - a->run.start) % kBlock != 0)
            return make_error("post-copy", "unexpected reply from the deputy", EPROTO);
        TRY(memory_.fill(op->offset, {op->data.data(), op->data.size()}));
        bytes_ += op->data.size();
        const uint64_t end = op->offset + op->data.size();
        for (size_t i = (op->offset - a->run.start) / kBlock; i < a->blocks.size() && a->block_start(i) < end; ++i)
            a->blocks[i] = kFilled;
        // Who waited there: woken by the fill, or given its zero page now.
        for (auto it = waiting_.begin(); it != waiting_.end();) {
            if (*it >= op->offset && *it < end) {
                TRY(memory_.settle(*it));
                it = waiting_.erase(it);
            } else {
                ++it;
            }
        }
        return ok();
    }

    LazyMemory& memory_;
    zmq::socket_t& bulk_;
    zmq::socket_t& faults_;
    std::vector<Area> areas_;             // in address order
    std::vector<size_t> order_;           // the rest is asked for in this order of areas_
    size_t next_area_ = 0, next_block_ = 0;
    int in_flight_[2] = {0, 0};           // bulk_, faults_
    std::vector<uint64_t> waiting_;       // pages a thread waits for, asked for
    std::function<void()> after_first_piece_;
    clock::time_point last_reply_;
    uint64_t bytes_ = 0;
    int faults_seen_ = 0;
};

PostCopy::PostCopy(zmq::context_t& context, const SessionKeys& keys)
    : bulk_(image_socket(context, keys)), faults_(image_socket(context, keys)), wake_(make_wakeup_fd().value()) {}

PostCopy::~PostCopy() {
    stop_ = true;
    poke_wakeup_fd(wake_.get());
    if (thread_.joinable()) thread_.join();
    for (zmq::socket_t* s : {&bulk_, &faults_}) s->set(zmq::sockopt::linger, 0);
}

Result<void> PostCopy::start(LazyMemory memory, pid_t program) {
    {
        std::lock_guard lock(mutex_);
        started_ = true;
    }
    thread_ = std::thread([this, m = std::move(memory), program]() mutable { run(std::move(m), program); });
    return ok();
}

void PostCopy::resumed() {
    resumed_ = true;
    poke_wakeup_fd(wake_.get());
}

void PostCopy::run(LazyMemory memory, pid_t program) {
    const auto started = clock::now();
    Filler filler(memory, bulk_, faults_, after_first_piece);
    bool gone = false;
    auto filled = filler.run(wake_.get(), stop_, resumed_, gone);
    if (filled && !gone) {
        memory.finish();  // every page there: ordinary memory again
        // The holder at home is nobody's now.
        send_image_op(bulk_, encode_image_op('Z', 0));
        if (auto said = receive_image_reply(bulk_); !said) filled = said.error();
    } else if (!filled) {
        // The program cannot go on without its memory: it dies before anything it does
        // with the pages missing can happen (a wait for a page ends on SIGKILL).
        ::kill(program, SIGKILL);
        memory.finish();
        std::fprintf(stderr, "ssi-remote: the program's memory could not come from home, it was killed: %s\n",
                     filled.error().message().c_str());
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started).count();
    std::fprintf(stderr, "ssi-remote: post-copied %.1f MiB in %lld ms, %d pages waited for%s\n",
                 double(filler.bytes()) / (1 << 20), (long long)ms, filler.faults(), gone ? " (the program ended)" : "");
    std::lock_guard lock(mutex_);
    done_ = true;
    done_cv_.notify_all();
}

void PostCopy::wait() {
    std::unique_lock lock(mutex_);
    done_cv_.wait(lock, [this] { return !started_ || done_; });
}

}  // namespace ssi::remote
