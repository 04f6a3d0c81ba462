#include "xenstore/args.hpp"

#include <algorithm>

namespace xenolith::xenstore {

std::vector<std::string_view> split_strings(std::string_view payload) {
    std::vector<std::string_view> out;
    std::size_t pos = 0;
    for (;;) {
        std::size_t nul = payload.find('\0', pos);
        if (nul == std::string_view::npos) break;
        out.push_back(payload.substr(pos, nul - pos));
        pos = nul + 1;
    }
    return out;
}

std::size_t count_nuls(std::string_view payload) {
    return static_cast<std::size_t>(std::count(payload.begin(), payload.end(), '\0'));
}

std::optional<std::string_view> one_arg(std::string_view payload) {
    if (payload.empty() || payload.find('\0') != payload.size() - 1) return std::nullopt;
    return payload.substr(0, payload.size() - 1);
}

std::optional<std::uint64_t> parse_decimal(std::string_view s, std::uint64_t max) {
    if (s.empty() || s.size() > 20) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        std::uint64_t d = static_cast<std::uint64_t>(c - '0');
        if (v > (max - d) / 10) return std::nullopt;
        v = v * 10 + d;
    }
    return v;
}

std::optional<domid_t> parse_domid(std::string_view s) {
    auto v = parse_decimal(s, 0xffff);
    if (!v) return std::nullopt;
    return static_cast<domid_t>(*v);
}

}  // namespace xenolith::xenstore
