// Which processes ssi-ps shows, and in what order.
#include "shell/ssi-ps/ps.h"

#include <algorithm>
#include <charconv>

namespace ssi::ps {
namespace {

// -u items: uids when all digits, names otherwise (the name on the process's own node).
struct UserMatch {
    std::vector<uint32_t> uids;
    std::vector<std::string_view> names;

    explicit UserMatch(const std::vector<std::string>& users) {
        for (const auto& u : users) {
            uint32_t uid = 0;
            auto [end, ec] = std::from_chars(u.data(), u.data() + u.size(), uid);
            if (ec == std::errc() && end == u.data() + u.size()) uids.push_back(uid);
            else names.push_back(u);
        }
    }
    bool operator()(const Record& r) const {
        return std::find(uids.begin(), uids.end(), r.uid) != uids.end() ||
               std::find(names.begin(), names.end(), r.user) != names.end();
    }
};

template <class T>
int cmp(const T& a, const T& b) {
    return a < b ? -1 : (b < a ? 1 : 0);
}

int compare(Col col, const Record& a, const Record& b) {
    switch (col) {
        case Col::Gpid: return cmp(a.gpid, b.gpid);
        case Col::Node: return cmp(a.node, b.node);
        case Col::Home: return cmp(a.home, b.home);
        case Col::Pid: return cmp(a.pid, b.pid);
        case Col::Ppid: return cmp(a.ppid, b.ppid);
        case Col::User: return a.user.compare(b.user);
        case Col::Uid: return cmp(a.uid, b.uid);
        case Col::Stat: case Col::State: return a.state.compare(b.state);
        case Col::Pcpu: return cmp(a.pcpu_x10, b.pcpu_x10);
        case Col::Rss: return cmp(a.rss_kb, b.rss_kb);
        case Col::Vsz: return cmp(a.vsz_kb, b.vsz_kb);
        case Col::Start: case Col::Stime: return cmp(a.start_time, b.start_time);
        case Col::Etime: return cmp(b.start_time, a.start_time);  // started earlier = longer elapsed
        case Col::Time: return cmp(a.cpu_ms, b.cpu_ms);
        case Col::Tty: return a.tty.compare(b.tty);
        case Col::Comm: return a.comm.compare(b.comm);
        case Col::Cmd: return a.cmd.compare(b.cmd);
    }
    return 0;
}

}  // namespace

std::vector<const Record*> select_rows(const std::vector<Record>& rows, const Options& o) {
    std::vector<const Record*> out;
    out.reserve(rows.size());
    UserMatch user_match(o.users);
    for (const Record& r : rows) {
        bool take = !o.has_selection() ||
                    std::any_of(o.gpids.begin(), o.gpids.end(), [&](const Gpid& g) { return g.value() == r.gpid; }) ||
                    std::find(o.nodes.begin(), o.nodes.end(), r.node) != o.nodes.end() ||
                    (!o.users.empty() && user_match(r));
        if (take) out.push_back(&r);
    }
    std::sort(out.begin(), out.end(), [](const Record* a, const Record* b) {
        return a->gpid != b->gpid ? a->gpid < b->gpid : a->node < b->node;
    });
    if (!o.sort.empty()) {
        std::stable_sort(out.begin(), out.end(), [&](const Record* a, const Record* b) {
            for (const SortKey& k : o.sort) {
                int c = compare(k.col, *a, *b);
                if (c != 0) return k.descending ? c > 0 : c < 0;
            }
            return false;
        });
    }
    return out;
}

}  // namespace ssi::ps
