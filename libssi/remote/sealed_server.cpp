#include "libssi/remote/sealed_server.h"

#include "kern-ext/files.h"
#include "kern-ext/inet_socket.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ssi::remote {
namespace {

constexpr size_t kReadBytes = 256 * 1024;

}  // namespace

Result<std::unique_ptr<SealedServer>> SealedServer::listen(const std::string& address, const SealKeys& keys,
                                                           size_t max_message, Handler handler) {
    UniqueFd listener = TRY(listen_tcp(address, 0, 16));
    uint16_t port = TRY(bound_port(listener.get()));
    return std::unique_ptr<SealedServer>(new SealedServer(std::move(listener), port, keys, max_message, std::move(handler)));
}

SealedServer::SealedServer(UniqueFd listener, uint16_t port, const SealKeys& keys, size_t max_message, Handler handler)
    : listener_(std::move(listener)), port_(port), keys_(keys), max_message_(max_message), handler_(std::move(handler)) {}

std::vector<SealedServer::Watch> SealedServer::watches() const {
    std::vector<Watch> out;
    out.push_back({listener_.get(), POLLIN});
    for (const auto& l : links_) out.push_back({l.fd.get(), short(l.out.pending() ? POLLOUT : POLLIN)});
    return out;
}

void SealedServer::on_ready(int fd, short revents) {
    if (fd == listener_.get()) return accept_links();
    auto it = std::find_if(links_.begin(), links_.end(), [fd](const Link& l) { return l.fd.get() == fd; });
    if (it == links_.end()) return;
    bool keep = true;
    if (revents & POLLOUT) keep = write_to(*it);
    if (keep && (revents & (POLLIN | POLLHUP | POLLERR))) keep = read_from(*it);
    if (!keep) links_.erase(it);
}

void SealedServer::accept_links() {
    for (;;) {
        auto fd = accept_tcp(listener_.get());
        if (!fd) return;  // EAGAIN, or an error the next accept will tell
        if (links_.size() >= kMaxSealedLinks) {
            // Full: a link that has not proved the key yet makes room; proven ones stay.
            auto waiting = std::find_if(links_.begin(), links_.end(), [](const Link& l) { return !l.authenticated; });
            if (waiting == links_.end()) continue;  // the new one is closed at once
            links_.erase(waiting);
        }
        Link& link = links_.emplace_back(std::move(*fd), keys_.send);
        // Our header first: the supervisor's proof of the key must echo it.
        const auto& header = link.sealer.header();
        std::memcpy(append_out(link, header.size()), header.data(), header.size());
        if (!write_to(link)) links_.pop_back();
    }
}

void SealedServer::Window::make_room(size_t n) {
    size_t waiting = pending();
    if (waiting == 0) size = at = 0;
    if (capacity - size >= n) return;
    if (capacity - waiting >= n) {  // enough once moved to the front
        std::memmove(bytes.get(), begin(), waiting);
    } else {
        size_t bigger_capacity = std::max(capacity * 2, waiting + n);
        auto bigger = std::make_unique_for_overwrite<char[]>(bigger_capacity);
        if (waiting) std::memcpy(bigger.get(), begin(), waiting);
        bytes = std::move(bigger);
        capacity = bigger_capacity;
    }
    at = 0;
    size = waiting;
}

char* SealedServer::append_out(Link& link, size_t size) {
    link.out.make_room(size);
    char* at = link.out.end();
    link.out.size += size;
    return at;
}

bool SealedServer::read_from(Link& link) {
    for (;;) {
        link.in.make_room(kReadBytes);
        auto n = read_some(link.fd.get(), std::span<char>(link.in.end(), kReadBytes));
        if (!n) return n.error().err == EAGAIN;
        if (*n == 0) return false;  // the supervisor closed it
        link.in.size += *n;
        if (!take_messages(link)) return false;
        if (*n < kReadBytes) return true;
    }
}

bool SealedServer::take_messages(Link& link) {
    for (;;) {
        std::string_view in(link.in.begin(), link.in.pending());
        if (!link.started) {
            if (in.size() < kSealHeaderBytes) return true;
            auto header = std::span(reinterpret_cast<const unsigned char*>(in.data()), kSealHeaderBytes);
            if (!link.opener.start(keys_.receive, header)) return false;
            link.started = true;
            link.in.at += kSealHeaderBytes;
            continue;
        }
        if (in.size() < kSealLengthBytes) return true;
        uint32_t length = sealed_length(std::span<const char, kSealLengthBytes>(in.data(), kSealLengthBytes));
        // Before its proof, a peer may send nothing bigger than the proof: no one without
        // the key makes us hold megabytes.
        size_t limit = link.authenticated ? max_message_ : kSealHeaderBytes;
        if (length < kSealOverhead || length - kSealOverhead > limit) return false;
        if (in.size() < kSealLengthBytes + length) return true;
        link.message.resize(length - kSealOverhead);
        if (!link.opener.open(in.substr(kSealLengthBytes, length), link.message.data())) return false;
        link.in.at += kSealLengthBytes + length;
        if (!link.authenticated) {
            const auto& ours = link.sealer.header();
            if (link.message.size() != ours.size() || std::memcmp(link.message.data(), ours.data(), ours.size()) != 0)
                return false;
            link.authenticated = true;
            continue;
        }
        ++requests_;
        handler_(link.message, link.reply);
        if (!link.sealer.seal_into(link.reply, append_out(link, sealed_frame_size(link.reply.size()))) || !write_to(link))
            return false;
    }
}

bool SealedServer::write_to(Link& link) {
    while (link.out.pending()) {
        auto n = write_some(link.fd.get(), std::span<const char>(link.out.begin(), link.out.pending()));
        if (!n) return false;
        if (*n == 0) return true;  // full: POLLOUT says when to go on
        link.out.at += *n;
    }
    link.out.size = link.out.at = 0;
    return true;
}

}  // namespace ssi::remote
