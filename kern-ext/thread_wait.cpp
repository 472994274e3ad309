#include "kern-ext/thread_wait.h"

#include "kern-ext/files.h"

#include <unistd.h>

#include <sstream>

namespace ssi {

pid_t current_thread_id() { return ::gettid(); }  // never fails

namespace {

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

// "[<0>] fuse_wait_answer+0x3a/0x90\n..." -> "fuse_wait_answer < ..."
std::string stack_functions(const std::string& stack) {
    std::istringstream lines(stack);
    std::string line, out;
    while (std::getline(lines, line)) {
        auto start = line.find("] ");
        if (start == std::string::npos) continue;
        std::string fn = line.substr(start + 2, line.find('+', start) - start - 2);
        if (!out.empty()) out += " < ";
        out += fn;
    }
    return out;
}

}  // namespace

std::string describe_thread_wait(pid_t tid) {
    const std::string task = "/proc/self/task/" + std::to_string(tid);
    std::string out;
    if (auto syscall = read_file(task + "/syscall")) out += "syscall " + trimmed(*syscall);
    if (auto wchan = read_file(task + "/wchan"); wchan && !wchan->empty() && *wchan != "0")
        out += (out.empty() ? "" : ", ") + std::string("wchan ") + trimmed(*wchan);
    if (auto stack = read_file(task + "/stack")) {
        if (auto fns = stack_functions(*stack); !fns.empty()) out += (out.empty() ? "" : ", ") + std::string("stack ") + fns;
    }
    return out.empty() ? "the kernel does not say where" : out;
}

}  // namespace ssi
