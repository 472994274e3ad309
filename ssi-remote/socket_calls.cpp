#include "ssi-remote/socket_calls.h"

#include "kern-ext/files.h"
#include "kern-ext/file_ops.h"
#include "kern-ext/pidfd.h"
#include "kern-ext/proc_files.h"
#include "kern-ext/proc_tree.h"
#include "kern-ext/run_holding_only.h"
#include "kern-ext/socket_ops.h"
#include "kern-ext/thread_signals.h"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <map>
#include <memory>

namespace ssi::remote {
namespace {

constexpr size_t kMaxAddress = sizeof(sockaddr_storage);
// How often calls that wait for home are checked for a signal to let through.
constexpr int kSignalCheckMs = 50;
// The kernel's "restart this call after the signal" (ERESTARTSYS, not in userspace headers):
// the caller's kernel delivers the signal, then restarts the call or fails it with EINTR,
// as the handler's SA_RESTART says — exactly as for its own blocking calls.
constexpr int kRestartSys = 512;

// Calls that may wait for home (accept, connect, SO_ERROR): notification id -> thread. The
// filter waits killably once a call is taken (SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV), so
// without this a handler of SIGINT would run only when the call returns.
using Waiting = std::map<uint64_t, pid_t>;

void let_signals_through(Waiting& waiting, const SyscallListener& l) {
    for (auto it = waiting.begin(); it != waiting.end();) {
        bool answered = !l.is_valid(it->first);
        if (!answered && deliverable_signal_pending(it->second).value_or(false)) {
            (void)l.fail(it->first, kRestartSys);  // a connection it was to get goes to the next accept
            answered = true;
        }
        it = answered ? waiting.erase(it) : std::next(it);
    }
}
constexpr size_t kMaxOption = 256;

// A pidfd whose get_fd sees the calling thread's descriptors. A notification names a
// thread, and pidfd_open takes one that does not lead its process only with PIDFD_THREAD
// (Linux 6.9); before it, the thread's process is looked up in /proc.
Result<Pidfd> descriptors_of(pid_t tid) {
    auto thread = Pidfd::open_thread(tid);
    if (thread || thread.error().err != EINVAL) return thread;
    if (auto leader = Pidfd::open(tid)) return leader;
    return Pidfd::open(TRY(read_namespace_pids(tid)).tgid);
}

// What the relay needs to know of one call on a descriptor of the program.
struct Target {
    uint64_t sock = 0;
    UniqueFd copy;  // the program's descriptor, by pidfd_getfd: its flags are the program's
};

// A copy of the caller's descriptor `fd`; nullopt for EBADF and the like (the kernel will
// say so when the call goes on).
std::optional<UniqueFd> copy_of(const SyscallNotification& n, int fd) {
    auto pidfd = descriptors_of(n.pid);
    if (!pidfd) return std::nullopt;
    auto copy = pidfd->get_fd(fd);
    if (!copy) return std::nullopt;
    return std::move(*copy);
}

// The relayed socket the `copy` is, or nullopt when it is not one of ours.
std::optional<Target> our_socket(SocketRelay& relay, UniqueFd& copy) {
    auto inode = fd_inode(copy.get());
    if (!inode) return std::nullopt;
    auto sock = relay.find(*inode);
    if (!sock) return std::nullopt;
    return Target{*sock, std::move(copy)};
}

Result<std::string> read_bytes(const SyscallListener& l, const SyscallNotification& n, uint64_t addr, size_t size) {
    std::string out(size, '\0');
    size_t got = TRY(l.read_memory(n, RemoteAddr{addr}, std::span<char>(out.data(), out.size())));
    if (got != size) return make_error("read_memory", "caller's buffer", EFAULT);
    return out;
}

Result<uint32_t> read_length(const SyscallListener& l, const SyscallNotification& n, uint64_t addr) {
    std::string bytes = TRY(read_bytes(l, n, addr, sizeof(socklen_t)));
    socklen_t len;
    std::memcpy(&len, bytes.data(), sizeof len);
    return uint32_t(len);
}

// Writes a value of a (sockaddr or option, socklen_t *len) pair as the kernel would:
// truncated to *len, and *len set to its whole size.
Result<void> write_sized(const SyscallListener& l, const SyscallNotification& n, uint64_t addr, uint64_t len_addr,
                         const std::string& value) {
    if (!addr || !len_addr) return ok();
    uint32_t room = TRY(read_length(l, n, len_addr));
    size_t size = std::min<size_t>(room, value.size());
    if (size && TRY(l.write_memory(n, RemoteAddr{addr}, std::span<const char>(value.data(), size))) != size)
        return make_error("write_memory", "caller's buffer", EFAULT);
    socklen_t whole = socklen_t(value.size());
    if (TRY(l.write_memory(n, RemoteAddr{len_addr}, std::span<const char>(reinterpret_cast<const char*>(&whole), sizeof whole))) !=
        sizeof whole)
        return make_error("write_memory", "caller's length", EFAULT);
    return ok();
}

void answer(const SyscallListener& l, uint64_t id, int err) { (void)(err ? l.fail(id, err) : l.reply(id, 0)); }
int err_of(const Error& e) { return e.err ? e.err : EIO; }

// Options about the program's own end, which its kernel applies (timeouts, low-water marks).
bool local_option(int level, int name) {
    if (level != SOL_SOCKET) return false;
    switch (name) {
        case SO_RCVTIMEO_OLD: case SO_SNDTIMEO_OLD: case SO_RCVTIMEO_NEW: case SO_SNDTIMEO_NEW:
        case SO_RCVLOWAT: case SO_SNDLOWAT: return true;
        default: return false;
    }
}

void on_socket(SocketRelay& relay, const SyscallListener& l, const SyscallNotification& n) {
    int family = int(n.args[0]), type = int(n.args[1]), protocol = int(n.args[2]);
    int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (base != SOCK_STREAM || (protocol != 0 && protocol != IPPROTO_TCP)) {
        (void)l.continue_call(n.id);  // UDP, raw...: the target's
        return;
    }
    relay.open(family, type, protocol, [&l, n, type](int err, SocketRelay::Opened opened) {
        if (err) return answer(l, n.id, err);
        // Our end becomes the call's result; if the caller is gone, the end closes here.
        (void)l.add_fd(n.id, opened.end.get(), type & SOCK_CLOEXEC, true);
    });
}

void on_accept(SocketRelay& relay, const SyscallListener& l, const SyscallNotification& n, Target t) {
    int flags = n.nr == SYS_accept4 ? int(n.args[3]) : 0;
    bool nonblocking = is_nonblocking(t.copy.get()).value_or(false);
    uint64_t listener = t.sock;
    relay.accept(listener, std::move(t.copy), nonblocking, [&l, &relay, n, flags, listener](int err, SocketRelay::Accepted a) {
        if (err) return answer(l, n.id, err);
        if (flags & SOCK_NONBLOCK) (void)set_blocking_mode(a.end.get(), true);
        if (auto w = write_sized(l, n, n.args[1], n.args[2], a.peer); !w) return answer(l, n.id, err_of(w.error()));
        // Interrupted by a signal meanwhile: the connection waits for the next accept.
        if (!l.add_fd(n.id, a.end.get(), flags & SOCK_CLOEXEC, true)) relay.give_back(listener, std::move(a));
    }, [&l, id = n.id] { return l.is_valid(id); });
}

// ---- Unix sockets named in the home filesystem -------------------------------------------
// The program's own Unix stream socket, connected or bound to a name that resolves (in the
// program's view) into the home filesystem — a socket file there, or for bind a directory
// there — is made at home instead: our end of a new pair replaces the program's descriptor
// before the call returns, and from then on it is one of ours like a TCP socket.

int socket_int_option(int fd, int name) {
    auto bytes = get_socket_option(fd, SOL_SOCKET, name, sizeof(int));
    if (!bytes || bytes->size() != sizeof(int)) return -1;
    int v;
    std::memcpy(&v, bytes->data(), sizeof v);
    return v;
}

// The call's address with its name made absolute, when that name is the home filesystem's;
// nullopt when the call is the target kernel's (abstract names, names of this node's own
// files, sockets of other kinds).
std::optional<std::string> home_unix_address(const SyscallListener& l, const SyscallNotification& n, int copy) {
    if (socket_int_option(copy, SO_DOMAIN) != AF_UNIX || socket_int_option(copy, SO_TYPE) != SOCK_STREAM)
        return std::nullopt;
    constexpr size_t kPathAt = offsetof(sockaddr_un, sun_path);
    // Connected already, or bound: the kernel's EISCONN or EINVAL.
    if (n.nr == SYS_connect ? peer_name(copy).ok() : socket_name(copy).value_or("").size() > kPathAt)
        return std::nullopt;
    size_t size = std::min<size_t>(n.args[2], sizeof(sockaddr_un));
    if (size <= kPathAt) return std::nullopt;
    auto addr = read_bytes(l, n, n.args[1], size);
    if (!addr) return std::nullopt;
    sa_family_t family;
    std::memcpy(&family, addr->data(), sizeof family);
    std::string name(addr->c_str() + kPathAt, strnlen(addr->c_str() + kPathAt, size - kPathAt));
    if (family != AF_UNIX || name.empty()) return std::nullopt;  // abstract names start with NUL
    if (name[0] != '/') {
        auto cwd = working_directory_of(n.pid);
        if (!cwd || cwd->empty() || (*cwd)[0] != '/') return std::nullopt;
        name = (*cwd == "/" ? "" : *cwd) + "/" + name;
    }
    if (name.size() >= sizeof(sockaddr_un::sun_path)) return std::nullopt;
    // Home's is what the program's root is on: its root is the home mount, and this node's
    // own files (/dev, /run/ssi/agent.sock) are bound over it.
    // Looked up by a child holding no /dev/fuse: these are requests to our own mount
    // (kern-ext/run_holding_only.h says why).
    auto root = root_directory_of(n.pid);
    if (!root) return std::nullopt;
    std::string resolved = name;
    if (n.nr == SYS_bind) resolved = name.substr(0, std::max<size_t>(name.rfind('/'), 1));
    auto st = stat_in_root_apart(root->get(), resolved);
    if (!st || st->at.st_dev != st->root.st_dev) return std::nullopt;
    if (n.nr == SYS_connect ? !S_ISSOCK(st->at.st_mode) : !S_ISDIR(st->at.st_mode)) return std::nullopt;
    sockaddr_un out{};
    out.sun_family = AF_UNIX;
    std::memcpy(out.sun_path, name.data(), name.size());
    return std::string(reinterpret_cast<const char*>(&out), kPathAt + name.size() + 1);
}

void make_home_unix_socket(SocketRelay& relay, const SyscallListener& l, const SyscallNotification& n, UniqueFd copy,
                           std::string address) {
    int fd = int(n.args[0]);
    bool nonblocking = is_nonblocking(copy.get()).value_or(false);
    bool cloexec = closes_on_exec(n.pid, fd).value_or(false);
    relay.open(AF_UNIX, SOCK_STREAM | (nonblocking ? SOCK_NONBLOCK : 0), 0,
               [&relay, &l, n, fd, cloexec, address](int err, SocketRelay::Opened opened) {
        if (err) return answer(l, n.id, err);
        auto end = std::make_shared<UniqueFd>(std::move(opened.end));
        auto installed = [&relay, &l, n, fd, cloexec, end, sock = opened.sock](int err) {
            // A connection made for a caller a signal took away closes again.
            if (!err && !l.replace_fd(n.id, end->get(), fd, cloexec)) err = EINTR;
            if (err) relay.discard(sock);
            answer(l, n.id, err);
        };
        // A Unix connect is decided at once, blocking or not: wait for home's answer.
        if (n.nr == SYS_connect) return relay.connect(opened.sock, address, false, installed);
        relay.bind(opened.sock, address, umask_of(n.pid).value_or(022), installed);
    });
}

void on_call(SocketRelay& relay, const SyscallListener& l, const SyscallNotification& n, Waiting& waiting) {
    if (n.nr == SYS_socket) return on_socket(relay, l, n);
    auto copy = copy_of(n, int(n.args[0]));
    auto target = copy ? our_socket(relay, *copy) : std::nullopt;
    if (!target) {
        if (copy && (n.nr == SYS_connect || n.nr == SYS_bind))
            if (auto address = home_unix_address(l, n, copy->get())) {
                if (n.nr == SYS_connect) waiting[n.id] = n.pid;
                return make_home_unix_socket(relay, l, n, std::move(*copy), std::move(*address));
            }
        (void)l.continue_call(n.id);
        return;
    }
    // Answered at once or not, it is forgotten at the next check once answered.
    if (n.nr == SYS_accept || n.nr == SYS_accept4 || n.nr == SYS_connect || n.nr == SYS_getsockopt) waiting[n.id] = n.pid;
    uint64_t sock = target->sock;
    auto done = [&l, id = n.id](int err) { answer(l, id, err); };
    switch (n.nr) {
        case SYS_connect:
        case SYS_bind: {
            auto addr = read_bytes(l, n, n.args[1], std::min<size_t>(n.args[2], kMaxAddress));
            if (!addr) return answer(l, n.id, EFAULT);
            if (n.nr == SYS_bind) return relay.bind(sock, *addr, umask_of(n.pid).value_or(022), done);
            bool nonblocking = is_nonblocking(target->copy.get()).value_or(false);
            return relay.connect(sock, *addr, nonblocking, done);
        }
        case SYS_listen: return relay.listen(sock, int(n.args[1]), done);
        case SYS_accept:
        case SYS_accept4: return on_accept(relay, l, n, std::move(*target));
        case SYS_getsockname:
        case SYS_getpeername:
            return relay.name(sock, n.nr == SYS_getpeername, [&l, n](int err, std::string addr) {
                if (!err) err = write_sized(l, n, n.args[1], n.args[2], addr) ? 0 : EFAULT;
                answer(l, n.id, err);
            });
        case SYS_setsockopt: {
            int level = int(n.args[1]), name = int(n.args[2]);
            if (local_option(level, name)) return (void)l.continue_call(n.id);
            auto value = read_bytes(l, n, n.args[3], std::min<size_t>(n.args[4], kMaxOption));
            if (!value) return answer(l, n.id, EFAULT);
            return relay.set_option(sock, level, name, *value, done);
        }
        case SYS_getsockopt: {
            int level = int(n.args[1]), name = int(n.args[2]);
            if (local_option(level, name)) return (void)l.continue_call(n.id);
            auto room = read_length(l, n, n.args[4]);
            if (!room) return answer(l, n.id, EFAULT);
            return relay.get_option(sock, level, name, std::min<uint32_t>(*room, kMaxOption), [&l, n](int err, std::string v) {
                if (!err) err = write_sized(l, n, n.args[3], n.args[4], v) ? 0 : EFAULT;
                answer(l, n.id, err);
            });
        }
        default: (void)l.continue_call(n.id);
    }
}

}  // namespace

void add_socket_calls(SyscallDispatch& dispatch, SocketService& service) {
    // Only the service's thread touches it (the handler posts there, the check runs there).
    auto waiting = std::make_shared<Waiting>();
    auto listener = std::make_shared<const SyscallListener*>(nullptr);
    service.every(kSignalCheckMs, [waiting, listener](SocketRelay& relay) {
        if (!*listener) return;
        let_signals_through(*waiting, **listener);
        relay.prune_waiters();  // accepts whose calls have gone let go of their listener copies
    });
    auto handler = [&service, waiting, listener](const SyscallNotification& n, const SyscallListener& l) {
        // Everything happens on the service's thread: the relay is its alone, and an
        // answer may wait for home without holding up the program's other calls.
        service.post([n, &l, waiting, listener](SocketRelay& relay) {
            *listener = &l;
            on_call(relay, l, n, *waiting);
        });
    };
    // Only the families carried; the filter lets every other socket() by untouched.
    for (int family : {AF_INET, AF_INET6})
        dispatch.add(SyscallRule::notify(SYS_socket, SyscallRule::MaskedEqual{0, 0xffffffff, uint64_t(family)}), handler);
    for (int nr : {SYS_connect, SYS_bind, SYS_listen, SYS_accept, SYS_accept4, SYS_getsockname, SYS_getpeername,
                   SYS_setsockopt, SYS_getsockopt})
        dispatch.add(SyscallRule::notify(nr), handler);
}

}  // namespace ssi::remote
