// The device requests: block-attach, block-detach, block-list,
// network-attach, network-detach, network-list, cd-insert (cd-eject is a
// cd-insert without media), and the disks and vifs of a create request. xl parses a disk spec to print its errors and -N's JSON; the
// daemon parses it again (xl is a client, not trusted) and opens nothing
// the client could not (ActAsCaller).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "base/unique_fd.hpp"
#include "control/libxl_compat.hpp"
#include "daemon/caller.hpp"
#include "daemon/request_util.hpp"
#include "toolstack/config/disk.hpp"
#include "toolstack/config/nic.hpp"
#include "xenstore/domain_nodes.hpp"

namespace xenolith::daemon {

using nlohmann::json;

namespace {

constexpr int kLibxlFail = -3;   // ERROR_FAIL
constexpr int kLibxlInval = -6;  // ERROR_INVAL

json failed(std::vector<std::string> log, int libxl_rc = kLibxlFail) {
    return {{"ok", false}, {"error", log.empty() ? std::string() : log.back()},
            {"log", std::move(log)}, {"rc", 1}, {"libxl_rc", libxl_rc}};
}

std::string libxl_error(const char* where, std::uint64_t domid, const std::string& msg) {
    return control::libxl_log_line("error", where, domid, msg);
}

// libxl__domain_type for a domid no domain has.
std::string no_domain_type(std::uint32_t domid) {
    return libxl_error("libxl_dom.c:37:libxl__domain_type", control::kNoDomid,
                       fmt::format("unable to get domain type for domid={}", domid));
}

std::shared_ptr<domain::Domain> guest(Hypervisor& hv, std::uint32_t domid) {
    if (!control::is_guest_domid(domid)) return nullptr;
    return hv.domains().get(static_cast<domid_t>(domid));
}

Result<config::DiskConfig> parse_spec(const std::string& spec) {
    config::DiskConfig d;
    config::SpecIssues issues;
    if (!config::parse_disk_spec(spec, d, issues))
        return make_error(fmt::format("config parsing error in disk specification: {} in `{}'",
                                      issues.error ? issues.error->message : "invalid", spec));
    return d;
}

std::string where_prefix(const config::DiskConfig& d) {
    if (d.where.file.empty()) return {};
    return fmt::format("{}:{}:{}: ", d.where.file, d.where.line, d.where.column);
}

}  // namespace

std::optional<toolstack::Credentials> caller_credentials() {
    const Caller* c = current_caller();
    if (!c) return std::nullopt;
    return *c;
}

Result<std::vector<config::DiskConfig>> parse_request_disks(const json& req) {
    std::vector<config::DiskConfig> out;
    const auto it = req.find("disks");
    if (it == req.end()) return out;
    if (!it->is_array()) return make_error("create: disks must be a list");
    for (const json& entry : *it) {
        if (!entry.is_object() || !entry.contains("spec") || !entry["spec"].is_string())
            return make_error("create: each disk needs its spec");
        auto d = parse_spec(entry["spec"].get<std::string>());
        if (!d) return make_error("create: " + d.error().what);
        d->where.file = entry.value("file", std::string());
        d->where.line = entry.value("line", 0u);
        d->where.column = entry.value("column", 0u);
        for (const auto& other : out)
            if (other.device_number == d->device_number)
                return make_error(fmt::format("{}disk '{}': another disk is device {} too",
                                              where_prefix(*d), d->vdev, d->device_number));
        out.push_back(std::move(*d));
    }
    return out;
}

Result<std::vector<config::NicConfig>> parse_request_nics(const json& req) {
    std::vector<config::NicConfig> out;
    const auto it = req.find("nics");
    if (it == req.end()) return out;
    if (!it->is_array()) return make_error("create: nics must be a list");
    for (const json& entry : *it) {
        if (!entry.is_object() || !entry.contains("spec") || !entry["spec"].is_string() ||
            !entry.contains("devid") || !entry["devid"].is_number_unsigned())
            return make_error("create: each vif needs its spec and devid");
        config::NicConfig n;
        n.spec = entry["spec"].get<std::string>();
        n.where.file = entry.value("file", std::string());
        n.where.line = entry.value("line", 0u);
        n.where.column = entry.value("column", 0u);
        const std::uint64_t devid = entry["devid"].get<std::uint64_t>();
        if (devid > INT32_MAX) return make_error("create: a vif's devid is out of range");
        n.devid = static_cast<std::uint32_t>(devid);
        bool devid_given = false;
        std::size_t bridge_offset = 0;
        config::SpecIssues issues;
        if (!config::parse_nic_spec(n.spec, n, devid_given, bridge_offset, issues)) {
            const std::string at = n.where.file.empty()
                                       ? std::string()
                                       : fmt::format("{}:{}:{}: ", n.where.file, n.where.line,
                                                     n.where.column + issues.error->offset);
            return make_error(fmt::format("create: {}vif: {}", at, issues.error->message));
        }
        for (const auto& other : out)
            if (other.devid == n.devid)
                return make_error(fmt::format("create: vif devid {} is given twice", n.devid));
        out.push_back(std::move(n));
    }
    return out;
}

// The image must be one the client could open itself, for reading and, for
// a writable disk, writing. A target that a hotplug script interprets (an
// iSCSI name, say) is the script's business; an empty cdrom has none.
Status check_disk_access(const config::DiskConfig& d) {
    if (d.script || !d.target || d.target->empty()) return ok_status();
    const ActAsCaller as(current_caller());
    if (!as.ok()) return make_error("cannot take on the caller's credentials");
    const int mode = d.readwrite ? O_RDWR : O_RDONLY;
    UniqueFd fd(::open(d.target->c_str(), mode | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (!fd.valid())
        return make_error(fmt::format("{}disk '{}': {}: {}", where_prefix(d), d.vdev, *d.target,
                                      std::strerror(errno)));
    return ok_status();
}

namespace {

// libxl_device_disk_add, as xl block-attach calls it.
json block_attach(Hypervisor& hv, const json& req) {
    const auto domid = request_domid(req);
    if (!domid || !req.contains("spec") || !req["spec"].is_string())
        return fail("block-attach: a domid and a disk spec are required");
    auto disk = parse_spec(req["spec"].get<std::string>());
    if (!disk) return failed({"command line: " + disk.error().what}, kLibxlInval);
    if (*domid == 0)
        return failed({"xenolith: domain 0 is the host; disks are attached to guests only"});
    auto d = guest(hv, *domid);
    if (!d)
        return failed({no_domain_type(*domid),
                       libxl_error("libxl_device.c:1486:device_addrm_aocomplete",
                                   control::kNoDomid, "unable to add device")});
    const std::string add_failed = fmt::format("Unable to add vbd with id {}", disk->device_number);
    if (auto st = check_disk_access(*disk); !st)
        return failed({libxl_error("libxl_disk.c:device_disk_add", *domid, st.error().what),
                       libxl_error("libxl_device.c:1481:device_addrm_aocomplete", *domid,
                                   add_failed)});
    if (auto st = hv.toolstack().attach_disk(d->domid(), *disk, caller_credentials()); !st)
        return failed({libxl_error("libxl_disk.c:device_disk_add", *domid, st.error().what),
                       libxl_error("libxl_device.c:1481:device_addrm_aocomplete", *domid,
                                   add_failed)});
    return {{"ok", true}, {"log", json::array()}};
}

// libxl_vdev_to_device_disk, then libxl_device_disk_safe_remove/destroy.
json block_detach(Hypervisor& hv, const json& req) {
    const auto domid = request_domid(req);
    if (!domid || !req.contains("vdev") || !req["vdev"].is_string())
        return fail("block-detach: a domid and a device are required");
    const auto devid = config::disk_device_number(req["vdev"].get<std::string>());
    auto d = guest(hv, *domid);
    if (!devid || !d || !hv.toolstack().detach_disk(d->domid(), *devid))
        return {{"ok", false}, {"not_connected", true}, {"rc", 1}, {"error", ""}};
    return {{"ok", true}};
}

std::optional<std::string> read(Hypervisor& hv, const std::string& path) {
    return hv.xenstore().read(path);
}

// libxl_device_disk_list + libxl_device_disk_getinfo: what xenstore says,
// the front-end's figures as strtoul reads them (-1 when absent).
json block_list(Hypervisor& hv, const json& req) {
    const auto domid = request_domid(req);
    if (!domid) return fail("block-list: a domid is required");
    const std::string dir = fmt::format("/libxl/{}/device/vbd", *domid);
    const xenstore::Reply r = hv.xenstore().request(xenstore::make_request(XS_DIRECTORY, {dir}));
    json rows = json::array();
    if (r.type == XS_ERROR) return {{"ok", true}, {"disks", rows}};
    auto number = [&](const std::string& path) -> long long {
        auto v = read(hv, path);
        if (!v) return -1;
        return static_cast<int>(std::strtoul(v->c_str(), nullptr, 10));
    };
    std::string_view names = r.payload;
    while (!names.empty()) {
        const auto nul = names.find('\0');
        const std::string name(names.substr(0, nul));
        names.remove_prefix(nul == std::string_view::npos ? names.size() : nul + 1);
        if (name.empty()) continue;
        const std::string libxl_path = dir + "/" + name;
        auto backend = read(hv, libxl_path + "/backend");
        if (!backend) continue;  // getinfo fails: the row is left out
        // libxl__backendpath_parse_domid: /local/domain/<be>/...
        unsigned backend_id = 0;
        if (std::sscanf(backend->c_str(), "/local/domain/%u/", &backend_id) != 1) continue;
        const std::string fe = fmt::format("/local/domain/{}/device/vbd/{}", *domid, name);
        rows.push_back({{"devid", static_cast<int>(std::strtoul(name.c_str(), nullptr, 10))},
                        {"backend_id", backend_id},
                        {"frontend_id", *domid},
                        {"state", number(fe + "/state")},
                        {"evtch", number(fe + "/event-channel")},
                        {"rref", number(fe + "/ring-ref")},
                        {"backend", *backend}});
    }
    return {{"ok", true}, {"disks", rows}};
}

// libxl_device_nic_list + libxl_device_nic_getinfo: the vifs under the
// libxl path, each with the MAC of libxl's copy and the front-end's figures.
json network_list(Hypervisor& hv, const json& req) {
    const auto domid = request_domid(req);
    if (!domid) return fail("network-list: a domid is required");
    const std::string dir = fmt::format("/libxl/{}/device/vif", *domid);
    const xenstore::Reply r = hv.xenstore().request(xenstore::make_request(XS_DIRECTORY, {dir}));
    json rows = json::array();
    if (r.type == XS_ERROR) return {{"ok", true}, {"nics", rows}};
    auto number = [&](const std::string& path) -> long long {
        auto v = read(hv, path);
        if (!v) return -1;
        return static_cast<int>(std::strtoul(v->c_str(), nullptr, 10));
    };
    std::string_view names = r.payload;
    while (!names.empty()) {
        const auto nul = names.find('\0');
        const std::string name(names.substr(0, nul));
        names.remove_prefix(nul == std::string_view::npos ? names.size() : nul + 1);
        if (name.empty()) continue;
        const std::string libxl_path = dir + "/" + name;
        auto backend = read(hv, libxl_path + "/backend");
        if (!backend) continue;
        unsigned backend_id = 0;
        if (std::sscanf(backend->c_str(), "/local/domain/%u/", &backend_id) != 1) continue;
        std::string why;
        auto mac_text = read(hv, libxl_path + "/mac");
        auto mac = mac_text ? config::parse_mac(*mac_text, why) : std::nullopt;
        const std::string fe = fmt::format("/local/domain/{}/device/vif/{}", *domid, name);
        rows.push_back({{"devid", static_cast<int>(std::strtoul(name.c_str(), nullptr, 10))},
                        {"backend_id", backend_id},
                        {"mac", mac ? config::to_string(*mac) : "00:00:00:00:00:00"},
                        {"state", number(fe + "/state")},
                        {"evtch", number(fe + "/event-channel")},
                        {"rref_tx", number(fe + "/tx-ring-ref")},
                        {"rref_rx", number(fe + "/rx-ring-ref")},
                        {"backend", *backend}});
    }
    return {{"ok", true}, {"nics", rows}};
}

// libxl_device_nic_add, as xl network-attach calls it: the arguments
// parsed again, the daemon's xl.conf defaults, the next devid unless
// devid= was given.
json network_attach(Hypervisor& hv, const json& req) {
    const auto domid = request_domid(req);
    if (!domid || !req.contains("args") || !req["args"].is_array())
        return fail("network-attach: a domid and the vif's settings are required");
    config::NicConfig nic;
    bool devid_given = false;
    for (const json& arg : req["args"]) {
        if (!arg.is_string()) return fail("network-attach: each setting is a string");
        config::SpecIssues issues;
        if (!config::parse_nic_argument(arg.get<std::string>(), nic, devid_given, issues))
            return failed({issues.error->message}, kLibxlInval);
    }
    if (*domid == 0)
        return failed({"xenolith: domain 0 is the host; vifs are attached to guests only"});
    auto d = guest(hv, *domid);
    if (!d)
        return failed({no_domain_type(*domid),
                       libxl_error("libxl_device.c:1486:device_addrm_aocomplete",
                                   control::kNoDomid, "unable to add device")});
    auto attached = hv.toolstack().attach_nic(d->domid(), nic, devid_given);
    if (!attached) {
        return failed({libxl_error("libxl_nic.c:libxl__device_nic_add", *domid,
                                   attached.error().what),
                       libxl_error("libxl_device.c:1481:device_addrm_aocomplete", *domid,
                                   fmt::format("Unable to add vif with id {}", nic.devid))});
    }
    return {{"ok", true}, {"log", json::array()}, {"devid", attached->devid},
            {"mac", config::to_string(*attached->mac)}};
}

// libxl_devid_to_device_nic / libxl_mac_to_device_nic, then
// libxl_device_nic_remove.
json network_detach(Hypervisor& hv, const json& req) {
    const auto domid = request_domid(req);
    if (!domid || !(req.contains("devid") || req.contains("mac")))
        return fail("network-detach: a domid and a devid or MAC are required");
    const json unknown{{"ok", false}, {"unknown_device", true}, {"rc", 1}, {"error", ""}};
    auto d = guest(hv, *domid);
    if (!d) return unknown;
    std::optional<std::uint32_t> devid;
    if (req.contains("mac") && req["mac"].is_string()) {
        std::string why;
        if (auto mac = config::parse_mac(req["mac"].get<std::string>(), why))
            devid = hv.toolstack().vifs().devid_of_mac(d->domid(), *mac);
    } else if (req["devid"].is_number_integer() && req["devid"].get<std::int64_t>() >= 0 &&
               req["devid"].get<std::int64_t>() <= INT32_MAX) {
        devid = static_cast<std::uint32_t>(req["devid"].get<std::int64_t>());
    }
    if (!devid || !hv.toolstack().detach_nic(d->domid(), *devid)) return unknown;
    return {{"ok", true}};
}

// libxl_cdrom_insert: HVM guests only, a drive the domain has as cdrom.
json cd_insert(Hypervisor& hv, const json& req) {
    const auto domid = request_domid(req);
    if (!domid || !req.contains("spec") || !req["spec"].is_string())
        return fail("cd-insert: a domid and a disk spec are required");
    auto media = parse_spec(req["spec"].get<std::string>());
    if (!media) return failed({"command line: " + media.error().what}, kLibxlInval);
    auto d = guest(hv, *domid);
    if (!d) return failed({no_domain_type(*domid)});
    if (d->identity().type != domain::GuestType::hvm)
        return failed({libxl_error("libxl_disk.c:838:libxl_cdrom_insert", *domid,
                                   "cdrom-insert requires an HVM domain")},
                      kLibxlInval);
    if (auto st = check_disk_access(*media); !st)
        return failed({libxl_error("libxl_disk.c:libxl_cdrom_insert", *domid, st.error().what)});
    if (auto st = hv.toolstack().change_media(d->domid(), *media); !st) {
        const bool unknown = st.error().what == "Virtual device not found";
        return failed({libxl_error(unknown ? "libxl_disk.c:866:libxl_cdrom_insert"
                                           : "libxl_disk.c:libxl_cdrom_insert",
                                   *domid, st.error().what)});
    }
    return {{"ok", true}, {"log", json::array()}};
}

constexpr RequestHandler kDeviceRequests[] = {
    {"block-attach", block_attach},
    {"block-detach", block_detach},
    {"block-list", block_list},
    {"cd-insert", cd_insert},
    {"network-attach", network_attach},
    {"network-detach", network_detach},
    {"network-list", network_list},
};

}  // namespace

std::span<const RequestHandler> device_requests() { return kDeviceRequests; }

}  // namespace xenolith::daemon
