#include "ssi-remote/start_names.h"

#include "kern-ext/files.h"
#include "libssi/remote/fs_protocol.h"

#include <cstdio>
#include <sstream>

namespace ssi::remote {
namespace {

// How long after the mount a lookup still counts as the start's.
constexpr auto kStartWindow = std::chrono::seconds(1);
constexpr std::string_view kHeader = "ssi start names 1\n";

// FNV-1a: a stable file name for a program path of any length.
uint64_t name_hash(const std::string& s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
    return h;
}

// The file: the header, the program's path, then one name per line, "0 path" or "1 path"
// (1: its link's target is read too). Anything else (a NUL in a path too) reads as no record.
StartNames::Names parse(const std::string& text, const std::string& program) {
    std::istringstream in(text);
    std::string header, line;
    if (!std::getline(in, header) || header + "\n" != kHeader) return {};
    if (!std::getline(in, line) || line != program) return {};
    StartNames::Names names;
    while (std::getline(in, line) && names.size() < kMaxPrimedNames) {
        if (line.size() < 3 || (line[0] != '0' && line[0] != '1') || line[1] != ' ' ||
            line.find('\0') != std::string::npos)
            return {};
        names.emplace_back(line.substr(2), line[0] == '1');
    }
    return names;
}

}  // namespace

StartNames::StartNames(std::string path, std::string program, Names last)
    : path_(std::move(path)), program_(std::move(program)), last_(std::move(last)),
      started_(std::chrono::steady_clock::now()) {
    paths_[kRootNode] = "";
}

Result<std::shared_ptr<StartNames>> StartNames::open(const std::string& dir, int32_t home, uint32_t uid,
                                                     const std::string& program) {
    TRY(make_dirs(dir, 0700));
    TRY(change_mode(dir, 0700));
    char name[64];
    std::snprintf(name, sizeof name, "/%u-%d-%016llx", uid, home, (unsigned long long)name_hash(program));
    std::string path = dir + name;
    auto text = read_file(path);
    Names last = text ? parse(*text, program) : Names{};
    return std::shared_ptr<StartNames>(new StartNames(path, program, std::move(last)));
}

bool StartNames::recording() const {
    return recorded_.size() < kMaxPrimedNames && std::chrono::steady_clock::now() - started_ < kStartWindow;
}

void StartNames::looked_up(uint64_t parent, const std::string& name, uint64_t node) {
    std::lock_guard lock(mu_);
    if (!recording() || name.find('\n') != std::string::npos) return;
    auto at = paths_.find(parent);
    if (at == paths_.end()) return;
    std::string path = at->second.empty() ? name : at->second + "/" + name;
    paths_[node] = path;
    recorded_.emplace_back(std::move(path), false);
}

void StartNames::read_link(uint64_t node) {
    std::lock_guard lock(mu_);
    auto at = paths_.find(node);
    if (at == paths_.end()) return;
    for (auto it = recorded_.rbegin(); it != recorded_.rend(); ++it)
        if (it->first == at->second) return (void)(it->second = true);
}

Result<void> StartNames::save() const {
    std::lock_guard lock(mu_);
    if (recorded_.empty() || recorded_ == last_) return ok();
    std::string text(kHeader);
    text += program_ + "\n";
    for (const auto& [path, link] : recorded_) text += (link ? "1 " : "0 ") + path + "\n";
    return write_file_atomic(path_, text, 0600);
}

}  // namespace ssi::remote
