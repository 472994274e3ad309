// ssi-ps's command line, in procps ps's habits: UNIX options (-e -A -f -o -p -u -U -k),
// BSD words ("ax", "aux", "axo pid,cmd"), GNU long options (--sort, --no-headers ...),
// plus the cluster's own (-n NODE, --json, --fresh).
#include "shell/ssi-ps/ps.h"

#include <charconv>

namespace ssi::ps {
namespace {

Error usage(std::string what) { return make_error(std::move(what)); }

// Splits a list on commas and blanks, as ps does ("-p 1,2" and "-p '1 2'").
std::vector<std::string_view> split_list(std::string_view s) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < s.size()) {
        size_t j = s.find_first_of(", ", i);
        if (j == std::string_view::npos) j = s.size();
        if (j > i) out.push_back(s.substr(i, j - i));
        i = j + 1;
    }
    return out;
}

Result<void> add_columns(Options& o, std::string_view spec) {
    // "pid=,user=OWNER,comm": after '=', the header runs to the next comma or blank (what
    // procps 4 does; older ps took the rest of the word).
    size_t i = 0;
    while (i < spec.size()) {
        size_t j = spec.find_first_of(", =", i);
        if (j == std::string_view::npos) j = spec.size();
        std::string_view name = spec.substr(i, j - i);
        if (name.empty()) {
            if (j < spec.size() && spec[j] == '=') return usage("-o: '=' without a column name in '" + std::string(spec) + "'");
            i = j + 1;
            continue;
        }
        auto col = column_by_name(name);
        if (!col) return usage(col.error().message());
        if (j < spec.size() && spec[j] == '=') {
            size_t end = spec.find_first_of(", ", j + 1);
            if (end == std::string_view::npos) end = spec.size();
            o.columns.push_back({*col, std::string(spec.substr(j + 1, end - j - 1))});
            i = end + 1;
            continue;
        }
        o.columns.push_back({*col, default_header(name, *col)});
        i = j + 1;
    }
    return ok();
}

Result<void> add_sort(Options& o, std::string_view spec) {
    for (std::string_view key : split_list(spec)) {
        bool descending = false;
        if (key[0] == '+' || key[0] == '-') {
            descending = key[0] == '-';
            key.remove_prefix(1);
        }
        auto col = column_by_name(key);
        if (!col) return usage("--sort: " + col.error().message());
        o.sort.push_back({*col, descending});
    }
    if (o.sort.empty()) return usage("--sort: no sort key");
    return ok();
}

Result<void> add_gpids(Options& o, std::string_view spec) {
    for (std::string_view item : split_list(spec)) {
        auto g = Gpid::parse(item);
        if (!g) return usage("-p: '" + std::string(item) + "' is not a gpid (a number like 30004711, or NODE:PID)");
        o.gpids.push_back(*g);
    }
    if (o.gpids.empty()) return usage("-p: empty gpid list");
    return ok();
}

Result<void> add_users(Options& o, std::string_view spec) {
    for (std::string_view item : split_list(spec)) o.users.emplace_back(item);
    if (o.users.empty()) return usage("-u: empty user list");
    return ok();
}

Result<void> add_nodes(Options& o, std::string_view spec) {
    for (std::string_view item : split_list(spec)) {
        int32_t node = 0;
        auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), node);
        if (ec != std::errc() || end != item.data() + item.size() || node < 1 || node > kMaxNodeId)
            return usage("-n: '" + std::string(item) + "' is not a node id (1..9999)");
        o.nodes.push_back(node);
    }
    if (o.nodes.empty()) return usage("-n: empty node list");
    return ok();
}

enum class Format { Default, Full, User };

void set_default_columns(Options& o, Format f) {
    const char* spec = "gpid,node,pid,tname,stat,time,args";
    if (f == Format::Full) spec = "user,gpid,node,ppid,%cpu,stime,tname,time,cmd";
    if (f == Format::User) spec = "user,gpid,node,%cpu,vsz,rss,tname,stat,start,time,args";
    (void)add_columns(o, spec);
}

}  // namespace

