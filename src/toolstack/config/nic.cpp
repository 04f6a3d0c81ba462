#include "toolstack/config/nic.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "toolstack/config/number.hpp"

namespace xenolith::config {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// The leading digits of `s` as strtoull(s, &end, 0) reads them (a leading 0
// means octal); `used` is how many characters that took. nullopt on overflow
// past `max` or when no digit is there.
std::optional<std::uint64_t> leading_number(std::string_view s, std::uint64_t max,
                                            std::size_t& used) {
    const unsigned base = s.size() > 1 && s[0] == '0' ? 8 : 10;
    std::uint64_t v = 0;
    used = 0;
    while (used < s.size() && is_digit(s[used]) &&
           static_cast<unsigned>(s[used] - '0') < base) {
        v = v * base + static_cast<std::uint64_t>(s[used] - '0');
        if (v > max) return std::nullopt;
        ++used;
    }
    if (used == 0) return std::nullopt;
    return v;
}

// Linux's rule for interface names (dev_valid_name): 1..15 bytes, not "."
// or "..", no '/', ':' or white space.
bool valid_ifname(std::string_view name, std::string& why) {
    constexpr std::size_t kMaxIfname = 15;  // IFNAMSIZ less the NUL
    if (name.empty()) return why = "is empty", false;
    if (name.size() > kMaxIfname) {
        return why = fmt::format("is {} bytes; Linux interface names have at most {}",
                                 name.size(), kMaxIfname),
               false;
    }
    if (name == "." || name == "..") return why = "is not an interface name", false;
    for (unsigned char c : name) {
        if (c == '/' || c == ':' || c <= ' ' || c == 0x7f) {
            return why = "contains a character interface names cannot have ('/', ':', space or "
                         "control)",
                   false;
        }
    }
    return true;
}

// One or more IPv4/IPv6 addresses, each optionally with /prefix, separated by
// spaces (the hotplug scripts take a list).
bool valid_ip_list(std::string_view text, std::string& why) {
    std::size_t count = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        if (text[pos] == ' ') {
            ++pos;
            continue;
        }
        std::size_t end = text.find(' ', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view item = text.substr(pos, end - pos);
        pos = end;
        ++count;
        std::string_view prefix;
        const auto slash = item.find('/');
        if (slash != std::string_view::npos) {
            prefix = item.substr(slash + 1);
            item = item.substr(0, slash);
        }
        const std::string addr(item);
        unsigned char buf[16];
        int max_prefix = 32;
        if (inet_pton(AF_INET, addr.c_str(), buf) != 1) {
            if (inet_pton(AF_INET6, addr.c_str(), buf) != 1) {
                return why = fmt::format("'{}' is not an IPv4 or IPv6 address", shorten(addr)),
                       false;
            }
            max_prefix = 128;
        }
        if (slash != std::string_view::npos) {
            if (!parse_decimal(prefix, static_cast<std::uint64_t>(max_prefix))) {
                return why = fmt::format("'{}' is not a prefix length (0..{})", shorten(prefix),
                                         max_prefix),
                       false;
            }
        }
    }
    if (count == 0) return why = "is empty", false;
    return true;
}

// One VLAN id, 1..4094.
std::optional<std::uint32_t> vlan_id(std::string_view s) {
    const auto v = parse_decimal(s, 4094);
    if (!v || *v == 0) return std::nullopt;
    return static_cast<std::uint32_t>(*v);
}

// xl-network-configuration(5): terms separated by '/', each N[p|u],
// N-M[u] or N+OxC[u]; exactly one PVID, implied for a single plain id.
bool valid_vlan(std::string_view text, std::string& why) {
    std::size_t terms = 0, pvids = 0;
    bool single_plain = false;
    std::size_t pos = 0;
    while (true) {
        std::size_t end = text.find('/', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view term = text.substr(pos, end - pos);
        ++terms;
        const std::string bad = fmt::format(
            "'{}' is not a VLAN term: expected N, Np, Nu, N-M[u] or N+OxC[u] with ids 1..4094",
            shorten(term));
        char suffix = term.empty() ? '\0' : term.back();
        if (suffix == 'p' || suffix == 'u') term.remove_suffix(1);
        else suffix = '\0';
        if (const auto dash = term.find('-'); dash != std::string_view::npos) {
            const auto lo = vlan_id(term.substr(0, dash));
            const auto hi = vlan_id(term.substr(dash + 1));
            if (!lo || !hi || *lo > *hi || suffix == 'p') return why = bad, false;
        } else if (const auto plus = term.find('+'); plus != std::string_view::npos) {
            const auto x = term.find('x', plus);
            if (x == std::string_view::npos || suffix == 'p') return why = bad, false;
            const auto base = vlan_id(term.substr(0, plus));
            const auto step = parse_decimal(term.substr(plus + 1, x - plus - 1), 4094);
            const auto count = parse_decimal(term.substr(x + 1), 4094);
            if (!base || !step || !count || *step == 0 ||
                *base + *step * *count > 4094) {
                return why = bad, false;
            }
        } else {
            if (!vlan_id(term)) return why = bad, false;
            if (suffix == 'p') ++pvids;
            single_plain = suffix == '\0';
        }
        if (end == text.size()) break;
        pos = end + 1;
    }
    if (pvids > 1) return why = "has more than one PVID (a term ending in p)", false;
    if (pvids == 0 && !(terms == 1 && single_plain)) {
        return why = "needs one term marked as the PVID (e.g. 10p/20)", false;
    }
    return true;
}

constexpr std::string_view kKnownKeys =
    "mac, bridge, ip, script, vifname, backend, rate, mtu, model, type, gatewaydev, devid, "
    "vlan, trusted or untrusted";

class NicSpecParser {
public:
    NicSpecParser(std::string_view spec, NicConfig& out, SpecIssues& issues)
        : spec_(spec), out_(out), issues_(issues) {}

    // One setting as it is (xl network-attach's arguments).
    bool parse_one(bool& devid_given) {
        devid_given_ = devid_given;
        setting(spec_, 0);
        devid_given = devid_given_;
        return !issues_.failed();
    }

    bool parse(bool& devid_given, std::size_t& bridge_offset) {
        std::size_t pos = 0;
        while (pos <= spec_.size() && !issues_.failed()) {
            std::size_t end = spec_.find(',', pos);
            if (end == std::string_view::npos) end = spec_.size();
            // xl skips empty items and the spaces before a setting; we also
            // drop spaces after one (xl would keep them in the value).
            std::size_t start = pos;
            std::size_t stop = end;
            while (start < stop && (spec_[start] == ' ' || spec_[start] == '\t')) ++start;
            while (stop > start && (spec_[stop - 1] == ' ' || spec_[stop - 1] == '\t')) --stop;
            if (start < stop) setting(spec_.substr(start, stop - start), start);
            pos = end + 1;
        }
        devid_given = devid_given_;
        bridge_offset = bridge_offset_;
        return !issues_.failed();
    }

private:
    void setting(std::string_view tok, std::size_t pos) {
        const std::size_t eq = tok.find('=');
        if (eq == std::string_view::npos) {
            if (tok == "trusted") out_.trusted = true;
            else if (tok == "untrusted") out_.trusted = false;
            else issues_.fail(pos, fmt::format("'{}' is not a vif setting; expected key=value "
                                               "with key one of {}",
                                               shorten(tok), kKnownKeys));
            return;
        }
        const std::string_view key = tok.substr(0, eq);
        const std::string_view value = tok.substr(eq + 1);
        const std::size_t vpos = pos + eq + 1;
        for (const auto& seen : seen_) {
            if (seen == key) {
                issues_.warn(pos, fmt::format("'{}' is given twice; the last one counts, as in xl",
                                              shorten(key)));
                break;
            }
        }
        if (seen_.size() < kMaxRemembered) seen_.emplace_back(key);

        std::string why;
        if (key == "mac") {
            out_.mac = parse_mac(value, why);
            if (!out_.mac) issues_.fail(vpos, fmt::format("mac: {}", why));
        } else if (key == "bridge") {
            if (ifname(key, value, vpos, out_.bridge)) bridge_offset_ = vpos;
        } else if (key == "vifname") {
            ifname(key, value, vpos, out_.ifname);
        } else if (key == "gatewaydev") {
            ifname(key, value, vpos, out_.gatewaydev);
        } else if (key == "netdev") {
            issues_.warn(pos, "'netdev' is deprecated; write gatewaydev= instead");
            ifname(key, value, vpos, out_.gatewaydev);
        } else if (key == "ip") {
            if (!valid_ip_list(value, why)) issues_.fail(vpos, fmt::format("ip: {}", why));
            else out_.ip = std::string(value);
        } else if (key == "script" || key == "backend" || key == "model") {
            if (value.empty()) {
                issues_.fail(vpos, fmt::format("{}: the value is empty", key));
                return;
            }
            auto& slot = key == "script" ? out_.script
                         : key == "backend" ? out_.backend_domain
                                            : out_.model;
            slot = std::string(value);
        } else if (key == "type") {
            if (value == "vif") out_.type = NicType::vif;
            else if (value == "ioemu") out_.type = NicType::vif_ioemu;
            else issues_.fail(vpos, fmt::format("type: expected vif or ioemu, got '{}'", shorten(value)));
        } else if (key == "rate") {
            out_.rate = parse_nic_rate(value, why);
            if (!out_.rate) issues_.fail(vpos, fmt::format("rate: {}", why));
        } else if (key == "mtu") {
            // 68 is the smallest MTU Linux accepts for IPv4.
            const auto mtu = parse_decimal(value, 65535);
            if (!mtu || *mtu < 68) {
                issues_.fail(vpos, fmt::format("mtu: expected a number of bytes from 68 to 65535, "
                                               "got '{}'",
                                               shorten(value)));
                return;
            }
            out_.mtu = static_cast<std::uint32_t>(*mtu);
        } else if (key == "devid") {
            const auto devid = parse_decimal(value, INT_MAX);
            if (!devid) {
                issues_.fail(vpos, fmt::format("devid: expected a device number, got '{}'",
                                               shorten(value)));
                return;
            }
            out_.devid = static_cast<std::uint32_t>(*devid);
            devid_given_ = true;
        } else if (key == "vlan") {
            if (!valid_vlan(value, why)) issues_.fail(vpos, fmt::format("vlan: {}", why));
            else out_.vlan = std::string(value);
        } else if (key == "accel") {
            issues_.warn(pos, "'accel' is not supported (nor by xl); ignored");
        } else if (key == "forwarddev" || key.substr(0, 5) == "colo_") {
            if (!out_.colo) issues_.warn(pos, "COLO settings are not supported by xenolith; ignored");
            out_.colo = true;
        } else {
            issues_.fail(pos, fmt::format("unknown vif setting '{}'; expected one of {}",
                                          shorten(key), kKnownKeys));
        }
    }

    bool ifname(std::string_view key, std::string_view value, std::size_t vpos,
                std::optional<std::string>& slot) {
        std::string why;
        if (!valid_ifname(value, why)) {
            issues_.fail(vpos, fmt::format("{}: '{}' {}", key, shorten(value), why));
            return false;
        }
        slot = std::string(value);
        return true;
    }

    // Duplicate detection looks at this many keys; a hostile spec with more
    // settings than that still parses in linear time.
    static constexpr std::size_t kMaxRemembered = 64;

    std::string_view spec_;
    NicConfig& out_;
    SpecIssues& issues_;
    std::vector<std::string_view> seen_;
    bool devid_given_ = false;
    std::size_t bridge_offset_ = 0;
};

}  // namespace

std::string_view to_string(NicType type) {
    switch (type) {
    case NicType::unknown: return "unknown";
    case NicType::vif_ioemu: return "vif_ioemu";
    case NicType::vif: return "vif";
    }
    return "?";
}

std::string to_string(const MacAddress& mac) {
    return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", mac[0], mac[1], mac[2],
                       mac[3], mac[4], mac[5]);
}

