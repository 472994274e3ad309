#include "kern-ext/launch_spec_codec.h"

#include <msgpack.hpp>

#include <cstdint>
#include <tuple>
#include <vector>

namespace ssi {
namespace {

using Binds = std::vector<std::pair<std::string, std::string>>;
using Limit = std::tuple<int, uint64_t, uint64_t>;  // resource, soft, hard
// nr, action, err, has condition, argument index, mask, value
using Rule = std::tuple<int, int, int, bool, unsigned, uint64_t, uint64_t>;
using Fields = std::tuple<std::string, Binds, Binds, std::string, std::vector<std::string>, std::vector<std::string>,
                          std::string, uid_t, gid_t, std::vector<gid_t>, mode_t, std::vector<Limit>, pid_t, pid_t,
                          std::string, bool, bool, std::vector<Rule>>;

}  // namespace

std::string encode_launch_spec(const LaunchSpec& s) {
    std::vector<Limit> limits;
    for (const auto& [resource, limit] : s.rlimits) limits.emplace_back(resource, limit.rlim_cur, limit.rlim_max);
    std::vector<Rule> rules;
    for (const SyscallRule& r : s.syscall_rules) {
        SyscallRule::MaskedEqual when = r.when.value_or(SyscallRule::MaskedEqual{});
        rules.emplace_back(r.nr, int(r.action), r.err, r.when.has_value(), when.index, when.mask, when.value);
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
    for (const auto& [nr, action, err, conditional, index, mask, value] : rules) {
        if (action != int(SyscallRule::Action::notify) && action != int(SyscallRule::Action::fail))
            return make_error("launch spec", "unknown system call rule action " + std::to_string(action), EPROTO);
        SyscallRule rule{nr, SyscallRule::Action(action), err, std::nullopt};
        if (conditional) rule.when = SyscallRule::MaskedEqual{index, mask, value};
        s.syscall_rules.push_back(rule);
    }
    return s;
}

}  // namespace ssi
