// The agent's one loop thread (libuv). Everything the agent does runs in callbacks on
// this loop; handles are owned objects whose libuv part is closed (deferred, as libuv
// requires) when the owner goes away.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>

namespace ssi::agent {

class EventLoop {
public:
    EventLoop();
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    uv_loop_t* raw() { return &loop_; }
    void run();
    void stop();
    // Monotonic milliseconds, cached per loop iteration (cheap).
    uint64_t now_ms() { return uv_now(&loop_); }

private:
    uv_loop_t loop_;
};

// Repeating or one-shot timer; stops and closes itself when destroyed.
class Timer {
public:
    Timer(EventLoop& loop, std::function<void()> fire);
    ~Timer();
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    void start(uint64_t first_ms, uint64_t repeat_ms = 0);
    void stop();

private:
    struct Handle;
    Handle* handle_;
};

// Calls `ready` whenever fd becomes readable.
class FdWatch {
public:
    FdWatch(EventLoop& loop, int fd, std::function<void()> ready);
    ~FdWatch();
    FdWatch(const FdWatch&) = delete;
    FdWatch& operator=(const FdWatch&) = delete;

private:
    struct Handle;
    Handle* handle_;
};

// Runs `work` once on the next loop iteration, however many times soon() is called first.
class Deferred {
public:
    Deferred(EventLoop& loop, std::function<void()> work);
    ~Deferred();
    Deferred(const Deferred&) = delete;
    Deferred& operator=(const Deferred&) = delete;

    void soon();

private:
    struct Handle;
    Handle* handle_;
};

// Runs `work` on libuv's thread pool, then `done` on the loop thread. For the few jobs
// that block for long (checkpointing a big process): the loop keeps heartbeating.
// `work` must not touch loop state; `done` may.
void run_in_pool(EventLoop& loop, std::function<void()> work, std::function<void()> done);

// Calls `fire` on the loop thread when `signal` arrives (SIGTERM, SIGINT ...).
class SignalWatch {
public:
    SignalWatch(EventLoop& loop, int signal, std::function<void()> fire);
    ~SignalWatch();
    SignalWatch(const SignalWatch&) = delete;
    SignalWatch& operator=(const SignalWatch&) = delete;

private:
    struct Handle;
    Handle* handle_;
};

}  // namespace ssi::agent