std::optional<MacAddress> parse_mac(std::string_view text, std::string& why) {
    const std::string expected =
        fmt::format("'{}' is not a MAC address; expected six two-digit hex groups separated by "
                    "':', e.g. 00:16:3e:12:34:56",
                    shorten(text));
    MacAddress mac{};
    std::size_t pos = 0;
    for (std::size_t i = 0; i < mac.size(); ++i) {
        if (i > 0) {
            if (pos >= text.size() || text[pos] != ':') return why = expected, std::nullopt;
            ++pos;
        }
        int value = 0, digits = 0;
        while (pos < text.size() && hex_value(text[pos]) >= 0 && digits < 3) {
            value = value * 16 + hex_value(text[pos]);
            ++pos;
            ++digits;
        }
        if (digits == 0 || digits > 2) return why = expected, std::nullopt;
        mac[i] = static_cast<std::uint8_t>(value);
    }
    if (pos != text.size()) return why = expected, std::nullopt;
    if (mac[0] & 1) {
        why = fmt::format("{} is a multicast address (the low bit of the first byte is set); a "
                          "NIC needs a unicast one, e.g. 00:16:3e:xx:xx:xx",
                          shorten(text));
        return std::nullopt;
    }
    if (mac == MacAddress{}) {
        why = "00:00:00:00:00:00 is not a usable address; leave mac= out to get a random one";
        return std::nullopt;
    }
    return mac;
}

