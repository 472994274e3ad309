// Whole lines from a pipe's read end, for the tests that talk to a program through pipes:
// the next line, or nullopt at end of file or after 30 s of silence (a test never hangs).
// read_to_end: everything up to end of file (or 30 s of silence).
#pragma once

#include <poll.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

namespace ssi::test {

class PipeLines {
public:
    std::optional<std::string> next(int fd) {
        for (;;) {
            if (size_t nl = pending_.find('\n'); nl != std::string::npos) {
                std::string line = pending_.substr(0, nl);
                pending_.erase(0, nl + 1);
                return line;
            }
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 30000) <= 0) return std::nullopt;
            char buf[4096];
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n <= 0) return std::nullopt;
            pending_.append(buf, size_t(n));
        }
    }

private:
    std::string pending_;
};

inline std::string read_to_end(int fd) {
    std::string out;
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 30000) <= 0) return out;
        char buf[4096];
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) return out;
        out.append(buf, size_t(n));
    }
}

}  // namespace ssi::test
