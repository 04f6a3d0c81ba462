// One vif= entry, as xl-network-configuration(5) defines it and xl's
// parse_nic_config() reads it: comma-separated key=value settings (mac=,
// bridge=, ip=, script=, vifname=, backend=, rate=, mtu=, model=, type=,
// gatewaydev=, devid=, vlan=, ...) and the flags trusted / untrusted.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "toolstack/config/device_spec.hpp"
#include "toolstack/config/value.hpp"

namespace xenolith::config {

// libxl_nic_type. unknown: libxl decides (ioemu for HVM guests, vif otherwise).
enum class NicType { unknown, vif_ioemu, vif };

// libxl's spelling: "unknown", "vif_ioemu", "vif".
std::string_view to_string(NicType type);

using MacAddress = std::array<std::uint8_t, 6>;

// "00:16:3e:0a:0b:0c", lower-case.
std::string to_string(const MacAddress& mac);

// Credit-based rate limit: so many bytes per replenishment interval.
struct NicRate {
    std::uint64_t bytes_per_interval = 0;
    std::uint32_t interval_usecs = 0;
};

struct NicConfig {
    std::string spec;      // as written (the daemon parses it again)
    SourcePos where;       // the spec string in the config file
    SourcePos bridge_pos;  // the bridge= value, for messages about the host's bridges

    // The device id: the entry's index in vif= unless devid= says otherwise.
    std::uint32_t devid = 0;
    // Absent: chosen when the device is attached (a random
    // 00:16:3e:xx:xx:xx, as libxl picks one).
    std::optional<MacAddress> mac;
    std::optional<std::string> bridge;
    std::optional<std::string> ip;       // one or more addresses, space-separated
    std::optional<std::string> script;   // hotplug script
    std::optional<std::string> backend_domain;
    std::optional<std::string> ifname;   // vifname=: the back-end's interface name
    std::optional<std::string> model;    // emulated NIC model (HVM, type ioemu)
    std::optional<std::string> gatewaydev;
    std::optional<std::string> vlan;
    NicType type = NicType::unknown;
    std::optional<NicRate> rate;
    std::optional<std::uint32_t> mtu;
    std::optional<bool> trusted;
    bool colo = false;  // COLO settings were given (xenolith ignores them)
};

// Parses one vif spec into `out` (`where`, `bridge_pos` and `devid` are the
// caller's). `devid_given` is set when the spec has devid=. On failure
// issues.error says what and where.
bool parse_nic_spec(std::string_view spec, NicConfig& out, bool& devid_given,
                    std::size_t& bridge_offset, SpecIssues& issues);

// One command-line argument of `xl network-attach` (xl's parse_nic_config
// token): a single setting, never split at commas. On failure issues.error
// holds xl's own message ("unrecognized argument `x'", "Invalid parameter
// `mac'.") or, for a value xl would take but xenolith refuses, what is wrong.
bool parse_nic_argument(std::string_view arg, NicConfig& out, bool& devid_given,
                        SpecIssues& issues);

// "00:16:3e:01:02:03": six groups of one or two hex digits separated by
// colons, naming a unicast address. nullopt with `why` set otherwise.
std::optional<MacAddress> parse_mac(std::string_view text, std::string& why);

// libxlu's rate syntax: <N>[GMK](B|b)/s[@<N>[m|u][s]], e.g. "10Mb/s@20ms".
std::optional<NicRate> parse_nic_rate(std::string_view text, std::string& why);

}  // namespace xenolith::config