std::optional<NicRate> parse_nic_rate(std::string_view text, std::string& why) {
    const std::string expected = fmt::format(
        "'{}' is not a rate; expected <N>[G|M|K](B|b)/s[@<interval>[ms|us|s]], e.g. 10Mb/s or "
        "1MB/s@20ms",
        shorten(text));
    constexpr std::uint64_t kMax32 = std::numeric_limits<std::uint32_t>::max();
    const std::size_t at = text.find('@');
    std::string_view amount = text.substr(0, at);

    std::size_t used = 0;
    const auto n = leading_number(amount, kMax32, used);
    if (!n) {
        if (!amount.empty() && is_digit(amount[0])) {
            why = fmt::format("'{}' is too large (at most {} units per second)", shorten(text), kMax32);
        } else {
            why = expected;
        }
        return std::nullopt;
    }
    std::string_view unit = amount.substr(used);
    std::uint64_t multiplier = 1;
    if (!unit.empty() && (unit[0] == 'G' || unit[0] == 'M' || unit[0] == 'K')) {
        multiplier = unit[0] == 'G' ? 1000000000 : unit[0] == 'M' ? 1000000 : 1000;
        unit.remove_prefix(1);
    }
    if (unit != "B/s" && unit != "b/s") return why = expected, std::nullopt;
    if (*n == 0) return why = fmt::format("'{}': the rate must be above 0", shorten(text)), std::nullopt;
    std::uint64_t bytes_per_sec = *n * multiplier;
    if (unit[0] == 'b') bytes_per_sec /= 8;

    std::uint64_t interval_usecs = 50000;  // libxl's default: 50 ms
    if (at != std::string_view::npos) {
        const std::string_view interval = text.substr(at + 1);
        const auto i = leading_number(interval, kMax32, used);
        const std::string_view suffix = interval.substr(used);
        if (!i || !(suffix.empty() || suffix == "s" || suffix == "m" || suffix == "ms" ||
                    suffix == "u" || suffix == "us")) {
            why = expected;
            return std::nullopt;
        }
        if (*i == 0) {
            why = fmt::format("'{}': the interval must be above 0", shorten(text));
            return std::nullopt;
        }
        interval_usecs = *i * (suffix.empty() || suffix == "s" ? 1000000
                               : suffix[0] == 'm'              ? 1000
                                                               : 1);
        if (interval_usecs > kMax32) {
            why = fmt::format("'{}': the interval is longer than {} us", shorten(text), kMax32);
            return std::nullopt;
        }
    }
    // bytes_per_sec < 2^32 * 10^9 < 2^62, interval < 2^32: check the product.
    if (bytes_per_sec > std::numeric_limits<std::uint64_t>::max() / interval_usecs) {
        why = fmt::format("'{}' is too large", shorten(text));
        return std::nullopt;
    }
    NicRate rate;
    rate.interval_usecs = static_cast<std::uint32_t>(interval_usecs);
    rate.bytes_per_interval = bytes_per_sec * interval_usecs / 1000000;
    return rate;
}

