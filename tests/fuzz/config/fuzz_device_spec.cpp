// Fuzzes the disk= and vif= sub-grammars directly (no xl.cfg quoting in the
// way). Input: a disk spec; or "V\0" + a vif spec, "R\0" + a rate,
// "M\0" + a MAC address.
//
// Checked beyond "no crash": issue offsets lie inside the spec, and what
// parses satisfies the invariants the rest of xenolith relies on.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "toolstack/config/disk.hpp"
#include "toolstack/config/nic.hpp"

namespace cfg = xenolith::config;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

void check_issues(const cfg::SpecIssues& issues, std::string_view spec) {
    if (issues.error) {
        check(issues.error->offset <= spec.size());
        check(!issues.error->message.empty());
    }
    for (const auto& w : issues.warnings) check(w.offset <= spec.size());
}

void disk(std::string_view spec) {
    cfg::DiskConfig d;
    cfg::SpecIssues issues;
    const bool ok = cfg::parse_disk_spec(spec, d, issues);
    check(ok == !issues.failed());
    check_issues(issues, spec);
    if (!ok) return;
    check(cfg::disk_device_number(d.vdev) == d.device_number);
    check(d.target || d.is_cdrom);
    if (d.target && d.target->empty()) check(d.is_cdrom);
    if (d.format == cfg::DiskFormat::empty) check(d.is_cdrom);
    if (d.is_cdrom) check(d.removable && !d.readwrite);
}

void nic(std::string_view spec) {
    cfg::NicConfig n;
    cfg::SpecIssues issues;
    bool devid_given = false;
    std::size_t bridge_offset = 0;
    const bool ok = cfg::parse_nic_spec(spec, n, devid_given, bridge_offset, issues);
    check(ok == !issues.failed());
    check_issues(issues, spec);
    if (!ok) return;
    check(bridge_offset <= spec.size());
    if (n.mac) check(((*n.mac)[0] & 1) == 0 && *n.mac != cfg::MacAddress{});
    if (n.bridge) check(!n.bridge->empty() && n.bridge->size() <= 15);
    if (n.rate) check(n.rate->interval_usecs > 0);
    if (n.mtu) check(*n.mtu >= 68 && *n.mtu <= 65535);
}

void rate(std::string_view text) {
    std::string why;
    const auto r = cfg::parse_nic_rate(text, why);
    check(r.has_value() == why.empty());
    if (r) check(r->interval_usecs > 0);
}

void mac(std::string_view text) {
    std::string why;
    const auto m = cfg::parse_mac(text, why);
    check(m.has_value() == why.empty());
    if (!m) return;
    std::string again_why;
    const auto again = cfg::parse_mac(cfg::to_string(*m), again_why);
    check(again && *again == *m);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    if (input.size() >= 2 && input[1] == '\0') {
        const std::string_view rest = input.substr(2);
        switch (input[0]) {
        case 'V': nic(rest); return 0;
        case 'R': rate(rest); return 0;
        case 'M': mac(rest); return 0;
        default: break;
        }
    }
    disk(input);
    return 0;
}
