// kern-ext/process: reserve_descriptor_table, the descriptor table sized before threads.
// Each case runs in a forked child, whose table starts as small as its highest open
// descriptor allows (the test binary's own may have grown already).
#include "kern-ext/process.h"

#include <catch2/catch.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <string>

using namespace ssi;

namespace {

// The table's size, as the kernel reports it (FDSize in /proc/self/status).
long table_size() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("FDSize:", 0) == 0) return std::stol(line.substr(7));
    return -1;
}

int open_descriptors() {
    int n = 0;
    DIR* dir = ::opendir("/proc/self/fd");
    if (dir == nullptr) return -1;
    while (dirent* e = ::readdir(dir))
        if (e->d_name[0] != '.') ++n;
    ::closedir(dir);
    return n - 1;  // the listing's own
}

rlim_t soft_limit() {
    rlimit l {};
    ::getrlimit(RLIMIT_NOFILE, &l);
    return l.rlim_cur;
}

// Runs `body` in a child; its return value is the child's exit status (0 = passed).
int in_child(const std::function<int()>& body) {
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(body());
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

}  // namespace

TEST_CASE("the descriptor table is sized at once, nothing left open", "[descriptor-table]") {
    CHECK(in_child([] {
              // A small soft limit first, so the slot lies beyond it.
              rlimit low {};
              ::getrlimit(RLIMIT_NOFILE, &low);
              if (low.rlim_max < 4096) return 0;  // nothing to show under this hard limit
              low.rlim_cur = 256;
              if (::setrlimit(RLIMIT_NOFILE, &low) != 0) return 1;
              if (table_size() >= 4096) return 2;
              const int before = open_descriptors();
              if (!reserve_descriptor_table(4096).ok()) return 3;
              if (table_size() < 4096) return 4;
              if (soft_limit() != 256) return 5;  // the limit the process had
              if (open_descriptors() != before) return 6;
              return 0;
          }) == 0);
}

TEST_CASE("a descriptor open at the table's last slot is left alone", "[descriptor-table]") {
    CHECK(in_child([] {
              rlimit l {};
              ::getrlimit(RLIMIT_NOFILE, &l);
              if (l.rlim_cur < 1024) return 0;
              int held = ::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 1023);
              if (held != 1023) return 1;
              if (!reserve_descriptor_table(1024).ok()) return 2;
              if (::fcntl(1023, F_GETFD) < 0) return 3;  // still ours
              if (table_size() < 1024) return 4;
              return 0;
          }) == 0);
}
