// The columns ssi-ps knows, named as procps ps names them, and how each cell is written.
#include "shell/ssi-ps/ps.h"

#include <array>
#include <charconv>
#include <cstring>

namespace ssi::ps {
namespace {

struct ColumnName {
    const char* name;
    Col col;
    const char* header;
};

constexpr ColumnName kColumns[] = {
    {"gpid", Col::Gpid, "GPID"},      {"node", Col::Node, "NODE"},       {"home", Col::Home, "HOME"},
    {"pid", Col::Pid, "PID"},         {"ppid", Col::Ppid, "PPID"},       {"user", Col::User, "USER"},
    {"euser", Col::User, "USER"},     {"ruser", Col::User, "RUSER"},     {"uname", Col::User, "USER"},
    {"uid", Col::Uid, "UID"},         {"ruid", Col::Uid, "RUID"},        {"stat", Col::Stat, "STAT"},
    {"state", Col::State, "S"},       {"s", Col::State, "S"},            {"%cpu", Col::Pcpu, "%CPU"},
    {"pcpu", Col::Pcpu, "%CPU"},      {"rss", Col::Rss, "RSS"},          {"rssize", Col::Rss, "RSS"},
    {"rsz", Col::Rss, "RSZ"},         {"vsz", Col::Vsz, "VSZ"},          {"vsize", Col::Vsz, "VSZ"},
    {"start", Col::Start, "START"},   {"start_time", Col::Start, "START"}, {"bsdstart", Col::Start, "START"},
    {"stime", Col::Stime, "STIME"},   {"etime", Col::Etime, "ELAPSED"},  {"time", Col::Time, "TIME"},
    {"cputime", Col::Time, "TIME"},   {"tty", Col::Tty, "TT"},           {"tt", Col::Tty, "TT"},
    {"tname", Col::Tty, "TTY"},       {"comm", Col::Comm, "COMMAND"},    {"ucomm", Col::Comm, "COMMAND"},
    {"ucmd", Col::Comm, "CMD"},       {"cmd", Col::Cmd, "CMD"},          {"args", Col::Cmd, "COMMAND"},
    {"command", Col::Cmd, "COMMAND"},
};

template <class T>
void put_num(std::string& out, T v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
}

// Two digits, zero-padded.
void put2(std::string& out, unsigned v) {
    out += char('0' + v / 10 % 10);
    out += char('0' + v % 10);
}

struct tm local(int64_t t) {
    time_t tt = time_t(t);
    struct tm tm {};
    ::localtime_r(&tt, &tm);
    return tm;
}

constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

}  // namespace

Result<Col> column_by_name(std::string_view name) {
    for (const auto& c : kColumns)
        if (name == c.name) return c.col;
    std::string known;
    for (const auto& c : kColumns) known += (known.empty() ? "" : ",") + std::string(c.name);
    return make_error("unknown column '" + std::string(name) + "' (known: " + known + ")");
}

std::string default_header(std::string_view name, Col col) {
    for (const auto& c : kColumns)
        if (name == c.name) return c.header;
    for (const auto& c : kColumns)
        if (c.col == col) return c.header;
    return std::string(name);
}

bool right_aligned(Col col) {
    switch (col) {
        case Col::Gpid: case Col::Node: case Col::Home: case Col::Pid: case Col::Ppid: case Col::Uid:
        case Col::Pcpu: case Col::Rss: case Col::Vsz: case Col::Etime: case Col::Time: case Col::Start:
            return true;
        default:
            return false;
    }
}

TimeContext TimeContext::at(int64_t now) {
    struct tm tm = local(now);
    return TimeContext{now, tm.tm_year, tm.tm_yday};
}

TimeContext TimeContext::current() { return at(int64_t(std::time(nullptr))); }

void format_cputime(std::string& out, uint64_t cpu_ms) {
    uint64_t s = cpu_ms / 1000;
    uint64_t days = s / 86400;
    if (days) {
        put_num(out, days);
        out += '-';
    }
    put2(out, unsigned(s / 3600 % 24));
    out += ':';
    put2(out, unsigned(s / 60 % 60));
    out += ':';
    put2(out, unsigned(s % 60));
}

void format_etime(std::string& out, int64_t seconds) {
    uint64_t s = seconds > 0 ? uint64_t(seconds) : 0;
    uint64_t days = s / 86400, hours = s / 3600 % 24;
    if (days) {
        put_num(out, days);
        out += '-';
    }
    if (days || hours) {
        put2(out, unsigned(hours));
        out += ':';
    }
    put2(out, unsigned(s / 60 % 60));
    out += ':';
    put2(out, unsigned(s % 60));
}

// ps's START (bsdstart): HH:MM within the last 24 hours, else "Mon DD" ("Jan  5").
void format_start(std::string& out, int64_t start, const TimeContext& tc) {
    struct tm tm = local(start);
    if (tc.now - start < 24 * 3600) {
        put2(out, unsigned(tm.tm_hour));
        out += ':';
        put2(out, unsigned(tm.tm_min));
        return;
    }
    out += kMonths[tm.tm_mon % 12];
    out += ' ';
    out += tm.tm_mday < 10 ? ' ' : char('0' + tm.tm_mday / 10);
    out += char('0' + tm.tm_mday % 10);
}

// ps -f's STIME: HH:MM today, MonDD this year, else the year.
void format_stime(std::string& out, int64_t start, const TimeContext& tc) {
    struct tm tm = local(start);
    if (tm.tm_year != tc.year) {
        put_num(out, tm.tm_year + 1900);
    } else if (tm.tm_yday != tc.yday) {
        out += kMonths[tm.tm_mon % 12];
        put2(out, unsigned(tm.tm_mday));
    } else {
        put2(out, unsigned(tm.tm_hour));
        out += ':';
        put2(out, unsigned(tm.tm_min));
    }
}

void format_cell(std::string& out, Col col, const Record& r, const TimeContext& tc) {
    switch (col) {
        case Col::Gpid: put_num(out, r.gpid); break;
        case Col::Node: put_num(out, r.node); break;
        case Col::Home: put_num(out, r.home); break;
        case Col::Pid: put_num(out, r.pid); break;
        case Col::Ppid: put_num(out, r.ppid); break;
        case Col::User: out += r.user; break;
        case Col::Uid: put_num(out, r.uid); break;
        case Col::Stat: out += r.state.empty() ? "?" : r.state; break;
        case Col::State: out += r.state.empty() ? '?' : r.state[0]; break;
        case Col::Pcpu:
            put_num(out, r.pcpu_x10 / 10);
            if (r.pcpu_x10 < 1000) {
                out += '.';
                out += char('0' + r.pcpu_x10 % 10);
            }
            break;
        case Col::Rss: put_num(out, r.rss_kb); break;
        case Col::Vsz: put_num(out, r.vsz_kb); break;
        case Col::Start: format_start(out, r.start_time, tc); break;
        case Col::Stime: format_stime(out, r.start_time, tc); break;
        case Col::Etime: format_etime(out, tc.now - r.start_time); break;
        case Col::Time: format_cputime(out, r.cpu_ms); break;
        case Col::Tty: out += r.tty.empty() ? "?" : r.tty; break;
        case Col::Comm: out += r.comm; break;
        case Col::Cmd: out += r.cmd.empty() ? "[" + r.comm + "]" : r.cmd; break;
    }
}

}  // namespace ssi::ps
