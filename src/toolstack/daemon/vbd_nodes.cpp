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
using xenstore::kPermNone;
using xenstore::kPermRead;
using xenstore::Perms;
using xenstore::XsErr;

constexpr domid_t kToolstackDomid = 0;  // LIBXL_TOOLSTACK_DOMID
constexpr const char* kInitialising = "1";  // XenbusStateInitialising

std::string home(domid_t domid) { return "/local/domain/" + std::to_string(domid); }

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

// libxl__abs_path: a relative script name is looked up in Xen's script dir.
std::string script_path(const std::optional<std::string>& script) {
    std::string s = script.value_or("block");
    if (!s.empty() && s.front() == '/') return s;
    return std::string(kXenScriptDir) + "/" + s;
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
    n.frontend_path = home(domid) + "/device/vbd/" + id;
    n.backend_path = home(backend_domid) + "/backend/" + kind + "/" + std::to_string(domid) + "/" + id;
    n.libxl_path = "/libxl/" + std::to_string(domid) + "/device/vbd/" + id;

    // libxl__device_generic_add's three permission sets.
    const Perms toolstack_only{{kToolstackDomid, kPermNone}};
    const Perms frontend_perms{{domid, kPermNone}, {backend_domid, kPermRead}};
    const Perms backend_perms{{backend_domid, kPermNone}, {domid, kPermRead}};

    std::vector<std::pair<std::string, std::string>> back;
    if (*backend == DiskBackendType::phy) {
        back.emplace_back("params", disk.target.value_or(""));
        back.emplace_back("script", script_path(disk.script));
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

    const std::vector<std::pair<std::string, std::string>> front{
        {"backend-id", std::to_string(backend_domid)},
        {"state", kInitialising},
        {"virtual-device", id},
        {"device-type", disk.is_cdrom ? "cdrom" : "disk"},
        {"trusted", disk.trusted.value_or(true) ? "1" : "0"},
    };

    auto& w = n.writes;
    w.push_back({n.libxl_path, "", toolstack_only});
    w.push_back({n.libxl_path + "/frontend", n.frontend_path, toolstack_only});
    w.push_back({n.libxl_path + "/backend", n.backend_path, toolstack_only});
    w.push_back({n.frontend_path, "", frontend_perms});
    w.push_back({n.frontend_path + "/backend", n.backend_path, frontend_perms});
    for (const auto& [k, v] : front) w.push_back({n.frontend_path + "/" + k, v, frontend_perms});
    w.push_back({n.backend_path, "", backend_perms});
    w.push_back({n.backend_path + "/frontend", n.frontend_path, backend_perms});
    for (const auto& [k, v] : back) w.push_back({n.backend_path + "/" + k, v, backend_perms});
    // The copy libxl keeps so that it need not trust the back-end.
    for (const auto& [k, v] : back) w.push_back({n.libxl_path + "/" + k, v, toolstack_only});
    // A WRITE carries "path\0value" in one message: a target too long for
    // that is refused here, not half-written.
    for (const auto& x : w) {
        if (x.path.size() + 1 + x.value.size() > XENSTORE_PAYLOAD_MAX) {
            return refuse(disk, "target is too long for xenstore");
        }
    }
    return n;
}

namespace {

XsErr err_from_reply(const xenstore::Reply& r) {
    if (r.type != XS_ERROR) return XsErr::ok;
    std::string_view name = r.payload;
    if (!name.empty() && name.back() == '\0') name.remove_suffix(1);
    for (XsErr e : {XsErr::inval, XsErr::acces, XsErr::exist, XsErr::isdir, XsErr::noent,
                    XsErr::nomem, XsErr::nospc, XsErr::io, XsErr::notempty, XsErr::nosys,
                    XsErr::rofs, XsErr::busy, XsErr::again, XsErr::isconn, XsErr::toobig,
                    XsErr::perm}) {
        if (xenstore::error_name(e) == name) return e;
    }
    return XsErr::io;
}

// Requests within one transaction over the toolstack's connection.
class Txn {
public:
    Txn(xenstore::Server& s, xenstore::Connection& c) : s_(s), c_(c) {}

    xenstore::Reply send(std::uint32_t type, std::string payload) {
        xenstore::Message m;
        m.type = type;
        m.tx_id = tx_;
        m.payload = std::move(payload);
        xenstore::Reply r = s_.handle(c_, m);
        s_.reply_sent(c_);
        return r;
    }
    XsErr start() {
        tx_ = 0;
        auto r = send(XS_TRANSACTION_START, std::string(1, '\0'));
        if (XsErr e = err_from_reply(r); e != XsErr::ok) return e;
        tx_ = static_cast<std::uint32_t>(std::stoul(r.payload));
        return XsErr::ok;
    }
    XsErr end(bool commit) {
        auto r = send(XS_TRANSACTION_END, commit ? std::string("T\0", 2) : std::string("F\0", 2));
        tx_ = 0;
        return err_from_reply(r);
    }
    XsErr rm(const std::string& path) { return err_from_reply(send(XS_RM, path + '\0')); }
    XsErr write(const std::string& path, const std::string& value) {
        return err_from_reply(send(XS_WRITE, path + '\0' + value));
    }
    XsErr set_perms(const std::string& path, const Perms& perms) {
        return err_from_reply(send(XS_SET_PERMS, path + '\0' + xenstore::perms_to_wire(perms)));
    }
    // Whether `path` is an empty node with no children (libxl__xs_path_cleanup's test).
    bool empty_leaf(const std::string& path) {
        auto v = send(XS_READ, path + '\0');
        if (v.type == XS_ERROR || !v.payload.empty()) return false;
        auto d = send(XS_DIRECTORY, path + '\0');
        return d.type != XS_ERROR && d.payload.empty();
    }

private:
    xenstore::Server& s_;
    xenstore::Connection& c_;
    std::uint32_t tx_ = 0;
};

// A transaction that loses a race is retried, as libxl does; a bounded
// number of times, so a busy store cannot keep the caller forever.
constexpr int kMaxAttempts = 16;

template <class Body>
XsErr in_transaction(xenstore::Server& server, xenstore::Connection& conn, Body&& body) {
    Txn t(server, conn);
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
        if (XsErr e = t.start(); e != XsErr::ok) return e;
        if (XsErr e = body(t); e != XsErr::ok) {
            (void)t.end(false);
            return e;
        }
        XsErr e = t.end(true);
        if (e != XsErr::again) return e;
    }
    return XsErr::again;
}

// rm, then parents left with no value and no children, as
// libxl__xs_path_cleanup, but never `floor` or above it: libxl's walk stops
// at a domain's home in practice because homes hold name, domid etc.; here
// that is a rule, so an otherwise empty home is not removed with its disk.
XsErr path_cleanup(Txn& t, std::string path, std::string_view floor) {
    if (XsErr e = t.rm(path); e != XsErr::ok) return e;
    for (auto slash = path.rfind('/'); slash != std::string::npos && slash > floor.size();
         slash = path.rfind('/')) {
        path.resize(slash);
        if (!t.empty_leaf(path)) break;
        if (XsErr e = t.rm(path); e != XsErr::ok) return e;
    }
    return XsErr::ok;
}

}  // namespace

