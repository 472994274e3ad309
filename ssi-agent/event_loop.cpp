#include "ssi-agent/event_loop.h"

#include <cstdlib>

namespace ssi::agent {
namespace {

// libuv frees nothing itself: a handle's memory may go only in its close callback.
template <class H>
void close_and_delete(H* h) {
    uv_close(reinterpret_cast<uv_handle_t*>(&h->uv), [](uv_handle_t* raw) { delete static_cast<H*>(raw->data); });
}

}  // namespace

EventLoop::EventLoop() {
    if (uv_loop_init(&loop_) != 0) std::abort();  // only fails when out of memory or fds at start-up
}

EventLoop::~EventLoop() {
    // Let pending close callbacks run, then release the loop.
    uv_run(&loop_, UV_RUN_NOWAIT);
    uv_loop_close(&loop_);
}

void EventLoop::run() { uv_run(&loop_, UV_RUN_DEFAULT); }
void EventLoop::stop() { uv_stop(&loop_); }

struct Timer::Handle {
    uv_timer_t uv;
    std::function<void()> fire;
};

Timer::Timer(EventLoop& loop, std::function<void()> fire) : handle_(new Handle{{}, std::move(fire)}) {
    uv_timer_init(loop.raw(), &handle_->uv);
    handle_->uv.data = handle_;
}

Timer::~Timer() {
    uv_timer_stop(&handle_->uv);
    close_and_delete(handle_);
}

void Timer::start(uint64_t first_ms, uint64_t repeat_ms) {
    uv_timer_start(
        &handle_->uv, [](uv_timer_t* t) { static_cast<Handle*>(t->data)->fire(); }, first_ms, repeat_ms);
}

void Timer::stop() { uv_timer_stop(&handle_->uv); }

struct FdWatch::Handle {
    uv_poll_t uv;
    std::function<void()> ready;
};

FdWatch::FdWatch(EventLoop& loop, int fd, std::function<void()> ready) : handle_(new Handle{{}, std::move(ready)}) {
    uv_poll_init(loop.raw(), &handle_->uv, fd);
    handle_->uv.data = handle_;
    uv_poll_start(&handle_->uv, UV_READABLE, [](uv_poll_t* p, int, int) { static_cast<Handle*>(p->data)->ready(); });
}

FdWatch::~FdWatch() {
    uv_poll_stop(&handle_->uv);
    close_and_delete(handle_);
}

struct Deferred::Handle {
    uv_idle_t uv;
    std::function<void()> work;
};

Deferred::Deferred(EventLoop& loop, std::function<void()> work) : handle_(new Handle{{}, std::move(work)}) {
    uv_idle_init(loop.raw(), &handle_->uv);
    handle_->uv.data = handle_;
}

Deferred::~Deferred() {
    uv_idle_stop(&handle_->uv);
    close_and_delete(handle_);
}

void Deferred::soon() {
    uv_idle_start(&handle_->uv, [](uv_idle_t* i) {
        uv_idle_stop(i);
        static_cast<Handle*>(i->data)->work();
    });
}

namespace {

struct PoolJob {
    uv_work_t req;
    std::function<void()> work, done;
};

}  // namespace

void run_in_pool(EventLoop& loop, std::function<void()> work, std::function<void()> done) {
    auto* job = new PoolJob{{}, std::move(work), std::move(done)};
    job->req.data = job;
    int rc = uv_queue_work(
        loop.raw(), &job->req, [](uv_work_t* r) { static_cast<PoolJob*>(r->data)->work(); },
        [](uv_work_t* r, int) {
            std::unique_ptr<PoolJob> j(static_cast<PoolJob*>(r->data));
            j->done();
        });
    if (rc != 0) {  // cannot queue (never seen): do it here rather than not at all
        std::unique_ptr<PoolJob> j(job);
        j->work();
        j->done();
    }
}

struct SignalWatch::Handle {
    uv_signal_t uv;
    std::function<void()> fire;
};

SignalWatch::SignalWatch(EventLoop& loop, int signal, std::function<void()> fire)
    : handle_(new Handle{{}, std::move(fire)}) {
    uv_signal_init(loop.raw(), &handle_->uv);
    handle_->uv.data = handle_;
    uv_signal_start(&handle_->uv, [](uv_signal_t* s, int) { static_cast<Handle*>(s->data)->fire(); }, signal);
}

SignalWatch::~SignalWatch() {
    uv_signal_stop(&handle_->uv);
    close_and_delete(handle_);
}

}  // namespace ssi::agent
