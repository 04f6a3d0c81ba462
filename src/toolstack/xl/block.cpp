// xl block-attach, block-list, block-detach (Xen 4.17 tools/xl/xl_block.c).
#include <cstdio>
#include <cstdlib>

#include "control/libxl_compat.hpp"
#include "toolstack/config/disk.hpp"
#include "toolstack/config/json.hpp"
#include "toolstack/xl/xl.hpp"

namespace xenolith::xl {

namespace {

// libxl_domain_qualifier_to_domid as block-attach and block-list call it:
// their own message ("<q> is an invalid domain identifier", no rc) for a
// name no domain has. nullopt then, or when the daemon is not there
// (`unreachable`).
std::optional<std::uint32_t> qualifier(const std::string& q, bool& unreachable) {
    if (const auto domid = control::qualifier_domid(q)) return *domid;
    auto d = find_domain(q);
    if (!d) {
        unreachable = true;
        return std::nullopt;
    }
    if (d->is_null()) {
        std::fprintf(stderr, "%s is an invalid domain identifier\n", q.c_str());
        return std::nullopt;
    }
    return (*d)["domid"].get<std::uint32_t>();
}

}  // namespace

// xl_parse.c parse_disk_config_multistring: the components are read as
// one spec; a bad one is reported as libxlu does and xl exits 1.
std::optional<config::DiskConfig> parse_disk_components(const std::vector<std::string>& parts) {
    std::string spec;
    for (const auto& p : parts) spec += (spec.empty() ? "" : ",") + p;
    config::DiskConfig disk;
    config::SpecIssues issues;
    if (!config::parse_disk_spec(spec, disk, issues)) {
        std::fprintf(stderr,
                     "command line: config parsing error in disk specification: %s in `%s'\n",
                     issues.error ? issues.error->message.c_str() : "invalid", spec.c_str());
        return std::nullopt;
    }
    return disk;
}

int cmd_block_attach(const Args& a) {
    int rc = 0;
    auto o = parse_options(a, "block-attach", "", {}, 2, rc);
    if (!o) return rc;
    bool unreachable = false;
    const auto domid = qualifier(o->args[0], unreachable);
    if (!domid) return 1;
    auto disk = parse_disk_components({o->args.begin() + 1, o->args.end()});
    if (!disk) return 1;
    if (dryrun_only) {
        std::printf("disk: %s\n", config::disk_to_libxl_json(*disk).c_str());
        if (std::ferror(stdout) || std::fflush(stdout)) {
            std::perror("stdout");
            std::exit(-1);
        }
        return 0;
    }
    auto reply = request({{"cmd", "block-attach"}, {"domid", *domid}, {"spec", disk->spec}});
    if (!reply) return 1;
    print_log(*reply);
    if (!reply->value("ok", false)) {
        std::fprintf(stderr, "libxl_device_disk_add failed.\n");
        return 1;
    }
    return 0;
}

int cmd_block_list(const Args& a) {
    int rc = 0;
    auto o = parse_options(a, "block-list", "", {}, 1, rc);
    if (!o) return rc;
    std::fputs(control::block_list_header().c_str(), stdout);
    for (const std::string& q : o->args) {
        bool unreachable = false;
        const auto domid = qualifier(q, unreachable);
        if (unreachable) return 1;
        if (!domid) continue;
        auto reply = request({{"cmd", "block-list"}, {"domid", *domid}});
        if (!reply) return 1;
        if (!reply->value("ok", false)) continue;  // libxl_device_disk_list: NULL
        for (const auto& d : (*reply)["disks"]) {
            const control::DiskInfo info{d.value("devid", 0),      d.value("backend_id", 0),
                                         d.value("frontend_id", 0), d.value("state", -1),
                                         d.value("evtch", -1),      d.value("rref", -1),
                                         d.value("backend", std::string())};
            std::fputs(control::block_list_row(info).c_str(), stdout);
        }
    }
    return 0;
}

int cmd_block_detach(const Args& a) {
    int rc = 0;
    auto o = parse_options(a, "block-detach", "f", {{"force", 'f'}}, 2, rc);
    if (!o) return rc;
    const bool force = has_flag(*o, 'f');
    const std::uint32_t domid = domain_qualifier(o->args[0]);
    const std::string& vdev = o->args[1];
    auto reply = request({{"cmd", "block-detach"}, {"domid", domid}, {"vdev", vdev},
                          {"force", force}});
    if (!reply) return 1;
    if (reply->value("not_connected", false)) {
        std::fprintf(stderr, "Error: Device %s not connected.\n", vdev.c_str());
        return 1;
    }
    print_log(*reply);
    if (!reply->value("ok", false)) {
        std::fprintf(stderr, "libxl_device_disk_%s failed.\n", force ? "destroy" : "safe_remove");
        return 1;
    }
    return 0;
}

}  // namespace xenolith::xl
