// What xl and xenolithd must agree on about libxl: how a command line names
// a domain, which domids can be guests, and how libxl's log lines read.
// One copy, used by both ends, so the client and the daemon cannot resolve
// "2" or "65537" differently.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace xenolith::control {

inline constexpr std::uint32_t kDomidFirstReserved = 0x7ff0;  // DOMID_FIRST_RESERVED
inline constexpr std::uint32_t kNoDomid = 0xffffffffu;        // libxl's INVALID_DOMID

// libxl_domid_valid_guest: a domid a guest can have (not 0, not reserved).
constexpr bool is_guest_domid(std::uint64_t domid) {
    return domid > 0 && domid < kDomidFirstReserved;
}

// libxl_domain_qualifier_to_domid: a qualifier made only of digits (the
// empty one included, which is 0) is a domid, whether or not a domain has
// it, and never a name, even when a domain is called "2"; anything else is
// a name (nullopt here). Xen's strtoul keeps 65537 as 65537, a domid no
// domain has (libxl then fails to find it); a number past 32 bits, which
// xl would truncate onto a real domain, becomes kNoDomid here.
inline std::optional<std::uint32_t> qualifier_domid(std::string_view q) {
    if (q.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : q) {
        v = v * 10 + static_cast<unsigned>(c - '0');
        if (v > kNoDomid) return kNoDomid;
    }
    return static_cast<std::uint32_t>(v);
}

// One libxl log line as xl's stderr logger prints it (libxl__logv through
// xtl's stdiostream): "libxl: <level>: <where>: [Domain N:]<msg>[: <errno
// text>]", where `where` is "<file>:<line>:<function>". "Domain N:" only
// for a guest domid (kNoDomid for LOG() lines); `errnoval` >= 0 appends
// strerror, as LOGE/LOGED/LOGEVD do. No trailing newline.
inline std::string libxl_log_line(std::string_view level, std::string_view where,
                                  std::uint64_t domid, std::string_view msg, int errnoval = -1) {
    std::string s = "libxl: ";
    s += level;
    s += ": ";
    s += where;
    s += ": ";
    if (is_guest_domid(domid)) s += "Domain " + std::to_string(domid) + ":";
    s += msg;
    if (errnoval >= 0) {
        s += ": ";
        s += std::strerror(errnoval);
    }
    return s;
}

// xl block-list (xl_block.c main_blocklist): the header and one line per
// libxl_diskinfo, with xl's printf widths (columns grow, never truncate).
struct DiskInfo {
    int devid = 0;
    int backend_id = 0;
    int frontend_id = 0;
    int state = -1;  // the front-end's, -1 when it has none
    int evtch = -1;
    int rref = -1;
    std::string backend;
};

inline std::string block_list_header() {
    char buf[128];
    std::snprintf(buf, sizeof buf, "%-5s %-3s %-6s %-5s %-6s %-8s %-30s\n", "Vdev", "BE",
                  "handle", "state", "evt-ch", "ring-ref", "BE-path");
    return buf;
}

inline std::string block_list_row(const DiskInfo& d) {
    const int n = std::snprintf(nullptr, 0, "%-5d %-3d %-6d %-5d %-6d %-8d %-30s\n", d.devid,
                                d.backend_id, d.frontend_id, d.state, d.evtch, d.rref,
                                d.backend.c_str());
    std::string out(static_cast<std::size_t>(n) + 1, '\0');
    std::snprintf(out.data(), out.size(), "%-5d %-3d %-6d %-5d %-6d %-8d %-30s\n", d.devid,
                  d.backend_id, d.frontend_id, d.state, d.evtch, d.rref, d.backend.c_str());
    out.pop_back();
    return out;
}

// xl network-list (xl_nic.c main_networklist): the header and one line per
// libxl_nicinfo, with xl's printf widths. The MAC is the libxl copy's
// (libxl_device_nic_list), all zeroes when it does not parse.
struct NicInfo {
    int devid = 0;
    int backend_id = 0;
    std::string mac = "00:00:00:00:00:00";
    int state = -1;  // the front-end's figures, -1 when absent
    int evtch = -1;
    int rref_tx = -1;
    int rref_rx = -1;
    std::string backend;
};

inline std::string network_list_header() {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%-3s %-2s %-17s %-6s %-5s %-6s %5s/%-5s %-30s\n", "Idx", "BE",
                  "Mac Addr.", "handle", "state", "evt-ch", "tx-", "rx-ring-ref", "BE-path");
    return buf;
}

inline std::string network_list_row(const NicInfo& n) {
#define XENOLITH_NETWORK_LIST_ROW "%-3d %-2d %s%6d %5d %6d %5d/%-11d %-30s\n"
    const int len = std::snprintf(nullptr, 0, XENOLITH_NETWORK_LIST_ROW, n.devid, n.backend_id,
                                  n.mac.c_str(), n.devid, n.state, n.evtch, n.rref_tx, n.rref_rx,
                                  n.backend.c_str());
    std::string out(static_cast<std::size_t>(len) + 1, '\0');
    std::snprintf(out.data(), out.size(), XENOLITH_NETWORK_LIST_ROW, n.devid, n.backend_id,
                  n.mac.c_str(), n.devid, n.state, n.evtch, n.rref_tx, n.rref_rx,
                  n.backend.c_str());
#undef XENOLITH_NETWORK_LIST_ROW
    out.pop_back();
    return out;
}

}  // namespace xenolith::control
