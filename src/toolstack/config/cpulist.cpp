#include "toolstack/config/cpulist.hpp"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

namespace xenolith::config {

namespace {

constexpr std::uint64_t kUlongMax = std::numeric_limits<std::uint64_t>::max();

bool is_c_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// What strtoul(s, &end, 10) returns on LP64, and how much of `s` it used
// (0: no digits). A '-' negates modulo 2^64; overflow saturates to ULONG_MAX.
struct CNumber {
    std::uint64_t value = 0;
    std::size_t used = 0;
};

CNumber c_strtoul(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size() && is_c_space(s[i])) ++i;
    bool negative = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
    const std::size_t digits = i;
    std::uint64_t v = 0;
    bool overflow = false;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
        const unsigned d = static_cast<unsigned>(s[i] - '0');
        if (v > (kUlongMax - d) / 10) overflow = true;
        else v = v * 10 + d;
    }
    if (i == digits) return {};
    if (overflow) return {kUlongMax, i};
    return {negative ? 0 - v : v, i};
}

// xl's parse_range: "N" or "N-M" with N <= M and nothing after.
bool parse_range(std::string_view s, std::uint64_t& first, std::uint64_t& last) {
    const CNumber a = c_strtoul(s);
    if (a.used == 0 || a.value == kUlongMax) return false;
    first = last = a.value;
    std::string_view rest = s.substr(a.used);
    if (!rest.empty() && rest[0] == '-') {
        const CNumber b = c_strtoul(rest.substr(1));
        if (b.used == 0 || b.value == kUlongMax || b.value < a.value) return false;
        last = b.value;
        rest = rest.substr(1 + b.used);
    }
    return rest.empty();
}

bool skip_prefix(std::string_view& s, std::string_view prefix) {
    if (!s.starts_with(prefix)) return false;
    s.remove_prefix(prefix.size());
    return true;
}

Result<CpuRangeItem> parse_element(std::string_view s) {
    CpuRangeItem item;
    item.exclude = skip_prefix(s, "^");
    item.nodes = skip_prefix(s, "node:") || skip_prefix(s, "nodes:");
    if (s == "all") {
        if (item.exclude) return make_error("Can't combine \"^\" and \"all\".");
        item.all = true;
        return item;
    }
    if (!parse_range(s, item.first, item.last))
        return make_error(fmt::format("Invalid pcpu range: {}.", s));
    return item;
}

}  // namespace

Result<CpuList> parse_cpulist(std::string_view text) {
    CpuList list;
    list.text = std::string(text);
    std::size_t pos = 0;
    while (pos <= text.size()) {
        std::size_t comma = text.find(',', pos);
        if (comma == std::string_view::npos) comma = text.size();
        const std::string_view element = text.substr(pos, comma - pos);
        pos = comma + 1;
        if (element.empty()) continue;  // strtok_r skips empty tokens
        auto item = parse_element(element);
        if (!item) return item.error();
        list.items.push_back(*item);
    }
    return list;
}

CpuMap CpuMap::of(unsigned nr_cpus, std::span<const unsigned> cpus) {
    CpuMap m(nr_cpus);
    for (unsigned c : cpus) m.set(c);
    return m;
}

bool CpuMap::empty() const { return std::none_of(bits_.begin(), bits_.end(), [](bool b) { return b; }); }

bool CpuMap::full() const {
    return !bits_.empty() && std::all_of(bits_.begin(), bits_.end(), [](bool b) { return b; });
}

std::vector<unsigned> CpuMap::cpus() const {
    std::vector<unsigned> out;
    for (unsigned i = 0; i < size(); ++i)
        if (bits_[i]) out.push_back(i);
    return out;
}

std::string CpuMap::str() const {
    if (full()) return "all";
    std::string out;
    for (unsigned i = 0; i < size();) {
        if (!bits_[i]) {
            ++i;
            continue;
        }
        unsigned end = i;
        while (end + 1 < size() && bits_[end + 1]) ++end;
        if (!out.empty()) out += ',';
        out += end > i ? fmt::format("{}-{}", i, end) : fmt::format("{}", i);
        i = end + 1;
    }
    return out.empty() ? "none" : out;
}

CpuMap resolve(const CpuList& list, const HostTopology& host) {
    CpuMap map(host.nr_cpus);
    for (const CpuRangeItem& item : list.items) {
        if (item.all) {
            map.set_all();
            continue;
        }
        auto apply = [&](std::uint64_t cpu) { item.exclude ? map.reset(cpu) : map.set(cpu); };
        // Only numbers the host has matter: clamp, so "0-4000000000" is cheap.
        if (item.nodes) {
            const std::uint64_t nodes = host.node_cpus.size();
            for (std::uint64_t n = item.first; n <= item.last && n < nodes; ++n)
                for (unsigned cpu : host.node_cpus[n]) apply(cpu);
        } else {
            for (std::uint64_t cpu = item.first; cpu <= item.last && cpu < host.nr_cpus; ++cpu)
                apply(cpu);
        }
    }
    return map;
}

}  // namespace xenolith::config
