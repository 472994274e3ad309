#include "kern-ext/syscall_filter.h"

#include <seccomp.h>

#include <string>

namespace ssi {
namespace {

// libseccomp returns -errno.
Error seccomp_error(const char* call, int rc, const std::string& context = {}) { return Error{call, -rc, context}; }

struct FilterContext {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    ~FilterContext() {
        if (ctx) seccomp_release(ctx);
    }
};

}  // namespace

Result<UniqueFd> install_syscall_filter(std::span<const SyscallRule> rules) {
    if (rules.empty()) return UniqueFd();
    FilterContext filter;
    if (!filter.ctx) return make_error("seccomp_init", {}, ENOMEM);
    // Root installs it without no_new_privs: set-uid programs keep working under it.
    if (int rc = seccomp_attr_set(filter.ctx, SCMP_FLTATR_CTL_NNP, 0); rc < 0)
        return seccomp_error("seccomp_attr_set(CTL_NNP)", rc);
    bool notifies = false;
    for (const SyscallRule& rule : rules) {
        uint32_t action = rule.action == SyscallRule::Action::notify ? SCMP_ACT_NOTIFY : SCMP_ACT_ERRNO(uint32_t(rule.err));
        notifies |= rule.action == SyscallRule::Action::notify;
        int rc = 0;
        if (rule.when) {
            if (rule.when->index > 5) return make_error("syscall rule", "argument " + std::to_string(rule.when->index), EINVAL);
            scmp_arg_cmp cmp{rule.when->index, SCMP_CMP_MASKED_EQ, rule.when->mask, rule.when->value};
            rc = seccomp_rule_add_array(filter.ctx, action, rule.nr, 1, &cmp);
        } else {
            rc = seccomp_rule_add_array(filter.ctx, action, rule.nr, 0, nullptr);
        }
        if (rc < 0) return seccomp_error("seccomp_rule_add", rc, "syscall " + std::to_string(rule.nr));
    }
    if (int rc = seccomp_load(filter.ctx); rc < 0) return seccomp_error("seccomp_load", rc);
    if (!notifies) return UniqueFd();
    int fd = seccomp_notify_fd(filter.ctx);
    if (fd < 0) return seccomp_error("seccomp_notify_fd", fd);
    return UniqueFd(fd);
}

}  // namespace ssi
