#include "toolstack/config/json.hpp"

#include <string>
#include <string_view>

namespace xenolith::config {

namespace {

// Copies valid UTF-8 through and replaces each invalid byte with U+FFFD.
std::string valid_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t len = 0;
        std::uint32_t min = 0;
        if (c < 0x80) {
            len = 1;
        } else if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            min = 0x10000;
        }
        bool ok = len != 0 && i + len <= s.size();
        std::uint32_t cp = len == 1 ? c : (c & (0x7fu >> len));
        for (std::size_t k = 1; ok && k < len; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xc0) != 0x80) ok = false;
            cp = (cp << 6) | (cc & 0x3f);
        }
        if (ok && len > 1 && (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))) {
            ok = false;
        }
        if (ok) {
            out.append(s.substr(i, len));
            i += len;
        } else {
            out += "\xef\xbf\xbd";
            ++i;
        }
    }
    return out;
}

// libxl_defbool as libxl prints it.
const char* defbool(bool b) { return b ? "True" : "False"; }

// libxl_device_disk: fields in libxl's order, those at libxl's initial
// value left out.
template <class Json>
Json disk_json(const DiskConfig& d) {
    Json j = Json::object();
    if (d.backend_domain) j["backend_domname"] = valid_utf8(*d.backend_domain);
    if (d.target) j["pdev_path"] = valid_utf8(*d.target);
    j["vdev"] = valid_utf8(d.vdev);
    if (d.backend_type != DiskBackendType::unknown) j["backend"] = std::string(to_string(d.backend_type));
    j["format"] = std::string(to_string(d.format));
    if (d.script) j["script"] = valid_utf8(*d.script);
    if (d.removable) j["removable"] = 1;
    if (d.readwrite) j["readwrite"] = 1;
    if (d.is_cdrom) j["is_cdrom"] = 1;
    if (d.direct_io_safe) j["direct_io_safe"] = true;
    if (d.discard) j["discard_enable"] = defbool(*d.discard);
    if (d.specification != DiskSpecification::unknown) {
        j["specification"] = std::string(to_string(d.specification));
    }
    if (d.trusted) j["trusted"] = defbool(*d.trusted);
    if (d.grant_usage) j["grant_usage"] = defbool(*d.grant_usage);
    return j;
}

// libxl_device_nic, likewise.
template <class Json>
Json nic_json(const NicConfig& n) {
    Json j = Json::object();
    if (n.backend_domain) j["backend_domname"] = valid_utf8(*n.backend_domain);
    if (n.devid != 0) j["devid"] = n.devid;
    if (n.mtu) j["mtu"] = *n.mtu;
    if (n.vlan) j["vlan"] = valid_utf8(*n.vlan);
    if (n.model) j["model"] = valid_utf8(*n.model);
    if (n.mac) j["mac"] = to_string(*n.mac);
    if (n.ip) j["ip"] = valid_utf8(*n.ip);
    if (n.bridge) j["bridge"] = valid_utf8(*n.bridge);
    if (n.ifname) j["ifname"] = valid_utf8(*n.ifname);
    if (n.script) j["script"] = valid_utf8(*n.script);
    if (n.type != NicType::unknown) j["nictype"] = std::string(to_string(n.type));
    if (n.rate) {
        j["rate_bytes_per_interval"] = n.rate->bytes_per_interval;
        j["rate_interval_usecs"] = n.rate->interval_usecs;
    }
    if (n.gatewaydev) j["gatewaydev"] = valid_utf8(*n.gatewaydev);
    if (n.trusted) j["trusted"] = defbool(*n.trusted);
    return j;
}

template <class Json>
Json build(const DomainConfig& cfg) {
    Json c_info = Json::object();
    c_info["type"] = std::string(to_string(cfg.type));
    c_info["name"] = valid_utf8(cfg.name);
    if (cfg.uuid && !cfg.uuid->is_nil()) c_info["uuid"] = cfg.uuid->str();

    Json b_info = Json::object();
    b_info["max_vcpus"] = cfg.max_vcpus;
    Json avail = Json::array();
    for (std::uint32_t i = 0; i < cfg.vcpus; ++i) avail.push_back(i);
    b_info["avail_vcpus"] = std::move(avail);
    b_info["max_memkb"] = cfg.maxmem_mib * 1024;
    b_info["target_memkb"] = cfg.memory_mib * 1024;
    b_info["max_grant_frames"] = cfg.max_grant_frames;
    b_info["max_maptrack_frames"] = cfg.max_maptrack_frames;
    b_info["sched_params"] = Json::object();
    b_info["event_channels"] = cfg.max_event_channels;
    if (cfg.kernel) b_info["kernel"] = valid_utf8(*cfg.kernel);
    if (cfg.cmdline) b_info["cmdline"] = valid_utf8(*cfg.cmdline);
    if (cfg.ramdisk) b_info["ramdisk"] = valid_utf8(*cfg.ramdisk);

    Json u = Json::object();
    if (cfg.type == DomainType::hvm && cfg.firmware_override) {
        u["firmware"] = valid_utf8(*cfg.firmware_override);
    }
    b_info[std::string("type.") + std::string(to_string(cfg.type))] = std::move(u);
    b_info["arch_arm"] = Json::object();
    b_info["arch_x86"] = Json::object();

    Json j = Json::object();
    j["c_info"] = std::move(c_info);
    j["b_info"] = std::move(b_info);
    if (!cfg.disks.empty()) {
        Json disks = Json::array();
        for (const DiskConfig& d : cfg.disks) disks.push_back(disk_json<Json>(d));
        j["disks"] = std::move(disks);
    }
    if (!cfg.nics.empty()) {
        Json nics = Json::array();
        for (const NicConfig& n : cfg.nics) nics.push_back(nic_json<Json>(n));
        j["nics"] = std::move(nics);
    }
    const std::pair<const char*, ShutdownAction> actions[] = {
        {"on_poweroff", cfg.on_poweroff}, {"on_reboot", cfg.on_reboot},
        {"on_watchdog", cfg.on_watchdog}, {"on_crash", cfg.on_crash},
        {"on_soft_reset", cfg.on_soft_reset}};
    for (const auto& [key, action] : actions) {
        if (action != ShutdownAction::destroy) j[key] = std::string(to_json_name(action));
    }
    // Not libxl's: xenolith's own settings, only when used.
    if (!cfg.global_virqs.empty()) {
        Json x = Json::object();
        x["global_virqs"] = cfg.global_virqs;
        j["xenolith"] = std::move(x);
    }
    return j;
}

}  // namespace

nlohmann::json to_json(const DomainConfig& cfg) { return build<nlohmann::json>(cfg); }

nlohmann::ordered_json to_ordered_json(const DomainConfig& cfg) {
    return build<nlohmann::ordered_json>(cfg);
}

nlohmann::ordered_json to_xl_list_entry(std::optional<std::uint32_t> domid,
                                        const DomainConfig& cfg) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    j["domid"] = domid ? nlohmann::ordered_json(*domid) : nlohmann::ordered_json(nullptr);
    j["config"] = to_ordered_json(cfg);
    return j;
}

}  // namespace xenolith::config