Result<Options> parse_options(int argc, const char* const* argv) {
    Options o;
    Format format = Format::Default;
    int i = 1;
    // The argument of an option: the rest of its word ("-opid"), or the next word.
    auto value_of = [&](std::string_view word, size_t rest, std::string_view name) -> Result<std::string_view> {
        if (rest < word.size()) return word.substr(rest);
        if (i + 1 >= argc) return usage("option " + std::string(name) + " needs an argument");
        return std::string_view(argv[++i]);
    };
    auto apply = [&](char letter, std::string_view value) -> Result<void> {
        switch (letter) {
            case 'o': return add_columns(o, value);
            case 'p': return add_gpids(o, value);
            case 'u': case 'U': return add_users(o, value);
            case 'n': return add_nodes(o, value);
            case 'k': return add_sort(o, value);
        }
        return ok();
    };

    for (; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a.starts_with("--")) {
            std::string_view name = a.substr(2), value;
            bool has_value = false;
            if (auto eq = name.find('='); eq != std::string_view::npos) {
                value = name.substr(eq + 1);
                name = name.substr(0, eq);
                has_value = true;
            }
            auto need = [&]() -> Result<std::string_view> {
                if (has_value) return value;
                if (i + 1 >= argc) return usage("option --" + std::string(name) + " needs an argument");
                return std::string_view(argv[++i]);
            };
            auto flag = [&](bool& target, bool v) -> Result<void> {
                if (has_value) return usage("option --" + std::string(name) + " takes no argument");
                target = v;
                return ok();
            };
            Result<void> r;
            if (name == "help") r = flag(o.help, true);
            else if (name == "no-headers" || name == "no-header" || name == "noheaders" || name == "noheader") r = flag(o.headers, false);
            else if (name == "headers") r = flag(o.headers, true);
            else if (name == "json") r = flag(o.json, true);
            else if (name == "fresh") r = flag(o.fresh, true);
            else if (name == "wide") r = flag(o.wide, true);
            else if (name == "sort") r = add_sort(o, TRY(need()));
            else if (name == "format") r = add_columns(o, TRY(need()));
            else if (name == "pid") r = add_gpids(o, TRY(need()));
            else if (name == "user" || name == "User") r = add_users(o, TRY(need()));
            else if (name == "node") r = add_nodes(o, TRY(need()));
            else if (name == "timeout") {
                std::string_view v = TRY(need());
                uint32_t ms = 0;
                auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), ms);
                if (ec != std::errc() || end != v.data() + v.size() || ms < 1 || ms > 60000)
                    return usage("--timeout: '" + std::string(v) + "' is not a number of milliseconds (1..60000)");
                o.fresh_timeout_ms = ms;
            } else return usage("unknown option '" + std::string(a) + "'");
            TRY(r);
            continue;
        }
        if (a == "-aux" || a == "-axu") a.remove_prefix(1);  // procps reads these as BSD "aux"
        if (a.size() > 1 && a[0] == '-') {
            for (size_t j = 1; j < a.size(); ++j) {
                char c = a[j];
                if (c == 'e' || c == 'A') continue;
                if (c == 'f') { format = Format::Full; continue; }
                if (c == 'w') { o.wide = true; continue; }
                if (std::string_view("opuUnk").find(c) != std::string_view::npos) {
                    TRY(apply(c, TRY(value_of(a, j + 1, std::string("-") + c))));
                    break;
                }
                return usage(std::string("unknown option '-") + c + "'");
            }
            continue;
        }
        if (a.empty() || a == "-") return usage("unexpected argument '" + std::string(a) + "'");
        // BSD words: a x (all, as everything is), u (user format), w, h (no header), o p U k.
        for (size_t j = 0; j < a.size(); ++j) {
            char c = a[j];
            if (c == 'a' || c == 'x') continue;
            if (c == 'u') { format = Format::User; continue; }
            if (c == 'w') { o.wide = true; continue; }
            if (c == 'h') { o.headers = false; continue; }
            if (c == 'o' || c == 'p' || c == 'U' || c == 'k') {
                TRY(apply(c, TRY(value_of(a, j + 1, std::string(1, c)))));
                break;
            }
            return usage(std::string("unsupported BSD option '") + c + "' in '" + std::string(a) + "'");
        }
    }
    if (o.columns.empty()) set_default_columns(o, format);
    return o;
}

std::string usage_text() {
    return R"(Usage: ssi-ps [options]
Lists every process of the cluster, like `ps ax` on one machine. Reads the node's
shared-memory process table (kept by ssi-agent); --fresh asks every agent instead.

Selection (additive, like ps: a process matching any of them is shown; none = all):
  -e, -A, ax, aux       all processes (the default anyway)
  -p, --pid GPID[,...]  by global pid: 30004711 or 3:4711
  -u, -U, --user USER[,...]  by user name or numeric uid
  -n, --node NODE[,...] by the node a process runs on now
Output:
  -o, --format COL[,...]  columns; COL=HEADER renames one (to the next comma), COL= blanks it
  -f                    full format: USER GPID NODE PPID %CPU STIME TTY TIME CMD
  u (BSD, as in aux)    USER GPID NODE %CPU VSZ RSS TTY STAT START TIME COMMAND
  --sort, -k [+|-]COL[,...]  sort (rows are in gpid order first)
  --no-headers, h       no header line
  -w, --wide            do not cut lines at the terminal's width
  --json                JSON Lines: one object per process with gpid node home pid ppid
                        user uid state pcpu (number) rss_kb vsz_kb start (seconds since
                        the epoch) cpu_ms time ("[DD-]HH:MM:SS") tty comm cmd; -o is ignored
  --fresh               ask the agents now instead of reading the table
  --timeout MS          how long --fresh waits for other nodes (default 1000)
Default columns: GPID NODE PID TTY STAT TIME COMMAND (PID is the pid on the home node).
Columns: gpid node home pid ppid user uid stat state %cpu|pcpu rss vsz start stime etime
         time tty|tname comm cmd|args|command
Environment: SSI_TABLE names the table (default ssi-proctable), SSI_SOCKET the agent socket.
Exit status: 0 rows shown; 1 a selection matched nothing, or an error; 2 bad usage.
)";
}

}  // namespace ssi::ps
