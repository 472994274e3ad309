// start_floor: the least any remote start can cost on this machine, for bench/run_latency.sh
// to time beside `ssi-run -n 2 true`, local `true` and ssh.
//
//   start_floor serve ADDRESS PORT        a daemon: for each connection, one program
//   start_floor run ADDRESS PORT PROGRAM  ask it to run PROGRAM; exit with its status
//
// A request is one TCP connection on loopback: the client sends the program's path, the
// daemon spawns it (posix_spawn: glibc's vfork-like clone) with the connection as its
// stdout and stderr, waits, and answers one byte, the exit status. No keys, no
// authentication, no identity, no files at home, no namespaces, no relay: every real
// design does all of this and more, so its start cannot be faster than this one's.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

constexpr int kUsage = 2;
constexpr int kFailure = 255;

int usage() {
    std::fputs("usage: start_floor serve ADDRESS PORT | start_floor run ADDRESS PORT PROGRAM\n", stderr);
    return kUsage;
}

bool parse_address(const char* address, const char* port, sockaddr_in& out) {
    char* end = nullptr;
    long p = std::strtol(port, &end, 10);
    if (*port == '\0' || *end != '\0' || p < 1 || p > 65535) return false;
    out = sockaddr_in{};
    out.sin_family = AF_INET;
    out.sin_port = htons(uint16_t(p));
    return ::inet_pton(AF_INET, address, &out.sin_addr) == 1;
}

int fail(const char* what) {
    std::fprintf(stderr, "start_floor: %s: %s\n", what, std::strerror(errno));
    return kFailure;
}

extern "C" char** environ;

// One request: the program's path, up to the client's shutdown of its side.
void serve_one(int connection) {
    char path[4096];
    size_t got = 0;
    for (ssize_t n; got < sizeof path - 1 && (n = ::read(connection, path + got, sizeof path - 1 - got)) > 0;)
        got += size_t(n);
    path[got] = '\0';
    unsigned char status = kFailure;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, connection, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, connection, STDERR_FILENO);
    pid_t child = 0;
    char* argv[] = {path, nullptr};
    if (got > 0 && ::posix_spawn(&child, path, &actions, nullptr, argv, environ) == 0) {
        int wstatus = 0;
        while (::waitpid(child, &wstatus, 0) < 0 && errno == EINTR) {
        }
        status = WIFEXITED(wstatus) ? (unsigned char)WEXITSTATUS(wstatus) : (unsigned char)(128 + WTERMSIG(wstatus));
    }
    posix_spawn_file_actions_destroy(&actions);
    (void)!::write(connection, &status, 1);
}

int serve(const sockaddr_in& at) {
    int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0) return fail("socket");
    int one = 1;
    ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(listener, reinterpret_cast<const sockaddr*>(&at), sizeof at) < 0) return fail("bind");
    if (::listen(listener, 64) < 0) return fail("listen");
    for (;;) {
        int connection = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (connection < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return fail("accept");
        }
        ::setsockopt(connection, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        serve_one(connection);
        ::close(connection);
    }
}

int run(const sockaddr_in& at, const char* program) {
    int connection = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connection < 0) return fail("socket");
    if (::connect(connection, reinterpret_cast<const sockaddr*>(&at), sizeof at) < 0) return fail("connect");
    size_t length = std::strlen(program);
    if (::write(connection, program, length) != ssize_t(length)) return fail("write");
    ::shutdown(connection, SHUT_WR);
    // What the program wrote, then its status: the last byte before the daemon's close.
    char buffer[4096];
    unsigned char held = 0;  // the last byte read so far: the status, unless more follows
    bool holding = false;
    for (ssize_t n; (n = ::read(connection, buffer, sizeof buffer)) > 0;) {
        if (holding) (void)!::write(STDOUT_FILENO, &held, 1);
        if (n > 1) (void)!::write(STDOUT_FILENO, buffer, size_t(n - 1));
        held = (unsigned char)buffer[n - 1];
        holding = true;
    }
    if (!holding) {
        std::fputs("start_floor: the daemon closed without a status\n", stderr);
        return kFailure;
    }
    return held;
}

}  // namespace

int main(int argc, char** argv) {
    sockaddr_in at{};
    if (argc == 4 && std::strcmp(argv[1], "serve") == 0 && parse_address(argv[2], argv[3], at)) return serve(at);
    if (argc == 5 && std::strcmp(argv[1], "run") == 0 && parse_address(argv[2], argv[3], at)) return run(at, argv[4]);
    return usage();
}
