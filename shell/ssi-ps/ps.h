// ssi-ps: the cluster's `ps ax`, read from the node's shared-memory process table (or,
// with --fresh, asked of every agent now). The pieces, each in its own file and
// testable without a cluster:
//   options.cpp  argv -> Options (procps habits: -e -A -f -o -p -u -U --sort, BSD "aux")
//   columns.cpp  the column table and each cell's formatting
//   select.cpp   which rows (-p/-u/-n, additive like ps) and in what order (--sort)
//   output.cpp   the aligned table or JSON lines, built into one buffer
//   main.cpp     reads the table, warns about down nodes, sets the exit status
#pragma once

#include "kern-ext/result.h"
#include "libssi/gpid.h"
#include "libssi/wire/messages.h"

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace ssi::ps {

using Record = wire::ProcessRecord;

// ---- columns.cpp ------------------------------------------------------------------------

enum class Col { Gpid, Node, Home, Pid, Ppid, User, Uid, Stat, State, Pcpu, Rss, Vsz, Start, Stime, Etime, Time, Tty, Comm, Cmd };

struct ColumnSpec {
    Col col;
    std::string header;  // as printed; empty for "-o pid="
};

// "pid", "%cpu", "args" ... (the names -o and --sort take); an error lists the valid ones.
Result<Col> column_by_name(std::string_view name);
std::string default_header(std::string_view name, Col col);
bool right_aligned(Col col);

// What ps-like clocks need, worked out once per run: "now" and today's local date.
struct TimeContext {
    int64_t now = 0;  // seconds since the epoch
    int year = 0;     // local calendar year and day of year of `now`
    int yday = 0;
    static TimeContext current();
    static TimeContext at(int64_t now);
};

// Appends one cell, unpadded.
void format_cell(std::string& out, Col col, const Record& r, const TimeContext& tc);

// Pieces of format_cell, for tests.
void format_cputime(std::string& out, uint64_t cpu_ms);             // [DD-]HH:MM:SS
void format_etime(std::string& out, int64_t seconds);               // [[DD-]HH:]MM:SS
void format_start(std::string& out, int64_t start, const TimeContext& tc);  // HH:MM or "Mon DD"
void format_stime(std::string& out, int64_t start, const TimeContext& tc);  // HH:MM, MonDD or YYYY

// ---- options.cpp ------------------------------------------------------------------------

struct SortKey {
    Col col;
    bool descending = false;
};

struct Options {
    std::vector<ColumnSpec> columns;  // never empty after parse_options
    std::vector<Gpid> gpids;          // -p
    std::vector<std::string> users;   // -u/-U: names, or uids as digits
    std::vector<int32_t> nodes;       // -n: node a process runs on
    std::vector<SortKey> sort;        // --sort; rows are in gpid order before it
    bool headers = true;
    bool json = false;
    bool wide = false;                // -w/ww: never cut lines at the terminal's width
    bool fresh = false;
    uint32_t fresh_timeout_ms = 1000;
    bool help = false;

    bool has_selection() const { return !gpids.empty() || !users.empty() || !nodes.empty(); }
};

// argv as main gets it (argv[0] is skipped). Errors are usage errors: exit status 2.
Result<Options> parse_options(int argc, const char* const* argv);
std::string usage_text();

// ---- select.cpp -------------------------------------------------------------------------

// The rows the selection options match (all when there are none), sorted by gpid and then
// by the --sort keys (stable, so equal keys stay in gpid order).
std::vector<const Record*> select_rows(const std::vector<Record>& rows, const Options& options);

// ---- output.cpp -------------------------------------------------------------------------

// The table: columns as wide as their widest cell, the last one unpadded; each line cut
// to max_width bytes when max_width > 0 (a terminal, like ps without -w).
std::string render_table(const std::vector<const Record*>& rows, const std::vector<ColumnSpec>& columns,
                         bool headers, const TimeContext& tc, size_t max_width = 0);
// One JSON object per line (JSON Lines); see usage_text() for the fields.
std::string render_json(const std::vector<const Record*>& rows, const TimeContext& tc);
void append_json_string(std::string& out, std::string_view s);

}  // namespace ssi::ps
