// Syscall rules and the seccomp filter built from them: a system call either goes to a
// supervisor (seccomp user notification, answered through a SyscallListener) or fails
// with an errno. Every rule may depend on one argument: (arg[index] & mask) == value, or
// arg[index] != value.
//
// A process installs the filter on itself (SyscallFilter::install) and hands the listener
// descriptor to whoever answers; the filter is inherited by its children and survives
// exec. Only one listener exists per filter chain, so every feature that interposes on a
// system call shares it (ssi-remote/syscall_dispatch.h).
#pragma once

#include "kern-ext/result.h"
#include "kern-ext/unique_fd.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace ssi {

struct SyscallRule {
    enum class Action { notify, fail };
    struct MaskedEqual {
        unsigned index = 0;  // argument 0..5
        uint64_t mask = 0;
        uint64_t value = 0;
        bool differs = false;  // the opposite: arg[index] != value (mask all ones)
    };
    static MaskedEqual differs_from(unsigned index, uint64_t value) { return {index, ~uint64_t(0), value, true}; }
    int nr = -1;  // the native (x86_64) system call number
    Action action = Action::notify;
    int err = 0;  // Action::fail: the errno
    std::optional<MaskedEqual> when;  // none: always

    static SyscallRule notify(int nr, std::optional<MaskedEqual> when = std::nullopt) {
        return {nr, Action::notify, 0, when};
    }
    static SyscallRule fail(int nr, int err) { return {nr, Action::fail, err, std::nullopt}; }
};

// A filter compiled from rules (compile_syscall_filter), ready to install. Compiling is
// libseccomp's work, about a millisecond here; a launcher does it while the process that
// installs the filter gets ready, not in that process.
struct SyscallFilter {
    std::string program;  // the BPF instructions, sock_filter[]
    bool notifies = false;  // some rule notifies: installing makes a listener

    // Installs it on the calling thread (everything it does not name is allowed). Needs
    // CAP_SYS_ADMIN (then no_new_privs is left alone, so set-uid programs still work) or
    // no_new_privs already set. Returns the listener when a rule notifies, an invalid fd
    // otherwise. An empty filter installs nothing.
    Result<UniqueFd> install() const;
};

// A rule for a system call that appears twice with different conditions is allowed;
// contradictory rules are libseccomp's error. No rules: an empty filter.
Result<SyscallFilter> compile_syscall_filter(std::span<const SyscallRule> rules);

// Both at once: compiles the rules and installs their filter on the calling thread.
Result<UniqueFd> install_syscall_filter(std::span<const SyscallRule> rules);

}  // namespace ssi
