#include "shell/ssi-cluster/cluster_state.h"

#include "kern-ext/files.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace ssi::cluster {

StatePaths state_paths(const std::string& name) { return StatePaths{std::string(kStateRoot) + "/" + name}; }

std::string default_cluster_name() {
    const char* env = std::getenv("SSI_CLUSTER");
    return env && *env ? env : "default";
}

bool is_valid_cluster_name(const std::string& name) {
    if (name.empty() || name.size() > 64 || name[0] == '.') return false;
    for (char c : name)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') return false;
    return true;
}

std::string node_hostname(int k) { return "node" + std::to_string(k); }
std::string node_address(int k) { return "127.0.1." + std::to_string(k); }

namespace {

struct StatFields {
    char state = '?';
    uint64_t start_ticks = 0;
};

Result<StatFields> read_stat(pid_t pid) {
    std::string path = "/proc/" + std::to_string(pid) + "/stat";
    std::string text = TRY(read_file(path));
    // The command name (field 2) may hold spaces and parentheses; fields resume after the last ')'.
    auto close = text.rfind(')');
    if (close == std::string::npos) return make_error("parse", path, EIO);
    std::istringstream rest(text.substr(close + 1));
    StatFields f;
    std::string field;
    rest >> f.state;
    for (int i = 4; i <= 22 && rest >> field; ++i)
        if (i == 22) f.start_ticks = std::strtoull(field.c_str(), nullptr, 10);
    if (f.start_ticks == 0) return make_error("parse", path + ": no start time", EIO);
    return f;
}

}  // namespace

Result<ProcessId> identify_process(pid_t pid) {
    StatFields f = TRY(read_stat(pid));
    return ProcessId{pid, f.start_ticks};
}

bool is_running(const ProcessId& id) {
    auto f = read_stat(id.pid);
    return f && f->start_ticks == id.start_ticks && f->state != 'Z' && f->state != 'X';
}

const NodeRecord* Cluster::node(int k) const {
    for (const auto& n : nodes)
        if (n.config.id == k) return &n;
    return nullptr;
}

Result<const NodeRecord*> Cluster::require_node(int k) const {
    if (const NodeRecord* n = node(k)) return n;
    return make_error("cluster " + name + " has no node " + std::to_string(k) + " (nodes 1.." +
                          std::to_string(nodes.size()) + ")",
                      {}, 0);
}

Result<ProcessId> Cluster::running_init(int k) const {
    const NodeRecord* n = TRY(require_node(k));
    if (!n->init || !is_running(*n->init))
        return make_error("node " + std::to_string(k) + " of cluster " + name + " is down (its init is gone)", {}, 0);
    return *n->init;
}

Result<Cluster> load_cluster(const std::string& name) {
    Cluster c{name, state_paths(name), {}, {}};
    if (!stat_path(c.paths.dir)) return make_error("no cluster named '" + name + "' is up", {}, 0);
    // The state dir exists from the moment `up` claims the name; the config follows.
    auto config = load_config(c.paths.config(), 1);
    if (!config)
        return make_error("cluster '" + name + "' is incomplete (being started or stopped?): " +
                              config.error().message(),
                          {}, 0);
    c.config = std::move(*config);
    for (const auto& nc : c.config.nodes) {
        c.nodes.push_back(NodeRecord{nc, read_init_record(c.paths.init_pid(nc.id))});
    }
    return c;
}

bool any_init_running(const Cluster& cluster) {
    for (const auto& n : cluster.nodes)
        if (n.init && is_running(*n.init)) return true;
    return false;
}

Result<void> write_init_record(const StatePaths& paths, int k, const ProcessId& init) {
    return write_file_atomic(paths.init_pid(k),
                             std::to_string(init.pid) + " " + std::to_string(init.start_ticks) + "\n", 0644);
}

std::optional<ProcessId> read_init_record(const std::string& file) {
    auto text = read_file(file);
    if (!text) return std::nullopt;
    int pid = 0;
    unsigned long long start = 0;
    if (std::sscanf(text->c_str(), "%d %llu", &pid, &start) != 2) return std::nullopt;
    return ProcessId{pid, start};
}

std::string log_tail(const std::string& path, size_t lines) {
    auto text = read_file(path);
    if (!text || text->empty()) return {};
    std::vector<std::string> all;
    std::istringstream in(*text);
    for (std::string line; std::getline(in, line);) all.push_back(line);
    size_t from = all.size() > lines ? all.size() - lines : 0;
    std::string out;
    for (size_t i = from; i < all.size(); ++i) out += "  | " + all[i] + "\n";
    return out;
}

}  // namespace ssi::cluster
