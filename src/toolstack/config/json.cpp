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
