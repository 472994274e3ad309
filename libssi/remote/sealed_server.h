// SealedServer: the deputy's end of its sealed links (sealed_link.h): a TCP listener and
// the connections the supervisor makes to it, each carrying one request at a time and its
// reply. It owns no thread: the deputy's loop polls what watches() names and calls
// on_ready(), and `Handler` turns a request into its reply there (the home file server).
// A connection that does not prove the session's key at once, or sends anything that does
// not open, is closed; the server keeps serving the others. Bounded: kMaxSealedLinks
// connections (when full, one still without its proof gives way to a new one), messages
// up to the caller's limit once proven, and no bigger than the proof before.
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"
#include "libssi/remote/sealed_link.h"

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ssi::remote {

inline constexpr size_t kMaxSealedLinks = 64;

class SealedServer {
public:
    using Handler = std::function<void(std::string_view request, std::string& reply)>;
    // Listens on address, on a port of the kernel's choice.
    static Result<std::unique_ptr<SealedServer>> listen(const std::string& address, const SealKeys& keys,
                                                        size_t max_message, Handler handler);
    uint16_t port() const { return port_; }

    struct Watch {
        int fd;
        short events;  // POLLIN / POLLOUT
    };
    std::vector<Watch> watches() const;
    void on_ready(int fd, short revents);

    size_t links() const { return links_.size(); }
    // Requests served so far (the deputy counts them as news from the supervisor).
    uint64_t requests() const { return requests_; }

private:
    // Bytes [at, size) of a raw buffer: raw, so that making room does not first fill it
    // with zeros (a megabyte per file read, each way).
    struct Window {
        std::unique_ptr<char[]> bytes;
        size_t capacity = 0, size = 0, at = 0;
        char* begin() const { return bytes.get() + at; }
        char* end() const { return bytes.get() + size; }
        size_t pending() const { return size - at; }
        // Room for `n` more bytes at end(): the pending bytes moved to the front, or into a
        // bigger buffer.
        void make_room(size_t n);
    };
    struct Link {
        UniqueFd fd;
        Sealer sealer;
        Opener opener;
        bool started = false;        // the supervisor's header came
        bool authenticated = false;  // and its first message proved the key
        Window in;   // bytes read, [at, size) not yet taken
        Window out;  // bytes to write, [at, size)
        std::string message;         // an opened message (kept: no allocation per request)
        std::string reply;
        explicit Link(UniqueFd f, const SealKey& send) : fd(std::move(f)), sealer(send) {}
    };

    SealedServer(UniqueFd listener, uint16_t port, const SealKeys& keys, size_t max_message, Handler handler);
    void accept_links();
    // `size` more bytes to write, after those waiting.
    static char* append_out(Link& link, size_t size);
    // False when the link is to be closed.
    bool read_from(Link& link);
    bool take_messages(Link& link);
    bool write_to(Link& link);

    UniqueFd listener_;
    uint16_t port_;
    SealKeys keys_;
    size_t max_message_;
    Handler handler_;
    std::list<Link> links_;
    uint64_t requests_ = 0;
};

}  // namespace ssi::remote
