// xl network-list (Xen 4.17 tools/xl/xl_nic.c main_networklist): one line
// per vif of each domain, from what xenstore holds.
#include <cstdio>

#include "control/libxl_compat.hpp"
#include "toolstack/xl/xl.hpp"

namespace xenolith::xl {

int cmd_network_list(const Args& a) {
    int rc = 0;
    auto o = parse_options(a, "network-list", "", {}, 1, rc);
    if (!o) return rc;
    std::fputs(control::network_list_header().c_str(), stdout);
    for (const std::string& q : o->args) {
        const std::uint32_t domid = domain_qualifier(q);  // exits on a bad name, as xl
        auto reply = request({{"cmd", "network-list"}, {"domid", domid}});
        if (!reply) return 1;
        if (!reply->value("ok", false)) continue;  // libxl_device_nic_list: NULL
        for (const auto& n : (*reply)["nics"]) {
            control::NicInfo info;
            info.devid = n.value("devid", 0);
            info.backend_id = n.value("backend_id", 0);
            info.mac = n.value("mac", info.mac);
            info.state = n.value("state", -1);
            info.evtch = n.value("evtch", -1);
            info.rref_tx = n.value("rref_tx", -1);
            info.rref_rx = n.value("rref_rx", -1);
            info.backend = n.value("backend", std::string());
            std::fputs(control::network_list_row(info).c_str(), stdout);
        }
    }
    return 0;
}

}  // namespace xenolith::xl
