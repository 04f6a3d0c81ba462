#include "toolstack/daemon/xenbus_nodes.hpp"

#include <charconv>
#include <string_view>

#include "xenstore/server.hpp"
#include "xenstore/wire.hpp"

namespace xenolith::toolstack {

using xenstore::kPermNone;
using xenstore::kPermRead;
using xenstore::Perms;
using xenstore::XsErr;

namespace {
constexpr domid_t kToolstackDomid = 0;  // LIBXL_TOOLSTACK_DOMID
}  // namespace

std::string domain_home(domid_t domid) { return "/local/domain/" + std::to_string(domid); }

std::string xen_script_path(const std::string& script) {
    if (!script.empty() && script.front() == '/') return script;
    return std::string(kXenScriptDir) + "/" + script;
}

void generic_device_nodes(DeviceNodes& n, const std::string& kind,
                          const std::string& backend_kind, const XenstoreKeys& back,
                          const XenstoreKeys& front, const XenstoreKeys& ro_front) {
    const std::string id = std::to_string(n.devid);
    const std::string domid = std::to_string(n.frontend_domid);
    n.frontend_path = domain_home(n.frontend_domid) + "/device/" + kind + "/" + id;
    n.backend_path = domain_home(n.backend_domid) + "/backend/" + backend_kind + "/" + domid + "/" + id;
    n.libxl_path = "/libxl/" + domid + "/device/" + kind + "/" + id;

    const Perms toolstack_only{{kToolstackDomid, kPermNone}};
    const Perms frontend_perms{{n.frontend_domid, kPermNone}, {n.backend_domid, kPermRead}};
    const Perms backend_perms{{n.backend_domid, kPermNone}, {n.frontend_domid, kPermRead}};

    auto& w = n.writes;
    w.clear();
    w.push_back({n.libxl_path, "", toolstack_only});
    w.push_back({n.libxl_path + "/frontend", n.frontend_path, toolstack_only});
    w.push_back({n.libxl_path + "/backend", n.backend_path, toolstack_only});
    w.push_back({n.frontend_path, "", frontend_perms});
    w.push_back({n.frontend_path + "/backend", n.backend_path, frontend_perms});
    for (const auto& [k, v] : front) w.push_back({n.frontend_path + "/" + k, v, frontend_perms});
    // Same owner and reader as the back-end's nodes: the guest reads them only.
    for (const auto& [k, v] : ro_front) w.push_back({n.frontend_path + "/" + k, v, backend_perms});
    w.push_back({n.backend_path, "", backend_perms});
    w.push_back({n.backend_path + "/frontend", n.frontend_path, backend_perms});
    for (const auto& [k, v] : back) w.push_back({n.backend_path + "/" + k, v, backend_perms});
    // The copy libxl keeps so that it need not trust the back-end.
    for (const auto& [k, v] : back) w.push_back({n.libxl_path + "/" + k, v, toolstack_only});
}

bool writes_fit_xenstore(const DeviceNodes& n) {
    for (const auto& x : n.writes) {
        if (x.path.size() + 1 + x.value.size() > XENSTORE_PAYLOAD_MAX) return false;
    }
    return true;
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

XsErr apply_device_nodes(xenstore::Server& server, xenstore::Connection& conn,
                         const DeviceNodes& nodes) {
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

XsErr remove_device_nodes(xenstore::Server& server, xenstore::Connection& conn,
                          const DeviceNodes& nodes) {
    return in_transaction(server, conn, [&](Txn& t) {
        const std::string libxl_home = "/libxl/" + std::to_string(nodes.frontend_domid);
        const std::pair<const std::string*, std::string> paths[] = {
            {&nodes.frontend_path, domain_home(nodes.frontend_domid)},
            {&nodes.backend_path, domain_home(nodes.backend_domid)},
            {&nodes.libxl_path, libxl_home},
        };
        for (const auto& [path, floor] : paths) {
            if (XsErr e = path_cleanup(t, *path, floor); e != XsErr::ok) return e;
        }
        return XsErr::ok;
    });
}

std::uint32_t next_device_id(xenstore::Server& server, xenstore::Connection& conn,
                             domid_t domid, const std::string& kind) {
    Txn t(server, conn);
    auto r = t.send(XS_DIRECTORY, "/libxl/" + std::to_string(domid) + "/device/" + kind + '\0');
    if (r.type == XS_ERROR) return 0;
    std::uint32_t next = 0;
    std::string_view rest = r.payload;
    while (!rest.empty()) {
        auto nul = rest.find('\0');
        std::string_view name = rest.substr(0, nul);
        std::uint32_t v = 0;
        auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), v);
        if (ec == std::errc{} && end == name.data() + name.size() && v >= next && v != UINT32_MAX) {
            next = v + 1;
        }
        if (nul == std::string_view::npos) break;
        rest.remove_prefix(nul + 1);
    }
    return next;
}

}  // namespace xenolith::toolstack
