#include "toolstack/daemon/vif_nodes.hpp"

#include <sys/random.h>

#include <fmt/format.h>

namespace xenolith::toolstack {

namespace {

constexpr const char* kInitialising = "1";  // XenbusStateInitialising

Error refuse(const config::NicConfig& nic, std::string_view why) {
    return make_error(fmt::format("vif {}: {}", nic.devid, why));
}

}  // namespace

config::MacAddress xen_mac_from(const std::uint8_t (&random3)[3]) {
    return {0x00, 0x16, 0x3e, static_cast<std::uint8_t>(random3[0] & 0x7f), random3[1],
            random3[2]};
}

config::MacAddress random_xen_mac() {
    std::uint8_t r[3] = {};
    std::size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n > 0) got += static_cast<std::size_t>(n);
    }
    return xen_mac_from(r);
}

Result<VifNodes> vif_nodes(const config::NicConfig& nic, domid_t domid, domid_t backend_domid,
                           const std::function<config::MacAddress()>& make_mac) {
    if (nic.type == config::NicType::vif_ioemu) {
        return refuse(nic, "trying to create PV or PVH guest with an emulated interface");
    }
    VifNodes n;
    n.frontend_domid = domid;
    n.backend_domid = backend_domid;
    n.devid = nic.devid;
    n.mac = nic.mac ? *nic.mac : make_mac();
    n.bridge = nic.bridge.value_or(kDefaultVifBridge);
    n.script = xen_script_path(nic.script.value_or(kDefaultVifScript));
    n.mtu = nic.mtu.value_or(0) ? *nic.mtu : kDefaultVifMtu;
    n.ifname = nic.ifname ? *nic.ifname : fmt::format("vif{}.{}", domid, nic.devid);
    if (n.ifname.empty() || n.ifname.size() > kMaxIfnameLength) {
        return refuse(nic, fmt::format("its host interface name '{}' is {} characters; Linux "
                                       "allows 1 to {} (give it a shorter vifname=)",
                                       n.ifname, n.ifname.size(), kMaxIfnameLength));
    }
    const std::string mac = config::to_string(n.mac);
    const std::string handle = std::to_string(nic.devid);

    XenstoreKeys back{
        {"frontend-id", std::to_string(domid)},
        {"online", "1"},
        {"state", kInitialising},
        {"script", n.script},
    };
    if (nic.ifname) back.emplace_back("vifname", *nic.ifname);
    back.emplace_back("mac", mac);
    if (nic.ip) back.emplace_back("ip", *nic.ip);
    if (nic.gatewaydev) back.emplace_back("gatewaydev", *nic.gatewaydev);
    if (nic.rate && nic.rate->interval_usecs > 0) {
        back.emplace_back("rate", fmt::format("{},{}", nic.rate->bytes_per_interval,
                                              nic.rate->interval_usecs));
    }
    if (n.mtu != kDefaultVifMtu) back.emplace_back("mtu", std::to_string(n.mtu));
    back.emplace_back("bridge", n.bridge);
    back.emplace_back("handle", handle);
    back.emplace_back("type", std::string(config::to_string(config::NicType::vif)));
    // The back-end waits for the script to say "connected" before it connects.
    back.emplace_back("hotplug-status", "");

    const XenstoreKeys front{
        {"backend-id", std::to_string(backend_domid)},
        {"state", kInitialising},
        {"handle", handle},
        {"mac", mac},
        {"trusted", nic.trusted.value_or(true) ? "1" : "0"},
    };
    const XenstoreKeys ro_front{{"mtu", std::to_string(n.mtu)}};

    generic_device_nodes(n, "vif", "vif", back, front, ro_front);
    if (!writes_fit_xenstore(n)) return refuse(nic, "a setting is too long for xenstore");
    return n;
}

xenstore::XsErr apply_vif_nodes(xenstore::Server& server, xenstore::Connection& conn,
                                const VifNodes& nodes) {
    return apply_device_nodes(server, conn, nodes);
}

xenstore::XsErr remove_vif_nodes(xenstore::Server& server, xenstore::Connection& conn,
                                 const VifNodes& nodes) {
    return remove_device_nodes(server, conn, nodes);
}

std::uint32_t next_vif_devid(xenstore::Server& server, xenstore::Connection& conn,
                             domid_t domid) {
    return next_device_id(server, conn, domid, "vif");
}

}  // namespace xenolith::toolstack
