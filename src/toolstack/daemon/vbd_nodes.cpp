#include "toolstack/daemon/vbd_nodes.hpp"

#include <string_view>
#include <utility>

#include "xenstore/server.hpp"
#include "xenstore/wire.hpp"

namespace xenolith::toolstack {

namespace {

using config::DiskBackendType;
using config::DiskConfig;
using config::DiskFormat;
using xenstore::XsErr;

constexpr const char* kInitialising = "1";  // XenbusStateInitialising

// libxl__device_disk_string_of_format: the prefix of a qdisk's params.
std::string_view qdisk_format(DiskFormat f) {
    switch (f) {
    case DiskFormat::qcow: return "qcow";
    case DiskFormat::qcow2: return "qcow2";
    case DiskFormat::vhd: return "vhd";
    case DiskFormat::qed: return "qed";
    case DiskFormat::raw:
    case DiskFormat::empty: return "aio";
    }
    return "aio";
}

Error refuse(const DiskConfig& disk, std::string_view why) {
    return make_error("Disk vdev=" + disk.vdev + ": " + std::string(why));
}

// libxl__device_disk_set_backend without the stat: phy serves raw images
// (files and block devices alike, through the block script) and anything
// with script=; qdisk serves every format but accepts no script.
Result<DiskBackendType> resolve_backend(const DiskConfig& disk) {
    bool phy_ok = disk.format == DiskFormat::raw;
    bool qdisk_ok = !disk.script.has_value();
    switch (disk.backend_type) {
    case DiskBackendType::phy:
        if (!phy_ok) return refuse(disk, "no suitable backend (phy needs format raw)");
        return DiskBackendType::phy;
    case DiskBackendType::qdisk:
        if (!qdisk_ok) return refuse(disk, "no suitable backend (qdisk takes no script=)");
        return DiskBackendType::qdisk;
    case DiskBackendType::tap:
        return refuse(disk, "blktap is not supported");
    case DiskBackendType::standalone:
        return refuse(disk, "no suitable backend (standalone is for virtio disks)");
    case DiskBackendType::unknown:
        break;
    }
    if (phy_ok) return DiskBackendType::phy;
    if (qdisk_ok) return DiskBackendType::qdisk;
    return refuse(disk, "no suitable backend");
}

}  // namespace

Result<VbdNodes> vbd_nodes(const DiskConfig& disk, domid_t domid, domid_t backend_domid) {
    auto devid = config::disk_device_number(disk.vdev);
    if (!devid) return refuse(disk, "invalid or unsupported virtual disk identifier");
    if (disk.specification == config::DiskSpecification::virtio) {
        return refuse(disk, "virtio disks are not supported");
    }
    if (disk.format == DiskFormat::empty) {
        if (!disk.is_cdrom) return refuse(disk, "is empty but not cdrom");
        if (disk.target && !disk.target->empty()) {
            return refuse(disk, "is empty but an image has been provided: " + *disk.target);
        }
    } else if (!disk.target) {
        return refuse(disk, "has no target");
    }
    auto backend = resolve_backend(disk);
    if (!backend) return backend.error();

    VbdNodes n;
    n.frontend_domid = domid;
    n.backend_domid = backend_domid;
    n.devid = *devid;
    std::string id = std::to_string(*devid);
    std::string kind = *backend == DiskBackendType::qdisk ? "qdisk" : "vbd";

    XenstoreKeys back;
    if (*backend == DiskBackendType::phy) {
        back.emplace_back("params", disk.target.value_or(""));
        back.emplace_back("script", xen_script_path(disk.script.value_or("block")));
    } else {
        back.emplace_back("params", std::string(qdisk_format(disk.format)) + ":" +
                                        disk.target.value_or(""));
    }
    back.emplace_back("frontend-id", std::to_string(domid));
    back.emplace_back("online", "1");
    back.emplace_back("removable", disk.removable ? "1" : "0");
    back.emplace_back("bootable", "1");
    back.emplace_back("state", kInitialising);
    back.emplace_back("dev", disk.vdev);
    back.emplace_back("type", *backend == DiskBackendType::qdisk ? "qdisk" : "phy");
    back.emplace_back("mode", disk.readwrite ? "w" : "r");
    back.emplace_back("device-type", disk.is_cdrom ? "cdrom" : "disk");
    if (disk.direct_io_safe) back.emplace_back("direct-io-safe", "1");
    back.emplace_back("discard-enable", disk.discard.value_or(disk.readwrite) ? "1" : "0");

    const XenstoreKeys front{
        {"backend-id", std::to_string(backend_domid)},
        {"state", kInitialising},
        {"virtual-device", id},
        {"device-type", disk.is_cdrom ? "cdrom" : "disk"},
        {"trusted", disk.trusted.value_or(true) ? "1" : "0"},
    };

    generic_device_nodes(n, "vbd", kind, back, front, {});
    // A WRITE carries "path\0value" in one message: a target too long for
    // that is refused here, not half-written.
    if (!writes_fit_xenstore(n)) return refuse(disk, "target is too long for xenstore");
    return n;
}

XsErr apply_vbd_nodes(xenstore::Server& server, xenstore::Connection& conn,
                      const VbdNodes& nodes) {
    return apply_device_nodes(server, conn, nodes);
}

XsErr remove_vbd_nodes(xenstore::Server& server, xenstore::Connection& conn,
                       const VbdNodes& nodes) {
    return remove_device_nodes(server, conn, nodes);
}

}  // namespace xenolith::toolstack