bool parse_nic_argument(std::string_view arg, NicConfig& out, bool& devid_given,
                        SpecIssues& issues) {
    static constexpr std::string_view kXlKeys[] = {
        "type", "mac", "bridge", "netdev", "gatewaydev", "ip", "script", "backend", "vifname",
        "model", "rate", "forwarddev", "accel", "devid", "mtu", "vlan"};
    const auto eq = arg.find('=');
    const std::string_view key = arg.substr(0, eq);
    const bool known =
        eq == std::string_view::npos
            ? (arg == "trusted" || arg == "untrusted")
            : (std::find(std::begin(kXlKeys), std::end(kXlKeys), key) != std::end(kXlKeys) ||
               key.substr(0, 5) == "colo_");
    if (!known) return issues.fail(0, fmt::format("unrecognized argument `{}'", arg));
    SpecIssues mine;
    NicSpecParser(arg, out, mine).parse_one(devid_given);
    if (mine.failed() && (key == "mac" || key == "type"))
        return issues.fail(0, fmt::format("Invalid parameter `{}'.", key));
    if (mine.failed()) issues.error = mine.error;
    for (auto& w : mine.warnings) issues.warnings.push_back(std::move(w));
    return !issues.failed();
}

bool parse_nic_spec(std::string_view spec, NicConfig& out, bool& devid_given,
                    std::size_t& bridge_offset, SpecIssues& issues) {
    return NicSpecParser(spec, out, issues).parse(devid_given, bridge_offset);
}

}  // namespace xenolith::config
