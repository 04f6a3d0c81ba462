#include "xenstore/perms.hpp"

namespace xenolith::xenstore {

unsigned access_for(const Identity& who, const Perms& perms) {
    if (who.privileged) return kPermAll;
    if (perms.empty()) return kPermNone;
    auto is_me = [&](domid_t d) { return d == who.domid || (who.target && d == *who.target); };
    if (is_me(perms[0].domid)) return kPermAll;
    for (std::size_t i = 1; i < perms.size(); ++i) {
        if (is_me(perms[i].domid)) return perms[i].access;
    }
    return perms[0].access;
}

std::optional<Perm> parse_perm(std::string_view s) {
    if (s.size() < 2 || s.size() > 6) return std::nullopt;
    Perm p;
    switch (s[0]) {
    case 'n': p.access = kPermNone; break;
    case 'r': p.access = kPermRead; break;
    case 'w': p.access = kPermWrite; break;
    case 'b': p.access = kPermRead | kPermWrite; break;
    default: return std::nullopt;
    }
    std::uint32_t id = 0;
    for (char c : s.substr(1)) {
        if (c < '0' || c > '9') return std::nullopt;
        id = id * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (id > 0xffff) return std::nullopt;
    p.domid = static_cast<domid_t>(id);
    return p;
}

void append_perm(std::string& out, const Perm& p) {
    static constexpr char kLetters[] = {'n', 'r', 'w', 'b'};
    out += kLetters[p.access & (kPermRead | kPermWrite)];
    out += std::to_string(p.domid);
    out += '\0';
}

std::string perms_to_wire(const Perms& perms) {
    std::string out;
    for (const auto& p : perms) append_perm(out, p);
    return out;
}

}  // namespace xenolith::xenstore
