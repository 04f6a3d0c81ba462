#include "toolstack/config/number.hpp"

#include <limits>

namespace xenolith::config {

namespace {

bool is_c_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

int digit_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'z') return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
    return 99;
}

}  // namespace

ParsedNumber parse_xl_long(std::string_view text) {
    ParsedNumber r;
    std::size_t i = 0;
    while (i < text.size() && is_c_space(text[i])) ++i;

    bool negative = false;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
        negative = text[i] == '-';
        ++i;
    }

    int base = 10;
    if (i < text.size() && text[i] == '0') {
        // strtol only takes "0x" as a prefix when a hex digit follows;
        // otherwise it parses the "0" and stops at the "x".
        if (i + 2 < text.size() && (text[i + 1] == 'x' || text[i + 1] == 'X') &&
            digit_value(text[i + 2]) < 16) {
            base = 16;
            i += 2;
        } else {
            base = 8;
            r.octal = i + 1 < text.size();
        }
    }

    const std::size_t digits_start = i;
    // Accumulate as a negative number so LONG_MIN is representable.
    constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
    std::int64_t acc = 0;
    bool overflow = false;
    for (; i < text.size(); ++i) {
        const int d = digit_value(text[i]);
        if (d >= base) break;
        if (acc < (kMin + d) / base) {
            overflow = true;
        } else {
            acc = acc * base - d;
        }
    }
    if (i == digits_start || i != text.size()) {
        r.status = ParsedNumber::Status::invalid;
        return r;
    }
    if (overflow || (!negative && acc == kMin)) {
        r.status = ParsedNumber::Status::out_of_range;
        return r;
    }
    r.value = negative ? acc : -acc;
    r.status = ParsedNumber::Status::ok;
    return r;
}

std::optional<std::uint64_t> parse_decimal(std::string_view text, std::uint64_t max) {
    if (text.empty()) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
        if (v > max) return std::nullopt;
    }
    return v;
}

}  // namespace xenolith::config
