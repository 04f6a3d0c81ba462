// Domain management requests: xl rename, sysrq, trigger, config-update and
// dump-core. Each names its domain by domid (xl resolves names first, as
// its find_domain does) and answers like the libxl call behind the xl
// command: "log" holds the lines libxl would have logged, "rc" libxl's
// error code where xl prints it.
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

extern "C" {
#include <xen/xen.h>
}

#include "control/libxl_compat.hpp"
#include "daemon/request_util.hpp"
#include "daemon/uuid.hpp"
#include "daemon/caller.hpp"
#include "domain/core_dump.hpp"
#include "domain/vcpu.hpp"
#include "xenstore/domain_nodes.hpp"

namespace xenolith::daemon {
namespace {

using nlohmann::json;
using domain::Domain;

constexpr int kLibxlFail = -3;     // ERROR_FAIL
constexpr int kLibxlInval = -6;    // ERROR_INVAL

std::string libxl_log(const char* where, std::uint32_t domid, const std::string& msg) {
    return control::libxl_log_line("error", where, domid, msg);
}

json failed(std::vector<std::string> log, int libxl_rc = kLibxlFail) {
    return {{"ok", false}, {"error", log.empty() ? std::string() : log.back()},
            {"log", std::move(log)}, {"rc", 1}, {"libxl_rc", libxl_rc}};
}

json succeeded(std::vector<std::string> log = {}) {
    return {{"ok", true}, {"log", std::move(log)}};
}

std::shared_ptr<Domain> guest(Hypervisor& hv, std::uint32_t domid) {
    if (!control::is_guest_domid(domid)) return nullptr;
    return hv.domains().get(static_cast<domid_t>(domid));
}

// libxl_domain_rename: the name must not be another domain's; the daemon's
// table, /local/domain/N/name and /vm/<uuid>/name all change.
json rename(Hypervisor& hv, const json& req) {
    const auto domid = request_domid(req);
    if (!domid || !req.contains("name") || !req["name"].is_string())
        return fail("rename: a domid and a new name are required");
    const std::string name = req["name"];
    if (*domid == 0)
        return failed({"xenolith: domain 0 is the host; its name cannot be changed"});
    auto d = guest(hv, *domid);
    if (!d) return failed({});  // libxl_domain_info: ERROR_DOMAIN_NOTFOUND, nothing logged
    if (name.empty() || name.size() > 64)
        return failed({"xenolith: a domain name of 1 to 64 characters is required"}, kLibxlInval);
    const std::string old_name = d->name();
    if (auto st = hv.toolstack().rename(d->domid(), name); !st)
        return failed({libxl_log("libxl_domain.c:81:libxl__domain_rename", *domid,
                                 st.error().what)},
                      kLibxlInval);
    const std::string home = xenstore::domain_home(d->domid());
    const std::string vm = "/vm/" + uuid_string(d->identity().uuid);
    if (hv.xenstore().write(home + "/name", name) != xenstore::XsErr::ok ||
        hv.xenstore().write(vm + "/name", name) != xenstore::XsErr::ok) {
        (void)hv.toolstack().rename(d->domid(), old_name);
        (void)hv.xenstore().write(home + "/name", old_name);
        return failed({libxl_log("libxl_domain.c:107:libxl__domain_rename", *domid,
                                 fmt::format("Failed to write new name `{}' for domain "
                                             "previously named `{}'",
                                             name, old_name))});
    }
    hv.log().append_line(fmt::format("(XEN) Domain {} renamed from {} to {}", d->domid(), old_name,
                                     name));
    return succeeded();
}

// libxl_send_sysrq: the key goes to ~/control/sysrq, where a PV guest's
// watch picks it up (Linux clears it after handling the key).
json sysrq(Hypervisor& hv, const json& req) {
    const auto domid = request_domid(req);
    if (!domid || !req.contains("key") || !req["key"].is_string())
        return fail("sysrq: a domid and a key are required");
    const std::string key = req["key"];
    if (key.size() != 1 || key[0] == '\0') return fail("Invalid sysrq.");
    // libxl writes under any domid it is given; for a domain that does not
    // exist xenolith writes nothing (xl's output and status are the same).
    if (*domid != 0 && !guest(hv, *domid)) return succeeded();
    const std::string node = xenstore::domain_home(static_cast<domid_t>(*domid)) +
                             "/control/sysrq";
    if (hv.xenstore().write(node, key) != xenstore::XsErr::ok)
        return failed({fmt::format("libxl: error: libxl_xshelp.c:96:libxl__xs_printf: failed to "
                                   "write key {}",
                                   node)});
    return succeeded();
}

// libxl_send_trigger -> XEN_DOMCTL_sendtrigger (xen/arch/x86/domctl.c) for a
// PVH/HVM domain: nmi sets the vCPU's NMI pending; power and sleep press
// an ACPI button, which does nothing without an emulated PM block (PVH has
// none, nor has xenolith's HVM); init and reset are -ENOSYS; a vCPU beyond
// the domain's is -ESRCH. s3resume needs a device model: ERROR_INVAL.
json trigger(Hypervisor& hv, const json& req) {
    const auto domid = request_domid(req);
    if (!domid || !req.contains("trigger") || !req["trigger"].is_string() ||
        !req.contains("vcpu") || !req["vcpu"].is_number_integer())
        return fail("trigger: a domid, a trigger and a vcpu are required");
    const std::string name = req["trigger"];
    const auto vcpu = static_cast<std::uint32_t>(req["vcpu"].get<std::int64_t>());
    if (name == "s3resume")
        return failed({libxl_log("libxl_domain.c:2162:domain_s3_resume_done", *domid,
                                 fmt::format("Send trigger 's3resume' failed, rc={}",
                                             kLibxlInval))},
                      kLibxlInval);
    auto trigger_failed = [&](int err) {
        return failed({libxl_log("libxl_domain.c:2207:libxl_send_trigger", *domid,
                                 fmt::format("Send trigger '{}' failed: {}", name,
                                             std::strerror(err)))});
    };
    // libxl's own default: a trigger it has no domctl for.
    if (name != "nmi" && name != "power" && name != "sleep" && name != "init" && name != "reset")
        return trigger_failed(EINVAL);
    // Domain 0 is the host: xenolith sends it nothing (Xen would NMI dom0).
    if (*domid == 0) return trigger_failed(EPERM);
    auto d = guest(hv, *domid);
    if (!d) return trigger_failed(ESRCH);
    if (vcpu >= d->nr_vcpus()) return trigger_failed(ESRCH);
    if (name == "nmi") {
        d->vcpu(vcpu).send_nmi();
        hv.log().append_line(fmt::format("(XEN) d{}v{}: NMI sent (xl trigger)", d->domid(), vcpu));
        return succeeded();
    }
    if (name == "power" || name == "sleep") return succeeded();  // no vPM: nothing happens
    return trigger_failed(ENOSYS);
}

// xl config-update: the configuration the next rebuild (on_reboot=restart
// and the other restarting actions) uses. `xl list -l` keeps showing the
// running configuration until then, as libxl's does.
json config_update(Hypervisor& hv, const json& req) {
    const auto domid = request_domid(req);
    if (!domid || !req.contains("request") || !req["request"].is_object())
        return fail("config_update: a domid and a create request are required");
    auto d = guest(hv, *domid);
    if (!d)
        return failed({*domid == 0 ? "xenolith: domain 0 is the host and is never rebuilt"
                                   : libxl_log("libxl_dom.c:1093:libxl__userdata_path", *domid,
                                               fmt::format("unable to find domain info for "
                                                           "domain {}",
                                                           *domid))});
    auto b = parse_create_request(hv, req["request"]);
    if (!b) return failed({b.error().what});
    b->build.paused = false;
    if (!hv.toolstack().set_next_config(d->domid(), std::move(*b))) return failed({});
    hv.log().append_line(fmt::format("(XEN) Domain {} ({}): configuration updated for its next "
                                     "restart",
                                     d->domid(), d->name()));
    return succeeded();
}

// libxl_domain_core_dump -> xc_domain_dumpcore: the file is created first
// (0600), then the domain is dumped; on failure nothing is left behind.
json dump_core(Hypervisor& hv, const json& req) {
    const auto domid = request_domid(req);
    if (!domid || !req.contains("path") || !req["path"].is_string())
        return fail("dump_core: a domid and a path are required");
    const std::string path = req["path"];
    if (path.empty() || path[0] != '/') return fail("dump_core: the path must be absolute");
    auto core_failed = [&](int err) {
        return libxl_log("libxl_domain.c:603:libxl_domain_core_dump", *domid,
                         fmt::format("Core dumping domain to {}: {}", path, std::strerror(err)));
    };
    // Domain 0 is the host: its memory is not a guest's to dump.
    if (*domid == 0) return failed({core_failed(EPERM)});
    auto d = guest(hv, *domid);
    if (!d) return failed({core_failed(ESRCH)});
    // The path is the client's: it is opened with the client's rights, so
    // the daemon never writes where its caller could not (daemon/caller.hpp).
    auto open_as_caller = [&](int* err) -> Result<UniqueFd> {
        const ActAsCaller as(current_caller());
        if (!as.ok()) {
            *err = EPERM;
            return make_error("cannot take on the caller's credentials");
        }
        return domain::create_core_file(path, err);
    };
    int err = 0;
    auto file = open_as_caller(&err);
    if (!file) return failed({"xc: error: " + file.error().what + ": Internal error",
                              core_failed(err)});
    if (auto st = domain::dump_domain_core(*d, file->get()); !st) {
        file->reset();
        {
            const ActAsCaller as(current_caller());
            if (as.ok()) ::unlink(path.c_str());
        }
        return failed({libxl_log("libxl_domain.c:603:libxl_domain_core_dump", *domid,
                                 fmt::format("Core dumping domain to {}: {}", path,
                                             st.error().what))});
    }
    hv.log().append_line(fmt::format("(XEN) Domain {} ({}): core dumped to {}", d->domid(),
                                     d->name(), path));
    return succeeded();
}

constexpr RequestHandler kManageRequests[] = {
    {"rename", rename},
    {"sysrq", sysrq},
    {"trigger", trigger},
    {"config_update", config_update},
    {"dump_core", dump_core},
};

}  // namespace

std::span<const RequestHandler> manage_requests() { return kManageRequests; }

}  // namespace xenolith::daemon
