#include "toolstack/config/json.hpp"

#include <algorithm>
#include <array>
#include <initializer_list>
#include <span>
#include <string_view>
#include <utility>

namespace xenolith::config {

namespace {

using nlohmann::json;

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

// ---- field order: libxl_types.idl (Xen 4.17) ----------------------------

using Order = std::span<const std::string_view>;

constexpr std::string_view kDomainConfig[] = {
    "c_info", "b_info", "disks", "nics", "pcidevs", "rdms", "dtdevs", "vfbs", "vkbs", "vtpms",
    "p9s", "pvcallsifs", "vdispls", "vsnds", "channels", "usbctrls", "usbdevs", "on_poweroff",
    "on_reboot", "on_watchdog", "on_crash", "on_soft_reset"};

constexpr std::string_view kListEntry[] = {"domid", "config"};  // xl's printf_info_one_json

constexpr std::string_view kCreateInfo[] = {
    "type", "hap", "oos", "ssidref", "ssid_label", "name", "domid", "uuid", "xsdata",
    "platformdata", "poolid", "pool_name", "run_hotplug_scripts", "driver_domain", "passthrough",
    "xend_suspend_evtchn_compat"};

constexpr std::string_view kBuildInfo[] = {
    "max_vcpus", "avail_vcpus", "cpumap", "nodemap", "vcpu_hard_affinity", "vcpu_soft_affinity",
    "numa_placement", "tsc_mode", "max_memkb", "target_memkb", "video_memkb", "shadow_memkb",
    "iommu_memkb", "rtc_timeoffset", "exec_ssidref", "exec_ssid_label", "localtime",
    "disable_migrate", "cpuid", "blkdev_start", "vnuma_nodes", "max_grant_frames",
    "max_maptrack_frames", "max_grant_version", "device_model_version",
    "device_model_stubdomain", "stubdomain_memkb", "stubdomain_kernel", "stubdomain_cmdline",
    "stubdomain_ramdisk", "device_model", "device_model_ssidref", "device_model_ssid_label",
    "device_model_user", "extra", "extra_pv", "extra_hvm", "sched_params", "ioports", "irqs",
    "iomem", "claim_mode", "event_channels", "kernel", "cmdline", "ramdisk", "device_tree",
    "acpi", "bootloader", "bootloader_args", "timer_mode", "nested_hvm", "apic", "dm_restrict",
    "tee", "type.hvm", "type.pv", "type.pvh", "type.invalid", "arch_arm", "arch_x86", "altp2m",
    "vmtrace_buf_kb", "vpmu"};

constexpr std::string_view kSchedParams[] = {"sched",  "weight",    "cap",   "period",
                                             "budget", "extratime", "slice", "latency"};

constexpr std::string_view kHvm[] = {
    "firmware", "bios", "pae", "apic", "acpi", "acpi_s3", "acpi_s4", "acpi_laptop_slate", "nx",
    "viridian", "viridian_enable", "viridian_disable", "timeoffset", "hpet", "vpt_align",
    "mmio_hole_memkb", "timer_mode", "nested_hvm", "altp2m", "system_firmware",
    "smbios_firmware", "acpi_firmware", "hdtype", "nographic", "vga", "vnc", "keymap", "sdl",
    "spice", "gfx_passthru", "gfx_passthru_kind", "serial", "boot", "usb", "usbversion",
    "usbdevice", "vkb_device", "soundhw", "xen_platform_pci", "usbdevice_list", "vendor_device",
    "ms_vm_genid", "serial_list", "rdm", "rdm_mem_boundary_memkb", "mca_caps"};

constexpr std::string_view kVnc[] = {"enable", "listen", "passwd", "display", "findunused"};

constexpr std::string_view kPv[] = {"kernel",  "slack_memkb", "bootloader", "bootloader_args",
                                    "cmdline", "ramdisk",     "e820_host"};

constexpr std::string_view kPvh[] = {"pvshim", "pvshim_path", "pvshim_cmdline", "pvshim_extra"};

constexpr std::string_view kDisk[] = {
    "backend_domid", "backend_domname", "pdev_path", "vdev", "backend", "format", "script",
    "removable", "readwrite", "is_cdrom", "direct_io_safe", "discard_enable", "specification",
    "transport", "irq", "base", "colo_enable", "colo_restore_enable", "colo_host", "colo_port",
    "colo_export", "active_disk", "hidden_disk", "trusted"};

// libxl_device_nic up to the COLO fields, which xl.cfg cannot set.
constexpr std::string_view kNic[] = {
    "backend_domid", "backend_domname", "devid", "mtu", "model", "mac", "ip", "bridge", "ifname",
    "script", "nictype", "rate_bytes_per_interval", "rate_interval_usecs", "gatewaydev",
    "coloft_forwarddev", "trusted"};

// The order for the members of the object found under `key` (an element
// of the array under `key`, for device lists).
Order order_for(std::string_view key, const json& object) {
    static constexpr std::pair<std::string_view, Order> kByKey[] = {
        {"config", kDomainConfig}, {"c_info", kCreateInfo}, {"b_info", kBuildInfo},
        {"sched_params", kSchedParams}, {"type.hvm", kHvm}, {"type.pv", kPv},
        {"type.pvh", kPvh}, {"vnc", kVnc}, {"disks", kDisk}, {"nics", kNic}};
    for (const auto& [k, order] : kByKey)
        if (k == key) return order;
    if (key.empty() && object.contains("c_info")) return kDomainConfig;  // create -n
    if (object.contains("config")) return kListEntry;                    // list -l element
    return {};
}

// yajl_string_encode without solidus escaping (libxl does not ask for it).
void put_string(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    out += '"';
    for (char c : valid_utf8(s)) {
        switch (c) {
        case '\r': out += "\\r"; break;
        case '\n': out += "\\n"; break;
        case '\\': out += "\\\\"; break;
        case '"': out += "\\\""; break;
        case '\f': out += "\\f"; break;
        case '\b': out += "\\b"; break;
        case '\t': out += "\\t"; break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                out += "\\u00";
                out += kHex[(c >> 4) & 0xf];
                out += kHex[c & 0xf];
            } else {
                out += c;
            }
        }
    }
    out += '"';
}

void indent(std::string& out, int depth) {
    for (int i = 0; i < depth; ++i) out += "    ";
}

// yajl_gen with yajl_gen_beautify: "{" newline, members one per line at
// depth+1 joined by ",\n", newline, "}" at depth; so an empty container
// is "{\n\n<indent>}".
void put(std::string& out, const json& v, std::string_view key, int depth) {
    switch (v.type()) {
    case json::value_t::object: {
        out += "{\n";
        const Order order = order_for(key, v);
        std::vector<std::pair<std::size_t, const std::string*>> keys;  // (rank, key)
        for (auto it = v.begin(); it != v.end(); ++it) {
            const auto at = std::find(order.begin(), order.end(), it.key());
            keys.emplace_back(static_cast<std::size_t>(at - order.begin()), &it.key());
        }
        std::stable_sort(keys.begin(), keys.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        bool first = true;
        for (const auto& [rank, k] : keys) {
            if (!first) out += ",\n";
            first = false;
            indent(out, depth + 1);
            put_string(out, *k);
            out += ": ";
            put(out, v.at(*k), *k, depth + 1);
        }
        out += '\n';
        indent(out, depth);
        out += '}';
        break;
    }
    case json::value_t::array: {
        out += "[\n";
        bool first = true;
        for (const json& item : v) {
            if (!first) out += ",\n";
            first = false;
            indent(out, depth + 1);
            put(out, item, key, depth + 1);  // elements take the array's key
        }
        out += '\n';
        indent(out, depth);
        out += ']';
        break;
    }
    case json::value_t::string: put_string(out, v.get_ref<const std::string&>()); break;
    case json::value_t::boolean: out += v.get<bool>() ? "true" : "false"; break;
    case json::value_t::null: out += "null"; break;
    case json::value_t::number_integer: out += std::to_string(v.get<std::int64_t>()); break;
    case json::value_t::number_unsigned: out += std::to_string(v.get<std::uint64_t>()); break;
    default: out += v.dump(); break;  // floats and binary: libxl's config has none
    }
}

// libxl_device_disk: fields at libxl's initial value left out.
json disk_json(const DiskConfig& d) {
    json j = json::object();
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

// libxl_device_nic, likewise; xl numbers every vif (devid = its index
// unless devid= says otherwise), so devid is always there.
json nic_json(const NicConfig& n) {
    json j = json::object();
    if (n.backend_domain) j["backend_domname"] = valid_utf8(*n.backend_domain);
    j["devid"] = n.devid;
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

// parse_vcpu_affinity: a string gives every vCPU up to libxl's max_vcpus
// (0 when neither vcpus= nor maxvcpus= was written) the same map; a list
// gives one map per entry, as many as there are vCPUs.
json affinity_json(const VcpuAffinityConfig& a, std::uint32_t max_vcpus, const HostTopology& host) {
    json out = json::array();
    for (std::uint32_t v = 0; v < max_vcpus; ++v) {
        const CpuList* list = a.for_vcpu(v);
        if (!list) break;
        out.push_back(resolve(*list, host).cpus());
    }
    return out;
}

}  // namespace

json to_json(const DomainConfig& cfg, const HostTopology* host) {
    const LibxlSettings& x = cfg.libxl;
    json c_info = json::object();
    c_info["type"] = std::string(to_string(cfg.type));
    c_info["name"] = valid_utf8(cfg.name);
    if (cfg.uuid && !cfg.uuid->is_nil()) c_info["uuid"] = cfg.uuid->str();
    if (x.pool) c_info["pool_name"] = valid_utf8(*x.pool);
    c_info["run_hotplug_scripts"] = defbool(true);  // xl.conf's default

    json b_info = json::object();
    // libxl's max_vcpus as xl sets it: 0 (left out) unless written.
    const std::uint32_t max_vcpus = x.vcpus || x.maxvcpus ? cfg.max_vcpus : 0;
    if (max_vcpus) b_info["max_vcpus"] = max_vcpus;
    if (x.vcpus) {
        json avail = json::array();
        for (std::uint32_t i = 0; i < cfg.vcpus; ++i) avail.push_back(i);
        b_info["avail_vcpus"] = std::move(avail);
    }
    if (host) {
        if (!cfg.vcpu_hard_affinity.empty()) {
            json hard = affinity_json(cfg.vcpu_hard_affinity, max_vcpus, *host);
            if (!hard.empty()) b_info["vcpu_hard_affinity"] = std::move(hard);
        }
        if (!cfg.vcpu_soft_affinity.empty()) {
            json soft = affinity_json(cfg.vcpu_soft_affinity, max_vcpus, *host);
            if (!soft.empty()) b_info["vcpu_soft_affinity"] = std::move(soft);
        }
    }
    // xl turns NUMA placement off for a list of hard maps and for any soft one.
    if ((cfg.cpus && cfg.cpus->is_list()) || cfg.cpus_soft) b_info["numa_placement"] = defbool(false);
    if (x.memory || x.maxmem) b_info["max_memkb"] = cfg.maxmem_mib * 1024;
    if (x.memory) b_info["target_memkb"] = cfg.memory_mib * 1024;
    if (x.nomigrate) b_info["disable_migrate"] = defbool(*x.nomigrate);
    if (x.max_grant_frames) b_info["max_grant_frames"] = cfg.max_grant_frames;
    if (x.max_maptrack_frames) b_info["max_maptrack_frames"] = cfg.max_maptrack_frames;
    json sched = json::object();
    const std::pair<const char*, const std::optional<std::int64_t>*> params[] = {
        {"weight", &x.weight},       {"cap", &x.cap},     {"period", &x.period},
        {"extratime", &x.extratime}, {"slice", &x.slice}, {"latency", &x.latency}};
    for (auto [key, value] : params)
        if (*value && **value != -1) sched[key] = **value;  // -1: libxl's "default"
    b_info["sched_params"] = std::move(sched);
    b_info["claim_mode"] = defbool(true);  // xl.conf's default
    if (x.max_event_channels) b_info["event_channels"] = cfg.max_event_channels;
    if (cfg.kernel) b_info["kernel"] = valid_utf8(*cfg.kernel);
    if (cfg.cmdline) b_info["cmdline"] = valid_utf8(*cfg.cmdline);
    if (cfg.ramdisk) b_info["ramdisk"] = valid_utf8(*cfg.ramdisk);
    if (x.acpi) b_info["acpi"] = defbool(*x.acpi);
    if (x.bootloader) b_info["bootloader"] = valid_utf8(*x.bootloader);
    if (x.bootloader_args) {
        json args = json::array();
        for (const std::string& a : *x.bootloader_args) args.push_back(valid_utf8(a));
        b_info["bootloader_args"] = std::move(args);
    }
    if (x.nestedhvm) b_info["nested_hvm"] = defbool(*x.nestedhvm);
    if (x.apic) b_info["apic"] = defbool(*x.apic);

    json u = json::object();
    if (cfg.type == DomainType::hvm) {
        if (cfg.firmware_override) u["firmware"] = valid_utf8(*cfg.firmware_override);
        if (x.pae) u["pae"] = defbool(*x.pae);
        if (x.viridian) u["viridian"] = defbool(*x.viridian);
        if (x.hpet) u["hpet"] = defbool(*x.hpet);
        // libxl_vga/vnc/sdl/spice/rdm are structs: printed even when empty.
        for (const char* k : {"vga", "vnc", "sdl", "spice", "rdm"}) u[k] = json::object();
        json& vnc = u["vnc"];
        if (x.vnc) vnc["enable"] = defbool(*x.vnc);
        if (x.vnclisten) vnc["listen"] = valid_utf8(*x.vnclisten);
        if (x.vncpasswd) vnc["passwd"] = valid_utf8(*x.vncpasswd);
        if (x.vncdisplay && *x.vncdisplay != 0) vnc["display"] = *x.vncdisplay;  // 0: default
        if (x.vncunused) vnc["findunused"] = defbool(*x.vncunused);
        if (x.serial) u["serial"] = valid_utf8(*x.serial);
        if (x.boot) u["boot"] = valid_utf8(*x.boot);
    }
    b_info[std::string("type.") + std::string(to_string(cfg.type))] = std::move(u);
    b_info["arch_arm"] = json::object();
    b_info["arch_x86"] = json::object();

    json j = json::object();
    j["c_info"] = std::move(c_info);
    j["b_info"] = std::move(b_info);
    if (!cfg.disks.empty()) {
        json disks = json::array();
        for (const DiskConfig& d : cfg.disks) disks.push_back(disk_json(d));
        j["disks"] = std::move(disks);
    }
    if (!cfg.nics.empty()) {
        json nics = json::array();
        for (const NicConfig& n : cfg.nics) nics.push_back(nic_json(n));
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
        json x_own = json::object();
        x_own["global_virqs"] = cfg.global_virqs;
        j["xenolith"] = std::move(x_own);
    }
    return j;
}

std::string libxl_json_text(const json& v) {
    std::string out;
    put(out, v, "", 0);
    out += '\n';  // yajl's final newline once the top-level value is complete
    return out;
}

json disk_to_json(const DiskConfig& disk) { return disk_json(disk); }

std::string disk_to_libxl_json(const DiskConfig& disk) {
    std::string out;
    put(out, disk_json(disk), "disks", 0);
    out += '\n';
    return out;
}

json nic_to_json(const NicConfig& nic) { return nic_json(nic); }

std::string nic_to_libxl_json(const NicConfig& nic, bool devid_given) {
    json j = nic_json(nic);
    if (!devid_given) j.erase("devid");
    std::string out;
    put(out, j, "nics", 0);
    out += '\n';
    return out;
}

std::string to_libxl_json(const DomainConfig& cfg, const HostTopology* host) {
    return libxl_json_text(to_json(cfg, host));
}

}  // namespace xenolith::config
