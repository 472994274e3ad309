// Result<T>: a value or the Error that prevented it. Errors are values in ssi: every
// system call is wrapped once (in kern-ext/) and its failure carries the call's name,
// errno and what it was doing, so the message a user finally reads says all three.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace ssi {

struct Error {
    std::string call;     // the system call or operation that failed ("pidfd_open", "decode")
    int err = 0;          // errno, or 0 when the failure is not an errno
    std::string context;  // what it was applied to ("pid 4711", "/etc/ssi/cluster.toml")

    // "pidfd_open(pid 4711): No such process"
    std::string message() const {
        std::string m = call;
        if (!context.empty()) m += "(" + context + ")";
        if (err != 0) {
            m += ": ";
            m += std::strerror(err);
        }
        return m;
    }
};

// Captures errno; call it on the line right after the failing system call.
inline Error sys_error(std::string call, std::string context = {}) {
    int e = errno;
    return Error{std::move(call), e, std::move(context)};
}

inline Error make_error(std::string what, std::string context = {}, int err = 0) {
    return Error{std::move(what), err, std::move(context)};
}

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const Error& error() const { return std::get<1>(v_); }
    T value_or(T fallback) const& { return ok() ? value() : std::move(fallback); }

private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), ok_(false) {}

    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    void value() const {}
    const Error& error() const { return error_; }

private:
    Error error_;
    bool ok_ = true;
};

inline Result<void> ok() { return {}; }

}  // namespace ssi

// TRY(expr): evaluates to expr's value, or returns its Error from the enclosing function.
#define TRY(expr)                                          \
    ({                                                     \
        auto _try_result = (expr);                         \
        if (!_try_result.ok()) return _try_result.error(); \
        std::move(_try_result).value();                    \
    })
