// xl network-attach, network-list, network-detach (Xen 4.17
// tools/xl/xl_nic.c). xl parses the arguments to print its errors and
// -N's JSON; the daemon parses them again (xl is a client, not trusted) and
// applies its own xl.conf's vif.default.* as libxl's caller would.
#include <cstdio>
#include <cstdlib>

#include "control/libxl_compat.hpp"
#include "toolstack/config/json.hpp"
#include "toolstack/config/nic.hpp"
#include "toolstack/config/xl_conf.hpp"
#include "toolstack/xl/xl.hpp"

namespace xenolith::xl {

namespace {

// xl's set_default_nic_values: xl.conf's vif.default.* (the file
// XENOLITH_XL_CONF names, else /etc/xen/xl.conf) before the arguments.
bool apply_xl_conf_defaults(config::NicConfig& nic) {
    const char* path = std::getenv("XENOLITH_XL_CONF");
    auto conf = config::load_xl_conf(path && *path ? path : config::kXlConfPath);
    if (!conf) {
        std::fprintf(stderr, "%s\n", conf.error().what.c_str());
        return false;
    }
    if (conf->vif_default_script) nic.script = conf->vif_default_script;
    if (conf->vif_default_bridge) nic.bridge = conf->vif_default_bridge;
    if (conf->vif_default_gatewaydev) nic.gatewaydev = conf->vif_default_gatewaydev;
    if (conf->vif_default_backend) nic.backend_domain = conf->vif_default_backend;
    return true;
}

}  // namespace

int cmd_network_attach(const Args& a) {
    int rc = 0;
    auto o = parse_options(a, "network-attach", "", {}, 1, rc);
    if (!o) return rc;
    const std::uint32_t domid = domain_qualifier(o->args[0]);  // exits on a bad name, as xl
    config::NicConfig nic;
    if (!apply_xl_conf_defaults(nic)) return 1;
    bool devid_given = false;
    std::vector<std::string> args(o->args.begin() + 1, o->args.end());
    for (const std::string& arg : args) {
        config::SpecIssues issues;
        const bool ok = config::parse_nic_argument(arg, nic, devid_given, issues);
        for (const auto& w : issues.warnings)
            std::fprintf(stderr, "command line: warning: vif: %s\n", w.message.c_str());
        if (!ok) {
            std::fprintf(stderr, "%s\n", issues.error->message.c_str());
            return 1;
        }
    }
    if (dryrun_only) {
        std::printf("vif: %s\n", config::nic_to_libxl_json(nic, devid_given).c_str());
        if (std::ferror(stdout) || std::fflush(stdout)) {
            std::perror("stdout");
            std::exit(-1);
        }
        return 0;
    }
    auto reply = request({{"cmd", "network-attach"}, {"domid", domid}, {"args", args}});
    if (!reply) return 1;
    print_log(*reply);
    if (!reply->value("ok", false)) {
        std::fprintf(stderr, "libxl_device_nic_add failed.\n");
        return 1;
    }
    return 0;
}

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

// A devid (atoi, as xl reads it) or, with a ':' in it, a MAC.
int cmd_network_detach(const Args& a) {
    int rc = 0;
    auto o = parse_options(a, "network-detach", "", {}, 2, rc);
    if (!o) return rc;
    const std::uint32_t domid = domain_qualifier(o->args[0]);
    const std::string& which = o->args[1];
    nlohmann::json req{{"cmd", "network-detach"}, {"domid", domid}};
    if (which.find(':') == std::string::npos) req["devid"] = std::atoi(which.c_str());
    else req["mac"] = which;
    auto reply = request(req);
    if (!reply) return 1;
    if (reply->value("unknown_device", false)) {
        std::fprintf(stderr, "Unknown device %s.\n", which.c_str());
        return 1;
    }
    print_log(*reply);
    if (!reply->value("ok", false)) {
        std::fprintf(stderr, "libxl_device_nic_del failed.\n");
        return 1;
    }
    return 0;
}

}  // namespace xenolith::xl
