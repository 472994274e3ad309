// ssi-ps's output: the aligned table or JSON Lines, built into one buffer and written once.
#include "shell/ssi-ps/ps.h"

#include <algorithm>
#include <charconv>

namespace ssi::ps {
namespace {

template <class T>
void put_num(std::string& out, T v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
}

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not one.
size_t utf8_length(std::string_view s, size_t i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return 0;
    for (size_t k = 1; k < n; ++k)
        if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
    return n;
}

// Cuts a line to `width` bytes, not inside a UTF-8 character.
void append_cut(std::string& out, std::string_view line, size_t width) {
    if (width == 0 || line.size() <= width) {
        out += line;
        return;
    }
    size_t n = width;
    while (n > 0 && (static_cast<unsigned char>(line[n]) & 0xC0) == 0x80) --n;
    out += line.substr(0, n);
}

}  // namespace

std::string render_table(const std::vector<const Record*>& rows, const std::vector<ColumnSpec>& columns, bool headers,
                         const TimeContext& tc, size_t max_width) {
    const size_t ncols = columns.size();
    if (ncols == 0) return {};
    // Pass 1: every cell into one arena, remembering where each ends; widths as we go.
    std::string cells;
    cells.reserve(rows.size() * ncols * 8 + 4096);
    std::vector<uint32_t> ends;
    ends.reserve(rows.size() * ncols);
    std::vector<size_t> width(ncols, 0);
    bool any_header = false;
    for (size_t c = 0; c < ncols; ++c) {
        width[c] = columns[c].header.size();
        any_header = any_header || !columns[c].header.empty();
    }
    headers = headers && any_header;  // ps prints no header line when every header is empty
    for (const Record* r : rows) {
        for (size_t c = 0; c < ncols; ++c) {
            size_t begin = cells.size();
            format_cell(cells, columns[c].col, *r, tc);
            width[c] = std::max(width[c], cells.size() - begin);
            ends.push_back(uint32_t(cells.size()));
        }
    }
    // Pass 2: lines, padded; the last column is not padded.
    std::string out, line;
    out.reserve(cells.size() + (rows.size() + 1) * (ncols * 6 + 1));
    auto emit = [&](auto cell_of) {
        line.clear();
        for (size_t c = 0; c < ncols; ++c) {
            std::string_view v = cell_of(c);
            bool last = c + 1 == ncols;
            size_t pad = width[c] > v.size() ? width[c] - v.size() : 0;
            if (right_aligned(columns[c].col)) line.append(pad, ' ');
            line += v;
            if (!last) {
                if (!right_aligned(columns[c].col)) line.append(pad, ' ');
                line += ' ';
            }
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        append_cut(out, line, max_width);
        out += '\n';
    };
    if (headers) emit([&](size_t c) { return std::string_view(columns[c].header); });
    size_t begin = 0, i = 0;
    for (size_t row = 0; row < rows.size(); ++row) {
        emit([&](size_t) {
            std::string_view v(cells.data() + begin, ends[i] - begin);
            begin = ends[i++];
            return v;
        });
    }
    return out;
}

void append_json_string(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    out += '"';
    for (size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += char(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20 || c == 0x7f) {
            out += "\\u00";
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
        } else if (c >= 0x80) {
            size_t n = utf8_length(s, i);
            if (n == 0) {
                out += "\\ufffd";  // not UTF-8: JSON must be
                ++i;
                continue;
            }
            out.append(s.substr(i, n));
            i += n;
            continue;
        } else {
            out += char(c);
        }
        ++i;
    }
    out += '"';
}

std::string render_json(const std::vector<const Record*>& rows, const TimeContext& tc) {
    std::string out;
    out.reserve(rows.size() * 320);
    for (const Record* r : rows) {
        out += "{\"gpid\":";
        put_num(out, r->gpid);
        out += ",\"node\":";
        put_num(out, r->node);
        out += ",\"home\":";
        put_num(out, r->home);
        out += ",\"pid\":";
        put_num(out, r->pid);
        out += ",\"ppid\":";
        put_num(out, r->ppid);
        out += ",\"user\":";
        append_json_string(out, r->user);
        out += ",\"uid\":";
        put_num(out, r->uid);
        out += ",\"state\":";
        append_json_string(out, r->state);
        out += ",\"pcpu\":";
        put_num(out, r->pcpu_x10 / 10);
        out += '.';
        out += char('0' + r->pcpu_x10 % 10);
        out += ",\"rss_kb\":";
        put_num(out, r->rss_kb);
        out += ",\"vsz_kb\":";
        put_num(out, r->vsz_kb);
        out += ",\"start\":";
        put_num(out, r->start_time);
        out += ",\"cpu_ms\":";
        put_num(out, r->cpu_ms);
        out += ",\"time\":\"";
        format_cell(out, Col::Time, *r, tc);
        out += "\",\"tty\":";
        append_json_string(out, r->tty);
        out += ",\"comm\":";
        append_json_string(out, r->comm);
        out += ",\"cmd\":";
        append_json_string(out, r->cmd);
        out += "}\n";
    }
    return out;
}

}  // namespace ssi::ps
