#include "daemon/request_util.hpp"

#include <fcntl.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <random>

#include <fmt/format.h>

#include "base/unique_fd.hpp"
#include "console/console_backend.hpp"
#include "control/libxl_compat.hpp"
#include "control/protocol.hpp"
#include "daemon/admission.hpp"
#include "daemon/caller.hpp"
#include "daemon/uuid.hpp"
#include "domain/vcpu.hpp"
#include "xenstore/domain_nodes.hpp"
#include "grant/grant_table.hpp"

namespace xenolith::daemon {
namespace {

using nlohmann::json;
using domain::Domain;

using toolstack::Action;

Action parse_action(const json& j, const char* key, Action def) {
    if (!j.contains(key) || !j[key].is_string()) return def;
    const std::string s = j[key];
    if (s == "destroy") return Action::destroy;
    if (s == "restart") return Action::restart;
    if (s == "rename-restart") return Action::rename_restart;
    if (s == "preserve") return Action::preserve;
    if (s == "coredump-destroy") return Action::coredump_destroy;
    if (s == "coredump-restart") return Action::coredump_restart;
    if (s == "soft-reset") return Action::soft_reset;
    return def;
}

// libxl_domain_type: the request's "type", else the one in its libxl
// configuration (c_info.type, as xl sends it); PVH when neither says.
domain::GuestType parse_guest_type(const json& req) {
    std::string t;
    if (req.contains("type") && req["type"].is_string()) {
        t = req["type"];
    } else if (req.contains("config") && req["config"].is_object()) {
        const json& cfg = req["config"];
        if (cfg.contains("c_info") && cfg["c_info"].is_object() &&
            cfg["c_info"].contains("type") && cfg["c_info"]["type"].is_string())
            t = cfg["c_info"]["type"];
    }
    if (t == "pv") return domain::GuestType::pv;
    if (t == "hvm") return domain::GuestType::hvm;
    return domain::GuestType::pvh;
}

domain::Uuid make_uuid(const json& req) {
    domain::Uuid u{};
    if (req.contains("uuid") && req["uuid"].is_array() && req["uuid"].size() == 16) {
        for (std::size_t i = 0; i < 16; ++i) u[i] = req["uuid"][i].get<std::uint8_t>();
        return u;
    }
    std::random_device rd;
    for (auto& b : u) b = static_cast<std::uint8_t>(rd());
    u[6] = static_cast<std::uint8_t>((u[6] & 0x0f) | 0x40);  // version 4
    u[8] = static_cast<std::uint8_t>((u[8] & 0x3f) | 0x80);
    return u;
}

std::string uuid_str(const domain::Uuid& u) { return uuid_string(u); }


}  // namespace

// The create request is validated again here: xl is a client, not trusted.
Result<toolstack::GuestConfig> parse_create_request(Hypervisor& hv, const json& req) {
    // Shadows the reply helper on purpose: here a failure is a Result error
    // (create() and config_update turn it into their replies).
    auto fail = [](std::string m) { return make_error(std::move(m)); };
    auto str = [&](const char* k) {
        return req.contains(k) && req[k].is_string() ? req[k].get<std::string>() : std::string();
    };
    auto num = [&](const char* k, std::uint64_t def) {
        return req.contains(k) && req[k].is_number_unsigned() ? req[k].get<std::uint64_t>() : def;
    };
    toolstack::GuestConfig cfg;
    domain::BuildRequest& b = cfg.build;
    b.identity.name = str("name");
    if (b.identity.name.empty() || b.identity.name.size() > 64)
        return fail("create: a domain name of 1 to 64 characters is required");
    b.kernel = str("kernel");
    if (b.kernel.empty()) return fail("create: no kernel given");
    b.ramdisk = str("ramdisk");
    b.cmdline = str("cmdline");
    b.identity.memory_kib = num("memory_kib", 0);
    b.identity.max_memory_kib = std::max(num("maxmem_kib", 0), b.identity.memory_kib);
    if (b.identity.memory_kib < 4096 || b.identity.memory_kib > (std::uint64_t{1} << 40))
        return fail("create: memory must be between 4 MiB and 1 TiB");
    if (b.identity.memory_kib % 2048) return fail("create: memory must be a multiple of 2 MiB");
    b.identity.vcpus = static_cast<unsigned>(num("vcpus", 1));
    b.identity.max_vcpus = static_cast<unsigned>(num("max_vcpus", b.identity.vcpus));
    if (b.identity.vcpus < 1 || b.identity.max_vcpus > 128 ||
        b.identity.vcpus > b.identity.max_vcpus)
        return fail("create: vcpus must be 1..maxvcpus and maxvcpus at most 128");
    b.identity.max_event_channels =
        static_cast<unsigned>(std::min<std::uint64_t>(num("max_event_channels", 1023), 4095));
    // Xen's grant_table_init(): at least one frame, at most the hypervisor's caps.
    const std::uint64_t grant_frames = num("max_grant_frames", grant::kMaxFramesLimit);
    const std::uint64_t maptrack_frames =
        num("max_maptrack_frames", grant::kMaxMaptrackFramesLimit);
    if (grant_frames < grant::kInitialFrames || grant_frames > grant::kMaxFramesLimit)
        return fail(fmt::format("create: max_grant_frames must be {}..{}", grant::kInitialFrames,
                                grant::kMaxFramesLimit));
    if (maptrack_frames > grant::kMaxMaptrackFramesLimit)
        return fail(fmt::format("create: max_maptrack_frames must be 0..{}",
                                grant::kMaxMaptrackFramesLimit));
    b.identity.max_grant_frames = static_cast<unsigned>(grant_frames);
    b.identity.max_maptrack_frames = static_cast<unsigned>(maptrack_frames);
    cfg.actions.on_poweroff = parse_action(req, "on_poweroff", Action::destroy);
    cfg.actions.on_reboot = parse_action(req, "on_reboot", Action::restart);
    cfg.actions.on_watchdog = parse_action(req, "on_watchdog", Action::destroy);
    cfg.actions.on_crash = parse_action(req, "on_crash", Action::destroy);
    cfg.actions.on_soft_reset = parse_action(req, "on_soft_reset", Action::soft_reset);
    b.identity.type = parse_guest_type(req);
    if (req.contains("global_virqs")) {
        const json& virqs = req["global_virqs"];
        if (!virqs.is_array() || virqs.size() > NR_VIRQS)
            return fail("create: global_virqs must be a list of VIRQ numbers");
        for (const json& v : virqs) {
            if (!v.is_number_unsigned() || v.get<std::uint64_t>() >= NR_VIRQS)
                return fail("create: global_virqs must be a list of VIRQ numbers");
            b.identity.global_virqs.push_back(v.get<unsigned>());
        }
    }
    if (auto st = parse_create_affinity(req, b.identity); !st) return fail(st.error().what);
    b.identity.uuid = make_uuid(req);
    if (req.contains("config") && req["config"].is_object()) cfg.libxl_json = req["config"];
    auto disks = parse_request_disks(req);
    if (!disks) return fail(disks.error().what);
    cfg.disks = std::move(*disks);
    auto nics = parse_request_nics(req);
    if (!nics) return fail(nics.error().what);
    cfg.nics = std::move(*nics);
    cfg.owner = caller_credentials();
    b.console_log_dir = hv.options().console_log_dir;
    b.paused = req.value("paused", false);
    return cfg;
}

namespace {

// One ledger for the daemon: every create passes through it.
MemoryAdmission& admission() {
    static MemoryAdmission a(host_memory_kib());
    return a;
}

std::uint64_t memory_promised_to_domains(Hypervisor& hv) {
    std::uint64_t kib = 0;
    for (const auto& d : hv.domains().all())
        if (d) kib += promised_kib(d->identity().max_memory_kib);
    return kib;
}

// The kernel and ramdisk are the client's files: one it could not read
// itself is refused before the daemon (root) reads it. Checked by opening
// it with the client's rights (without blocking: the builder refuses what
// is not a regular file); the builder then reads it as the daemon, so a
// path the client swaps in between is read with root's rights, but no
// message ever shows a file's contents (loader::read_image_file).
Status check_caller_may_read(const std::string& path, const char* what) {
    if (path.empty()) return ok_status();
    const ActAsCaller as(current_caller());
    if (!as.ok()) return make_error("create: cannot take on the caller's credentials");
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (!fd.valid()) return make_error(fmt::format("{} '{}': {}", what, path, std::strerror(errno)));
    return ok_status();
}

}  // namespace

Result<AdmittedGuest> admit_guest(Hypervisor& hv, const json& req, GuestSource source) {
    auto b = parse_create_request(hv, req);
    if (!b) return b.error();
    // Before the table reserves a domid: a host without KVM makes nothing.
    if (!hv.kvm())
        return make_error(fmt::format("cannot create domain: no usable /dev/kvm ({})",
                                      hv.kvm_unavailable()));
    // A restored guest's kernel is in its image: the file is not read.
    if (source == GuestSource::kernel)
        for (auto [path, what] : {std::pair{&b->build.kernel, "kernel"},
                                  std::pair{&b->build.ramdisk, "ramdisk"}})
            if (auto st = check_caller_may_read(*path, what); !st) return st.error();
    for (const auto& disk : b->disks)
        if (auto st = check_disk_access(disk); !st) return st.error();
    auto ticket = admission().admit(b->build.identity.name, b->build.identity.max_memory_kib,
                                    memory_promised_to_domains(hv));
    if (!ticket) return ticket.error();
    return AdmittedGuest{std::move(*b), std::move(*ticket)};
}

namespace {

json create(Hypervisor& hv, const json& req) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto c0 = domain::process_cpu_time();
    auto admitted = admit_guest(hv, req, GuestSource::kernel);
    if (!admitted) return fail(admitted.error().what);
    toolstack::GuestConfig& cfg = admitted->config;
    cfg.build.identity.requested_at = t0;
    cfg.build.identity.requested_cpu = c0;
    auto d = hv.toolstack().create(std::move(cfg));
    if (!d) return fail(d.error().what);
    return {{"ok", true}, {"domid", (*d)->domid()}};
}

double host_cpu_seconds() {
    std::ifstream f("/proc/stat");
    std::string cpu;
    unsigned long long user = 0, nice = 0, sys = 0;
    f >> cpu >> user >> nice >> sys;
    return static_cast<double>(user + nice + sys) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

json domain_entry(Hypervisor& hv, Domain& d, bool with_config,
                  std::chrono::steady_clock::time_point now) {
    const auto st = d.state();
    unsigned online = 0;
    for (unsigned i = 0; i < d.nr_vcpus(); ++i) online += d.vcpu(i).online() ? 1 : 0;
    const bool shut = st == domain::RunState::shutdown || st == domain::RunState::crashed;
    const bool paused = st == domain::RunState::paused;
    const bool blocked = !shut && !paused && d.all_vcpus_blocked();
    // libxl_vcpuinfo's figures per vCPU (xentop -v, CPU(%)).
    // The domain's time is their sum, as Xen's getdomaininfo adds its vCPUs'.
    json vcpus = json::array();
    double cpu_time = 0;
    for (unsigned i = 0; i < d.nr_vcpus(); ++i) {
        const double t = d.vcpu(i).cpu_seconds();
        cpu_time += t;
        vcpus.push_back({{"vcpuid", i}, {"online", d.vcpu(i).online()}, {"cpu_time", t}});
    }
    // Memory as libxl_dominfo has it: tot_pages and max_pages; the config
    // carries memory/target and static-max (libxl_retrieve_domain_
    // configuration). xenolith's own: host_memkb, the host memory backing
    // it; reservation_ops/_cpu_ns, its balloon hypercalls and their cost.
    const GuestMemory& mem = d.memory();
    json entry = {{"name", d.name()},
                  {"domid", d.domid()},
                  {"uuid", uuid_str(d.identity().uuid)},
                  {"current_memkb", mem.tot_pages() * 4},
                  {"max_memkb", mem.max_pages() * 4},
                  {"reservation_ops", mem.reservation_ops()},
                  {"reservation_cpu_ns", mem.reservation_cpu_ns()},
                  {"vcpu_online", online},
                  {"vcpu_max_id", d.nr_vcpus() - 1},
                  {"running", !shut && !paused && !blocked},
                  {"blocked", blocked},
                  {"paused", paused},
                  {"shutdown", shut},
                  {"shutdown_reason", shut ? d.shutdown_reason() : 0},
                  {"dying", st == domain::RunState::dying},
                  {"cpu_time", cpu_time},
                  {"vcpus", std::move(vcpus)},
                  {"ssidref", 0},  // no XSM/FLASK labels: Xen's ssidref without FLASK
                  {"uptime", std::chrono::duration<double>(now - d.created_at()).count()}};
    if (!with_config) return entry;
    entry["host_memkb"] = mem.host_bytes() / 1024;
    // The config (copied per reply, so only for `xl list -l`).
    entry["config"] = hv.toolstack().libxl_config(d);
    return entry;
}

namespace {

json list(Hypervisor& hv, const json& req) {
    json out = json::array();
    const long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    struct sysinfo si {};
    sysinfo(&si);
    out.push_back({{"name", "Domain-0"},
                   {"domid", 0},
                   {"uuid", "00000000-0000-0000-0000-000000000000"},
                   {"current_memkb", host_memory_kib()},
                   {"max_memkb", host_memory_kib()},
                   {"vcpu_online", ncpu},
                   {"vcpu_max_id", ncpu - 1},
                   {"running", true},
                   {"blocked", false},
                   {"paused", false},
                   {"shutdown", false},
                   {"shutdown_reason", 0},
                   {"dying", false},
                   {"cpu_time", host_cpu_seconds()},
                   {"uptime", static_cast<double>(si.uptime)},
                   {"config", nullptr}});
    // "config": false leaves the configs out (all but `xl list -l` need
    // none, and they are most of the reply).
    const bool with_config = !req.contains("config") || req["config"] != false;
    const auto now = std::chrono::steady_clock::now();
    for (const auto& d : hv.domains().all())
        out.push_back(domain_entry(hv, *d, with_config, now));
    return {{"ok", true}, {"domains", std::move(out)}};
}

// libxl's error codes (libxl_types.idl) that xl prints as "rc=N".
constexpr int kLibxlFail = -3;
constexpr int kLibxlTimedOut = -9;
constexpr int kLibxlNoParavirt = -10;
constexpr auto kPvcontrolTimeout = std::chrono::seconds(60);  // libxl__domain_pvcontrol

// libxl__domain_pvcontrol_available: PV and PVH guests always have the PV
// control interface; an HVM guest only once its PV drivers registered an
// event callback.
bool pvcontrol_available(Domain& d) {
    return d.identity().type != domain::GuestType::hvm || d.param(HVM_PARAM_CALLBACK_IRQ) != 0;
}

// xl shutdown / xl reboot (libxl_domain_shutdown / _reboot): write the
// command to ~/control/shutdown and wait until the guest acknowledges it by
// clearing the node (or the domain goes away), at most 60 s.
json pv_control(Hypervisor& hv, Domain& d, const json& req) {
    const std::string action = req.value("action", "poweroff");
    if (action != "poweroff" && action != "reboot" && action != "suspend")
        return fail("shutdown: unknown action '" + action + "'");
    auto libxl_fail = [](int rc, std::string log) {
        json r = fail(log, 1);
        r["libxl_rc"] = rc;
        r["log"] = std::move(log);
        return r;
    };
    if (!pvcontrol_available(d)) return libxl_fail(kLibxlNoParavirt, "");
    const std::string node = xenstore::domain_home(d.domid()) + "/control/shutdown";
    if (hv.xenstore().write(node, action) != xenstore::XsErr::ok)
        return libxl_fail(kLibxlFail, fmt::format("libxl: error: libxl_xshelp.c:96:"
                                                  "libxl__xs_printf: failed to write key {}",
                                                  node));
    auto timeout = std::chrono::milliseconds(kPvcontrolTimeout);
    if (req.contains("timeout_ms") && req["timeout_ms"].is_number_unsigned())
        timeout = std::chrono::milliseconds(
            std::min<std::uint64_t>(req["timeout_ms"].get<std::uint64_t>(), 3600000));
    const bool acked = hv.xenstore().wait_for_node(
        node, [](const std::optional<std::string>& v) { return !v || v->empty(); },
        std::chrono::steady_clock::now() + timeout);
    if (!acked)
        return libxl_fail(kLibxlTimedOut,
                          fmt::format("libxl: error: libxl_domain.c:854:pvcontrol_cb: guest "
                                      "didn't acknowledge control request: {}",
                                      kLibxlTimedOut));
    return {{"ok", true}, {"domid", d.domid()}};
}

json dmesg(Hypervisor& hv, const json& req) {
    json out = {{"ok", true}, {"lines", hv.log().lines()}};
    if (req.value("clear", false)) hv.log().clear();
    return out;
}

// destroy, pause, unpause and shutdown name a domain and act on it.
template <void (*Act)(Hypervisor&, Domain&)>
json on_domain(Hypervisor& hv, const json& req) {
    auto d = find_domain(hv, req);
    if (!d) return fail("invalid domain identifier", 2);
    Act(hv, *d);
    return {{"ok", true}};
}

void destroy(Hypervisor& hv, Domain& d) { hv.toolstack().destroy(d.domid()); }
void pause(Hypervisor&, Domain& d) { d.pause(); }
void unpause(Hypervisor&, Domain& d) { d.unpause(); }

json shutdown(Hypervisor& hv, const json& req) {
    auto d = find_domain(hv, req);
    if (!d) return fail("invalid domain identifier", 2);
    return pv_control(hv, *d, req);
}

constexpr RequestHandler kDomainRequests[] = {
    {"create", create},
    {"list", list},
    {"dmesg", dmesg},
    {"destroy", on_domain<destroy>},
    {"pause", on_domain<pause>},
    {"unpause", on_domain<unpause>},
    {"shutdown", shutdown},
};

}  // namespace

std::uint64_t host_memory_kib() {
    struct sysinfo si {};
    sysinfo(&si);
    return static_cast<std::uint64_t>(si.totalram) * si.mem_unit / 1024;
}

std::shared_ptr<Domain> find_domain(Hypervisor& hv, const json& req) {
    if (!req.contains("domain") || !req["domain"].is_string()) return nullptr;
    const std::string& q = req["domain"].get_ref<const std::string&>();
    // xl's rule (control/libxl_compat.hpp): digits are a domid, never a name.
    if (const auto domid = control::qualifier_domid(q)) {
        if (!control::is_guest_domid(*domid)) return nullptr;
        return hv.domains().get(static_cast<domid_t>(*domid));
    }
    return hv.domains().find_by_name(q);
}

std::span<const RequestHandler> domain_requests() { return kDomainRequests; }

}  // namespace xenolith::daemon
