#include "kern-ext/launch_spec_transfer.h"

#include "kern-ext/fd_passing.h"

#include <msgpack.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <vector>

namespace ssi {
namespace {

using Binds = std::vector<std::pair<std::string, std::string>>;
using Limit = std::tuple<int, uint64_t, uint64_t>;  // resource, soft, hard
// nr, action, err, has condition, argument index, mask, value
using Rule = std::tuple<int, int, int, bool, unsigned, uint64_t, uint64_t, bool>;
using Fields = std::tuple<std::string, Binds, Binds, std::string, std::vector<std::string>, std::vector<std::string>,
                          std::string, uid_t, gid_t, std::vector<gid_t>, mode_t, std::vector<Limit>, pid_t, pid_t,
                          std::string, bool, bool, std::vector<Rule>>;

// How a spec reaches a reaper forked ahead: this header, with the spec's stdio attached
// (those it has, in order), and the encoded spec's start in one message of at most
// kFirstMessage: a usual spec wakes the reaper once. The rest follows in messages of at
// most kSpecChunk.
struct SpecHeader {
    uint64_t bytes = 0;
    uint8_t has_stdio[3] = {};
};
constexpr size_t kSpecChunk = 64 * 1024;
constexpr size_t kFirstMessage = 8 * 1024;

// A filter's header, then its program in one message: the program learns the size before
// it makes room (every page it touches is a copy-on-write fault there).
struct FilterHeader {
    uint32_t bytes = 0;
    uint8_t notifies = 0;
};
constexpr uint64_t kMaxSpecBytes = 64u << 20;

}  // namespace

std::string encode_launch_spec(const LaunchSpec& s) {
    std::vector<Limit> limits;
    for (const auto& [resource, limit] : s.rlimits) limits.emplace_back(resource, limit.rlim_cur, limit.rlim_max);
    std::vector<Rule> rules;
    for (const SyscallRule& r : s.syscall_rules) {
        SyscallRule::MaskedEqual when = r.when.value_or(SyscallRule::MaskedEqual{});
        rules.emplace_back(r.nr, int(r.action), r.err, r.when.has_value(), when.index, when.mask, when.value,
                           when.differs);
    }
    Fields fields{s.root, s.binds, s.optional_binds, s.cwd, s.argv, s.env, s.program, s.uid, s.gid, s.groups,
                  s.umask, limits, s.pid, s.ppid, s.hostname, s.controlling_terminal, s.park, rules};
    msgpack::sbuffer out;
    msgpack::pack(out, fields);
    return std::string(out.data(), out.size());
}

Result<LaunchSpec> decode_launch_spec(std::string_view bytes) {
    Fields f;
    try {
        msgpack::object_handle handle = msgpack::unpack(bytes.data(), bytes.size());
        handle.get().convert(f);
    } catch (const std::exception& e) {
        return make_error("launch spec", std::string("undecodable: ") + e.what(), EPROTO);
    }
    LaunchSpec s;
    std::vector<Limit> limits;
    std::vector<Rule> rules;
    std::tie(s.root, s.binds, s.optional_binds, s.cwd, s.argv, s.env, s.program, s.uid, s.gid, s.groups, s.umask,
             limits, s.pid, s.ppid, s.hostname, s.controlling_terminal, s.park, rules) = std::move(f);
    for (const auto& [resource, soft, hard] : limits) s.rlimits.push_back({resource, rlimit{soft, hard}});
    for (const auto& [nr, action, err, conditional, index, mask, value, differs] : rules) {
        if (action != int(SyscallRule::Action::notify) && action != int(SyscallRule::Action::fail))
            return make_error("launch spec", "unknown system call rule action " + std::to_string(action), EPROTO);
        SyscallRule rule{nr, SyscallRule::Action(action), err, std::nullopt};
        if (conditional) rule.when = SyscallRule::MaskedEqual{index, mask, value, differs};
        s.syscall_rules.push_back(rule);
    }
    return s;
}

Result<void> send_launch_spec(int socket, const LaunchSpec& spec) {
    std::string bytes = encode_launch_spec(spec);
    SpecHeader header;
    header.bytes = bytes.size();
    std::vector<int> stdio;
    int sources[3] = {spec.stdin_fd, spec.stdout_fd, spec.stderr_fd};
    for (int i = 0; i < 3; ++i) {
        header.has_stdio[i] = sources[i] >= 0;
        if (sources[i] >= 0) stdio.push_back(sources[i]);
    }
    const size_t first = std::min(bytes.size(), kFirstMessage - sizeof header);
    std::string message(reinterpret_cast<const char*>(&header), sizeof header);
    message.append(bytes, 0, first);
    TRY(send_message(socket, message, stdio));
    for (size_t at = first; at < bytes.size(); at += kSpecChunk)
        TRY(send_message(socket, std::span<const char>(bytes).subspan(at, std::min(kSpecChunk, bytes.size() - at))));
    return ok();
}

Result<std::optional<LaunchSpec>> receive_launch_spec(int socket) {
    char first[kFirstMessage];
    auto head = TRY(receive_message_fds(socket, first));
    if (head.size == 0) return std::optional<LaunchSpec>{};
    SpecHeader header;
    if (head.size < sizeof header) return make_error("launch", "malformed spec header from the launcher", EPROTO);
    std::memcpy(&header, first, sizeof header);
    size_t wanted = size_t(header.has_stdio[0] != 0) + (header.has_stdio[1] != 0) + (header.has_stdio[2] != 0);
    if (head.fds.size() != wanted || header.bytes > kMaxSpecBytes ||
        head.size - sizeof header != std::min<uint64_t>(header.bytes, kFirstMessage - sizeof header))
        return make_error("launch", "malformed spec header from the launcher", EPROTO);
    std::string bytes(first + sizeof header, head.size - sizeof header);
    bytes.resize(header.bytes);
    for (size_t got = head.size - sizeof header; got < bytes.size();) {
        auto part = TRY(receive_message(socket, std::span<char>(bytes).subspan(got, std::min(kSpecChunk, bytes.size() - got))));
        if (part.size == 0) return make_error("launch", "the launcher closed the spec half-way", EPROTO);
        got += part.size;
    }
    LaunchSpec spec = TRY(decode_launch_spec(bytes));
    int* targets[3] = {&spec.stdin_fd, &spec.stdout_fd, &spec.stderr_fd};
    auto fd = head.fds.begin();
    for (int i = 0; i < 3; ++i)
        if (header.has_stdio[i]) *targets[i] = (fd++)->release();
    return std::optional<LaunchSpec>(std::move(spec));
}

Result<void> send_syscall_filter(int socket, const SyscallFilter& filter) {
    if (filter.program.size() > kSpecChunk)
        return make_error("launch", "a system call filter of " + std::to_string(filter.program.size()) + " bytes", E2BIG);
    FilterHeader header{uint32_t(filter.program.size()), uint8_t(filter.notifies)};
    TRY(send_message(socket, {reinterpret_cast<const char*>(&header), sizeof header}));
    return send_message(socket, filter.program);
}

Result<SyscallFilter> receive_syscall_filter(int socket) {
    FilterHeader header;
    auto head = TRY(receive_message(socket, {reinterpret_cast<char*>(&header), sizeof header}));
    if (head.size == 0) return make_error("launch", "the launcher sent no system call filter", EPROTO);
    if (head.size != sizeof header || header.bytes > kSpecChunk)
        return make_error("launch", "malformed system call filter header from the launcher", EPROTO);
    SyscallFilter filter{std::string(header.bytes, '\0'), header.notifies != 0};
    auto body = TRY(receive_message(socket, filter.program));
    if (body.size != header.bytes) return make_error("launch", "the launcher's system call filter was cut short", EPROTO);
    return filter;
}

}  // namespace ssi