XsErr apply_vbd_nodes(xenstore::Server& server, xenstore::Connection& conn,
                      const VbdNodes& nodes) {
    return in_transaction(server, conn, [&](Txn& t) {
        for (const auto* p : {&nodes.libxl_path, &nodes.frontend_path, &nodes.backend_path}) {
            if (XsErr e = t.rm(*p); e != XsErr::ok && e != XsErr::noent) return e;
        }
        for (const auto& w : nodes.writes) {
            if (XsErr e = t.write(w.path, w.value); e != XsErr::ok) return e;
            if (XsErr e = t.set_perms(w.path, w.perms); e != XsErr::ok) return e;
        }
        return XsErr::ok;
    });
}

XsErr remove_vbd_nodes(xenstore::Server& server, xenstore::Connection& conn,
                       const VbdNodes& nodes) {
    return in_transaction(server, conn, [&](Txn& t) {
        const std::string libxl_home = "/libxl/" + std::to_string(nodes.frontend_domid);
        const std::pair<const std::string*, std::string> paths[] = {
            {&nodes.frontend_path, home(nodes.frontend_domid)},
            {&nodes.backend_path, home(nodes.backend_domid)},
            {&nodes.libxl_path, libxl_home},
        };
        for (const auto& [path, floor] : paths) {
            if (XsErr e = path_cleanup(t, *path, floor); e != XsErr::ok) return e;
        }
        return XsErr::ok;
    });
}

}  // namespace xenolith::toolstack
