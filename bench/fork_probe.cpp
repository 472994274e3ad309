// fork_probe N: N rounds of fork() + _exit(0) in the child + waitpid() in the parent, after
// 20 unmeasured ones; prints per-round statistics (µs). Run by `ssi-run -n 2`, every fork
// is intercepted and reserves a home PID (docs/remote-exec.md, "Children"); run plainly, it
// is the kernel's own cost. bench/run_fork.sh compares the two.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
    int n = argc > 1 ? std::atoi(argv[1]) : 1000;
    if (n <= 0) {
        std::fprintf(stderr, "usage: fork_probe N (N > 0)\n");
        return 2;
    }
    std::vector<double> us;
    us.reserve(size_t(n));
    int failures = 0;
    for (int i = -20; i < n; ++i) {
        auto start = std::chrono::steady_clock::now();
        pid_t child = ::fork();
        if (child < 0) {
            ++failures;
            continue;
        }
        if (child == 0) ::_exit(0);
        int status = 0;
        while (::waitpid(child, &status, 0) < 0) {
        }
        double took = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
        if (i >= 0) us.push_back(took);
    }
    if (us.empty()) return 1;
    std::sort(us.begin(), us.end());
    auto at = [&](double q) { return us[std::min(us.size() - 1, size_t(q * double(us.size())))]; };
    std::printf("n=%zu median_us=%.1f p90_us=%.1f p99_us=%.1f failures=%d\n", us.size(), at(0.5), at(0.9), at(0.99),
                failures);
    return 0;
}
