#include "kern-ext/syscall_filter.h"

#include "kern-ext/files.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

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

// The filter as libseccomp compiled it.
Result<std::string> compiled_program(scmp_filter_ctx ctx) {
    int fd = ::memfd_create("ssi-seccomp", MFD_CLOEXEC);
    if (fd < 0) return sys_error("memfd_create");
    UniqueFd memory(fd);
    if (int rc = seccomp_export_bpf(ctx, fd); rc < 0) return seccomp_error("seccomp_export_bpf", rc);
    if (::lseek(fd, 0, SEEK_SET) < 0) return sys_error("lseek", "exported filter");
    std::string program;
    char buf[4096];
    for (;;) {
        size_t n = TRY(read_some(fd, buf));
        if (n == 0) return program;
        program.append(buf, n);
    }
}

}  // namespace

Result<SyscallFilter> compile_syscall_filter(std::span<const SyscallRule> rules) {
    if (rules.empty()) return SyscallFilter{};
    FilterContext filter;
    if (!filter.ctx) return make_error("seccomp_init", {}, ENOMEM);
    // Root installs it without no_new_privs (seccomp(2) allows that with CAP_SYS_ADMIN):
    // set-uid programs keep working under it.
    bool notifies = false;
    for (const SyscallRule& rule : rules) {
        uint32_t action = rule.action == SyscallRule::Action::notify ? SCMP_ACT_NOTIFY : SCMP_ACT_ERRNO(uint32_t(rule.err));
        notifies |= rule.action == SyscallRule::Action::notify;
        int rc = 0;
        if (rule.when) {
            if (rule.when->index > 5) return make_error("syscall rule", "argument " + std::to_string(rule.when->index), EINVAL);
            // libseccomp compares with a mask for equality only.
            if (rule.when->differs && rule.when->mask != ~uint64_t(0))
                return make_error("syscall rule", "a masked inequality", EINVAL);
            scmp_arg_cmp cmp = rule.when->differs
                                   ? scmp_arg_cmp{rule.when->index, SCMP_CMP_NE, rule.when->value, 0}
                                   : scmp_arg_cmp{rule.when->index, SCMP_CMP_MASKED_EQ, rule.when->mask, rule.when->value};
            rc = seccomp_rule_add_array(filter.ctx, action, rule.nr, 1, &cmp);
        } else {
            rc = seccomp_rule_add_array(filter.ctx, action, rule.nr, 0, nullptr);
        }
        if (rc < 0) return seccomp_error("seccomp_rule_add", rc, "syscall " + std::to_string(rule.nr));
    }
    return SyscallFilter{TRY(compiled_program(filter.ctx)), notifies};
}

// seccomp(2) ourselves rather than seccomp_load(): libseccomp 2.5 cannot ask for
// WAIT_KILLABLE_RECV (Linux 5.19). With it, a caller whose notification we received is
// not interrupted by a signal while it waits for the answer — without it, a fork waiting
// for its home PID returns EINTR to a shell whose SIGCHLD handler lacks SA_RESTART, where
// a real fork always restarts.
Result<UniqueFd> SyscallFilter::install() const {
    if (program.empty()) return UniqueFd();
    if (program.size() % sizeof(sock_filter) != 0 || program.size() / sizeof(sock_filter) > BPF_MAXINSNS)
        return make_error("seccomp filter", std::to_string(program.size()) + " bytes are no BPF program", EINVAL);
    sock_fprog prog{};
    prog.len = static_cast<unsigned short>(program.size() / sizeof(sock_filter));
    prog.filter = reinterpret_cast<sock_filter*>(const_cast<char*>(program.data()));
    unsigned long flags = notifies ? SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV : 0;
    long fd = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
    if (fd < 0 && errno == EINVAL && notifies)  // before 5.19
        fd = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (fd < 0) return sys_error("seccomp(SECCOMP_SET_MODE_FILTER)");
    return notifies ? UniqueFd(int(fd)) : UniqueFd();
}

Result<UniqueFd> install_syscall_filter(std::span<const SyscallRule> rules) {
    return TRY(compile_syscall_filter(rules)).install();
}

}  // namespace ssi
