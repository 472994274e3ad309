#include "libssi/signals.h"

#include <signal.h>
#include <string.h>

#include <cctype>
#include <charconv>

namespace ssi {
namespace {

std::string upper(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = char(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

bool parse_number(std::string_view s, int& out) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && ec == std::errc() && end == s.data() + s.size();
}

Error unknown(std::string_view text) { return make_error(std::string(text) + ": unknown signal"); }

}  // namespace

std::string signal_name(int signal) {
    if (signal >= SIGRTMIN && signal <= SIGRTMAX) {
        if (signal == SIGRTMIN) return "RTMIN";
        if (signal == SIGRTMAX) return "RTMAX";
        int below = SIGRTMAX - signal, above = signal - SIGRTMIN;
        return above <= below ? "RTMIN+" + std::to_string(above) : "RTMAX-" + std::to_string(below);
    }
    if (const char* abbrev = sigabbrev_np(signal)) return abbrev;
    return std::to_string(signal);
}

std::vector<int> all_signals() {
    std::vector<int> out;
    for (int s = 1; s <= SIGRTMAX; ++s)
        if (sigabbrev_np(s) || (s >= SIGRTMIN && s <= SIGRTMAX)) out.push_back(s);
    return out;
}

Result<int> parse_signal(std::string_view text) {
    int number = 0;
    if (parse_number(text, number)) {
        if (number < 0 || number > SIGRTMAX) return unknown(text);
        return number;
    }
    std::string name = upper(text);
    if (name.rfind("SIG", 0) == 0) name = name.substr(3);
    if (name.empty()) return unknown(text);
    for (int s : all_signals())
        if (signal_name(s) == name) return s;
    // Aliases kill(1) accepts.
    if (name == "IOT") return SIGABRT;
    if (name == "POLL") return SIGIO;
    if (name == "CLD") return SIGCHLD;
    for (const char* base : {"RTMIN+", "RTMAX-"}) {
        std::string_view b(base);
        if (name.rfind(b, 0) == 0 && parse_number(std::string_view(name).substr(b.size()), number)) {
            int s = b[2] == 'M' && b[3] == 'I' ? SIGRTMIN + number : SIGRTMAX - number;
            if (s >= SIGRTMIN && s <= SIGRTMAX) return s;
        }
    }
    return unknown(text);
}

}  // namespace ssi
