#include "kern-ext/launch_spec_transfer.h"

#include "kern-ext/fd_passing.h"

#include <msgpack.hpp>

#include <cstdint>
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
// (those it has, in order), then the encoded spec in messages of at most kSpecChunk.
struct SpecHeader {
    uint64_t bytes = 0;
    uint8_t has_stdio[3] = {};
};
constexpr size_t kSpecChunk = 64 * 1024;
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
    TRY(send_message(socket, {reinterpret_cast<const char*>(&header), sizeof header}, stdio));
    for (size_t at = 0; at < bytes.size(); at += kSpecChunk)
        TRY(send_message(socket, std::span<const char>(bytes).subspan(at, std::min(kSpecChunk, bytes.size() - at))));
    return ok();
}

Result<std::optional<LaunchSpec>> receive_launch_spec(int socket) {
    SpecHeader header;
    auto head = TRY(receive_message_fds(socket, {reinterpret_cast<char*>(&header), sizeof header}));
    if (head.size == 0) return std::optional<LaunchSpec>{};
    size_t wanted = size_t(header.has_stdio[0] != 0) + (header.has_stdio[1] != 0) + (header.has_stdio[2] != 0);
    if (head.size != sizeof header || head.fds.size() != wanted || header.bytes > kMaxSpecBytes)
        return make_error("launch", "malformed spec header from the launcher", EPROTO);
    std::string bytes(header.bytes, '\0');
    for (size_t got = 0; got < bytes.size();) {
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
    std::string message(1, char(filter.notifies));
    message += filter.program;
    if (message.size() > kSpecChunk) return make_error("launch", "a system call filter of " + std::to_string(message.size()) + " bytes", E2BIG);
    return send_message(socket, message);
}

Result<SyscallFilter> receive_syscall_filter(int socket) {
    std::string message(kSpecChunk, '\0');
    auto got = TRY(receive_message(socket, message));
    if (got.size == 0) return make_error("launch", "the launcher sent no system call filter", EPROTO);
    return SyscallFilter{message.substr(1, got.size - 1), message[0] != 0};
}

}  // namespace ssi
