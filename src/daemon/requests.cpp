#include "daemon/requests.hpp"

#include <sys/socket.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include <fmt/format.h>

#include "console/console_backend.hpp"
#include "control/protocol.hpp"
#include "domain/vcpu.hpp"

namespace xenolith::daemon {
namespace {

using nlohmann::json;
using domain::Domain;

json fail(std::string msg, int rc = 1) {
    return {{"ok", false}, {"error", std::move(msg)}, {"rc", rc}};
}

domain::Action parse_action(const json& j, const char* key, domain::Action def) {
    if (!j.contains(key) || !j[key].is_string()) return def;
    const std::string s = j[key];
    if (s == "destroy") return domain::Action::destroy;
    if (s == "restart") return domain::Action::restart;
    if (s == "rename-restart") return domain::Action::rename_restart;
    if (s == "preserve") return domain::Action::preserve;
    if (s == "coredump-destroy") return domain::Action::coredump_destroy;
    if (s == "coredump-restart") return domain::Action::coredump_restart;
    if (s == "soft-reset") return domain::Action::soft_reset;
    return def;
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

std::string uuid_str(const domain::Uuid& u) {
    return fmt::format("{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-"
                       "{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                       u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
                       u[12], u[13], u[14], u[15]);
}

// The create request is validated again here: xl is a client, not trusted.
json create(Hypervisor& hv, const json& req) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto c0 = domain::process_cpu_time();
    auto str = [&](const char* k) {
        return req.contains(k) && req[k].is_string() ? req[k].get<std::string>() : std::string();
    };
    auto num = [&](const char* k, std::uint64_t def) {
        return req.contains(k) && req[k].is_number_unsigned() ? req[k].get<std::uint64_t>() : def;
    };
    domain::BuildRequest b;
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
    b.identity.actions.on_poweroff = parse_action(req, "on_poweroff", domain::Action::destroy);
    b.identity.actions.on_reboot = parse_action(req, "on_reboot", domain::Action::restart);
    b.identity.actions.on_watchdog = parse_action(req, "on_watchdog", domain::Action::destroy);
    b.identity.actions.on_crash = parse_action(req, "on_crash", domain::Action::destroy);
    b.identity.actions.on_soft_reset =
        parse_action(req, "on_soft_reset", domain::Action::soft_reset);
    b.identity.uuid = make_uuid(req);
    b.identity.config = req.contains("config") ? req["config"] : json::object();
    b.console_log_dir = hv.options().console_log_dir;
    b.paused = req.value("paused", false);
    b.identity.requested_at = t0;
    b.identity.requested_cpu = c0;
    auto d = hv.domains().create(std::move(b));
    if (!d) return fail(d.error().what);
    return {{"ok", true}, {"domid", (*d)->domid()}};
}

std::uint64_t host_memory_kib() {
    struct sysinfo si {};
    sysinfo(&si);
    return static_cast<std::uint64_t>(si.totalram) * si.mem_unit / 1024;
}

double host_cpu_seconds() {
    std::ifstream f("/proc/stat");
    std::string cpu;
    unsigned long long user = 0, nice = 0, sys = 0;
    f >> cpu >> user >> nice >> sys;
    return static_cast<double>(user + nice + sys) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

json domain_entry(Domain& d) {
    const auto st = d.state();
    unsigned online = 0;
    for (unsigned i = 0; i < d.nr_vcpus(); ++i) online += d.vcpu(i).online() ? 1 : 0;
    const bool shut = st == domain::RunState::shutdown || st == domain::RunState::crashed;
    const bool paused = st == domain::RunState::paused;
    const bool blocked = !shut && !paused && d.all_vcpus_blocked();
    return {{"name", d.name()},
            {"domid", d.domid()},
            {"uuid", uuid_str(d.identity().uuid)},
            {"current_memkb", d.identity().memory_kib},
            {"max_memkb", d.identity().max_memory_kib},
            {"vcpu_online", online},
            {"vcpu_max_id", d.nr_vcpus() - 1},
            {"running", !shut && !paused && !blocked},
            {"blocked", blocked},
            {"paused", paused},
            {"shutdown", shut},
            {"shutdown_reason", shut ? d.shutdown_reason() : 0},
            {"dying", st == domain::RunState::dying},
            {"cpu_time", d.cpu_seconds()},
            {"uptime", std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                     d.created_at())
                           .count()},
            {"config", d.identity().config}};
}

json list(Hypervisor& hv) {
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
    for (const auto& d : hv.domains().all()) out.push_back(domain_entry(*d));
    return {{"ok", true}, {"domains", out}};
}

std::shared_ptr<Domain> find(Hypervisor& hv, const json& req) {
    if (!req.contains("domain") || !req["domain"].is_string()) return nullptr;
    return hv.domains().resolve(req["domain"].get<std::string>());
}

json info(Hypervisor& hv) {
    utsname u{};
    uname(&u);
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    struct sysinfo si {};
    sysinfo(&si);
    std::uint64_t used = 0;
    for (const auto& d : hv.domains().all()) used += d->identity().memory_kib;
    return {{"ok", true},
            {"host", host},
            {"release", u.release},
            {"version", u.version},
            {"machine", u.machine},
            {"nr_cpus", sysconf(_SC_NPROCESSORS_ONLN)},
            {"total_memory_mib", host_memory_kib() / 1024},
            {"free_memory_mib",
             static_cast<std::uint64_t>(si.freeram) * si.mem_unit / (1024 * 1024)},
            {"domain_memory_mib", used / 1024},
            {"xen_uptime", std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                         hv.started_at())
                               .count()},
            {"kvm_xen", hv.kvm().has_xen_hvm()}};
}

}  // namespace

json handle_request(Hypervisor& hv, const json& req) {
    const std::string cmd = req.value("cmd", "");
    if (cmd == "create") return create(hv, req);
    if (cmd == "list") return list(hv);
    if (cmd == "info") return info(hv);
    if (cmd == "dmesg") {
        json out = {{"ok", true}, {"lines", hv.log().lines()}};
        if (req.value("clear", false)) hv.log().clear();
        return out;
    }
    if (cmd == "destroy" || cmd == "pause" || cmd == "unpause" || cmd == "shutdown") {
        auto d = find(hv, req);
        if (!d) return fail("invalid domain identifier", 2);
        if (cmd == "destroy") {
            hv.domains().destroy(d->domid());
        } else if (cmd == "pause") {
            d->pause();
        } else if (cmd == "unpause") {
            d->unpause();
        } else {
            // Xen asks PV-aware guests through xenstore control/shutdown;
            // until the guest's xenstore is served there is no PV control
            // interface, and xl reports exactly that.
            return fail("PV control interface not available: external graceful shutdown not "
                        "possible.\nUse \"-F\" to fallback to ACPI power event.");
        }
        return {{"ok", true}};
    }
    return fail("unknown request '" + cmd + "'");
}

void serve_console(Hypervisor& hv, int fd, const json& req) {
    auto d = find(hv, req);
    if (!d || !d->console()) {
        (void)control::send_message(fd, fail("invalid domain identifier", 2));
        return;
    }
    if (!control::send_message(fd, {{"ok", true}, {"domid", d->domid()}})) return;
    console::ConsoleBackend* con = d->console();
    con->attach(fd);
    if (req.value("unpause", false)) d->unpause();
    char buf[256];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        con->input(buf, static_cast<std::size_t>(n));
    }
    con->detach(fd);
}

}  // namespace xenolith::daemon
