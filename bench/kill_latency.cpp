// kill_latency: time from starting a signalling command until the target's handler runs.
//   kill_latency target FIFO          handler for SIGUSR1 writes one byte to FIFO
//   kill_latency drive FIFO N CMD...  runs CMD N times, each time waiting for the byte;
//                                     prints median, p90, p99 and min in microseconds
// Used by bench/kill_bench.sh to compare `ssi-kill` across nodes with plain `kill`.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

extern char** environ;

namespace {

int fifo_fd = -1;

void on_usr1(int) {
    char b = 'x';
    (void)!write(fifo_fd, &b, 1);
}

int target(const char* fifo) {
    fifo_fd = open(fifo, O_WRONLY);  // blocks until the driver opens it
    if (fifo_fd < 0) return perror("open fifo"), 1;
    struct sigaction sa {};
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, nullptr);
    for (;;) pause();
}

int drive(const char* fifo, int n, char** cmd) {
    int fd = open(fifo, O_RDONLY);
    if (fd < 0) return perror("open fifo"), 1;
    std::vector<double> us;
    for (int i = 0; i < n; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        pid_t child;
        if (posix_spawnp(&child, cmd[0], nullptr, nullptr, cmd, environ) != 0) return perror("spawn"), 1;
        char b;
        if (read(fd, &b, 1) != 1) return fprintf(stderr, "target went away\n"), 1;
        auto t1 = std::chrono::steady_clock::now();
        int status;
        waitpid(child, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return fprintf(stderr, "%s failed\n", cmd[0]), 1;
        us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
    std::sort(us.begin(), us.end());
    auto pct = [&](double p) { return us[std::min(us.size() - 1, size_t(p * us.size()))]; };
    printf("runs=%d median_us=%.0f p90_us=%.0f p99_us=%.0f min_us=%.0f\n", n, pct(0.5), pct(0.9), pct(0.99), us[0]);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc >= 3 && !strcmp(argv[1], "target")) return target(argv[2]);
    if (argc >= 5 && !strcmp(argv[1], "drive")) return drive(argv[2], atoi(argv[3]), argv + 4);
    fprintf(stderr, "usage: kill_latency target FIFO | kill_latency drive FIFO N CMD...\n");
    return 2;
}
