// vCPU requests: the host's CPUs (physinfo), per-vCPU state and affinity
// (vcpu-list), affinity changes (vcpu-pin) and the vCPUs a guest is asked to
// keep online (vcpu-set). What libxl would log is built by xl; replies carry
// the facts (errno names, counts).
#include <sched.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "daemon/request_util.hpp"
#include "domain/vcpu.hpp"
#include "host/cpus.hpp"
#include "xenstore/domain_nodes.hpp"

namespace xenolith::daemon {
namespace {

using nlohmann::json;
using host::CpuMask;
using domain::Domain;

// A CPU list as xl sends it, in at most this many numbers.
constexpr std::size_t kMaxCpuNumbers = 65536;

json cpus_json(const CpuMask& m) {
    json out = json::array();
    for (std::size_t i = 0; i < m.size(); ++i)
        if (m[i]) out.push_back(i);
    return out;
}

// An array of CPU numbers -> a mask host_cpu_count() wide. CPUs the host
// does not have are dropped, as Xen truncates a cpumap to nr_cpu_ids.
std::optional<CpuMask> mask_from_json(const json& j) {
    if (!j.is_array() || j.size() > kMaxCpuNumbers) return std::nullopt;
    CpuMask m(host::host_cpu_count(), false);
    for (const json& c : j) {
        if (!c.is_number_unsigned()) return std::nullopt;
        const std::uint64_t cpu = c.get<std::uint64_t>();
        if (cpu < m.size()) m[cpu] = true;
    }
    return m;
}

// Xen's vcpu_set_hard_affinity: the mask must hold an online CPU.
bool has_online_cpu(const CpuMask& m, const host::HostCpus& host) {
    for (unsigned c : host.online)
        if (c < m.size() && m[c]) return true;
    return false;
}

json physinfo(Hypervisor&, const json&) {
    const host::HostCpus host = host::read_host_cpus();
    return {{"ok", true},
            {"nr_cpus", host.nr_cpus},
            {"online", host.online},
            {"nodes", host.node_cpus}};
}

// Busy seconds of each host CPU (/proc/stat cpuN: all but idle and iowait).
std::vector<double> host_cpu_busy_seconds(unsigned nr_cpus) {
    std::vector<double> out(nr_cpus, 0);
    std::ifstream f("/proc/stat");
    std::string line;
    const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
    while (std::getline(f, line)) {
        unsigned cpu = 0;
        if (std::sscanf(line.c_str(), "cpu%u", &cpu) != 1 || cpu >= nr_cpus) continue;
        std::istringstream fields(line.substr(line.find(' ')));
        unsigned long long v[8] = {};
        for (auto& x : v) fields >> x;
        // user nice system idle iowait irq softirq steal
        out[cpu] = static_cast<double>(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / hz;
    }
    return out;
}

// Domain 0 is the host: one vCPU per online host CPU, on that CPU, with
// every CPU in both affinities. The CPU serving this request is running;
// Linux cannot say whether another CPU is idle at an instant, so the
// others are shown blocked.
json dom0_vcpus(const host::HostCpus& host) {
    json out = json::array();
    const std::vector<double> busy = host_cpu_busy_seconds(host.nr_cpus);
    const int here = sched_getcpu();
    const json all = cpus_json(CpuMask(host.nr_cpus, true));
    for (std::size_t i = 0; i < host.online.size(); ++i) {
        const unsigned cpu = host.online[i];
        const bool running = static_cast<int>(cpu) == here;
        out.push_back({{"id", i},
                       {"online", true},
                       {"cpu", cpu},
                       {"running", running},
                       {"blocked", !running},
                       {"time", busy[cpu]},
                       {"hard", all},
                       {"soft", all}});
    }
    return out;
}

json domain_vcpus(Domain& d) {
    json out = json::array();
    for (unsigned i = 0; i < d.nr_vcpus(); ++i) {
        domain::Vcpu& v = d.vcpu(i);
        const auto place = v.placement();
        const auto aff = v.affinity();
        const auto state = v.state();
        // Xen: blocked = waiting for an event; running = on a CPU now. A
        // thread asleep inside KVM_RUN (in-kernel HLT) is blocked too.
        const bool sleeping = state == domain::Vcpu::State::blocked ||
                              state == domain::Vcpu::State::dead_halt;
        const bool in_guest = state == domain::Vcpu::State::running;
        json row = {{"id", i},
                    {"online", v.online()},
                    {"running", in_guest && place.thread_runnable},
                    {"blocked", sleeping || (in_guest && !place.thread_runnable)},
                    {"time", place.cpu_seconds},
                    {"tid", place.tid},
                    {"hard", cpus_json(aff.hard)},
                    {"soft", cpus_json(aff.soft)}};
        row["cpu"] = place.host_cpu ? json(*place.host_cpu) : json(nullptr);
        out.push_back(std::move(row));
    }
    return out;
}

// "vcpu-list": every domain, or the one "domain" names.
json vcpu_list(Hypervisor& hv, const json& req) {
    const host::HostCpus host = host::read_host_cpus();
    json domains = json::array();
    const bool one = req.contains("domain");
    const bool dom0 = one && req["domain"].is_string() &&
                      (req["domain"] == "0" || req["domain"] == "Domain-0");
    if (!one || dom0)
        domains.push_back({{"domid", 0}, {"name", "Domain-0"}, {"vcpus", dom0_vcpus(host)}});
    if (!dom0) {
        std::vector<std::shared_ptr<Domain>> wanted;
        if (one) {
            auto d = find_domain(hv, req);
            if (!d) return fail("invalid domain identifier", 2);
            wanted.push_back(std::move(d));
        } else {
            wanted = hv.domains().all();
        }
        for (const auto& d : wanted)
            domains.push_back({{"domid", d->domid()}, {"name", d->name()}, {"vcpus", domain_vcpus(*d)}});
    }
    return {{"ok", true}, {"nr_cpus", host.nr_cpus}, {"domains", domains}};
}

json errno_reply(int err) {
    return {{"ok", false}, {"error", std::strerror(err)}, {"errno", err}, {"rc", 1}};
}

bool names_dom0(const json& req) {
    return req.contains("domain") && req["domain"].is_string() &&
           (req["domain"] == "0" || req["domain"] == "Domain-0");
}

// "vcpu-pin": {"domain", "vcpu", "hard": [cpus] | null, "soft": ... }, as
// Xen's XEN_DOMCTL_setvcpuaffinity judges it.
json vcpu_pin(Hypervisor& hv, const json& req) {
    if (names_dom0(req))
        return fail("domain 0 is the host: its CPUs are Linux's, not pinned through xl");
    auto d = find_domain(hv, req);
    if (!d) return fail("invalid domain identifier", 2);
    if (!req.contains("vcpu") || !req["vcpu"].is_number_integer()) return errno_reply(EINVAL);
    const std::int64_t id = req["vcpu"].get<std::int64_t>();
    if (id < 0 || id >= static_cast<std::int64_t>(d->nr_vcpus())) return errno_reply(EINVAL);
    std::optional<CpuMask> hard, soft;
    for (auto [key, out] : {std::pair{"hard", &hard}, std::pair{"soft", &soft}}) {
        if (!req.contains(key) || req[key].is_null()) continue;
        *out = mask_from_json(req[key]);
        if (!*out) return errno_reply(EINVAL);
    }
    if (!hard && !soft) return errno_reply(EINVAL);  // libxl: ERROR_INVAL
    if (hard && !has_online_cpu(*hard, host::read_host_cpus())) return errno_reply(EINVAL);
    domain::Vcpu& v = d->vcpu(static_cast<unsigned>(id));
    if (auto st = v.set_affinity(hard, soft); !st) return fail(st.error().what);
    return {{"ok", true}};
}

// libxl__set_vcpuonline_xenstore: every vCPU's availability, in one
// transaction (retried while it conflicts).
bool write_availability(xenstore::XenstoreService& xs, domid_t domid, unsigned max_vcpus,
                        unsigned online) {
    for (int attempt = 0; attempt < 16; ++attempt) {
        const xenstore::Reply start =
            xs.request(xenstore::make_request(XS_TRANSACTION_START, {""}));
        if (start.type == XS_ERROR) return false;
        const std::uint32_t tx =
            static_cast<std::uint32_t>(std::strtoul(start.payload.c_str(), nullptr, 10));
        bool written = true;
        for (unsigned i = 0; i < max_vcpus && written; ++i) {
            xenstore::Message m = xenstore::make_write(
                fmt::format("{}/cpu/{}/availability", xenstore::domain_home(domid), i),
                i < online ? "online" : "offline");
            m.tx_id = tx;
            written = xs.request(m).type != XS_ERROR;
        }
        xenstore::Message end = xenstore::make_request(XS_TRANSACTION_END, {written ? "T" : "F"});
        end.tx_id = tx;
        const xenstore::Reply done = xs.request(end);
        if (!written) return false;
        if (done.type != XS_ERROR) return true;
        if (done.payload != std::string("EAGAIN") + '\0') return false;
    }
    return false;
}

// "vcpu-set": {"domain", "count"}; libxl_set_vcpuonline for a PVH guest.
// Failures carry libxl's log text (without its file:line prefix) and rc.
json vcpu_set(Hypervisor& hv, const json& req) {
    if (names_dom0(req))
        return fail("domain 0 is the host: its CPUs are Linux's (use /sys/devices/system/cpu)");
    auto d = find_domain(hv, req);
    if (!d) return fail("invalid domain identifier", 2);
    if (!req.contains("count") || !req["count"].is_number_unsigned()) return fail("vcpu-set: no count");
    const std::uint64_t count = req["count"].get<std::uint64_t>();
    auto libxl_fail = [](std::string log) {
        json r = fail(log);
        r["libxl_rc"] = -3;  // ERROR_FAIL
        r["log"] = std::move(log);
        return r;
    };
    if (count == 0) return libxl_fail("Requested 0 VCPUs!");
    if (count > d->nr_vcpus())
        return libxl_fail(
            fmt::format("Requested {} VCPUs, however maxcpus is {}!", count, d->nr_vcpus()));
    if (!write_availability(hv.xenstore(), d->domid(), d->nr_vcpus(), static_cast<unsigned>(count)))
        return libxl_fail("cannot write cpu/<n>/availability");
    return {{"ok", true}};
}

constexpr RequestHandler kVcpuRequests[] = {
    {"physinfo", physinfo},
    {"vcpu-list", vcpu_list},
    {"vcpu-pin", vcpu_pin},
    {"vcpu-set", vcpu_set},
};

}  // namespace

Status parse_create_affinity(const json& req, domain::DomainIdentity& id) {
    const host::HostCpus host = host::read_host_cpus();
    const std::pair<const char*, std::vector<CpuMask>*> keys[] = {
        {"vcpu_hard_affinity", &id.vcpu_hard_affinity},
        {"vcpu_soft_affinity", &id.vcpu_soft_affinity}};
    for (auto [key, out] : keys) {
        if (!req.contains(key)) continue;
        const json& lists = req[key];
        if (!lists.is_array() || lists.size() > id.max_vcpus)
            return make_error(fmt::format("create: {} must be a list of at most {} CPU lists",
                                          key, id.max_vcpus));
        for (std::size_t i = 0; i < lists.size(); ++i) {
            auto mask = mask_from_json(lists[i]);
            if (!mask) return make_error(fmt::format("create: {}[{}] is not a CPU list", key, i));
            if (out == &id.vcpu_hard_affinity && !has_online_cpu(*mask, host))
                return make_error(fmt::format("setting affinity failed on vcpu `{}': no online "
                                              "host CPU in its hard affinity",
                                              i));
            out->push_back(std::move(*mask));
        }
    }
    return ok_status();
}

std::span<const RequestHandler> vcpu_requests() { return kVcpuRequests; }

}  // namespace xenolith::daemon
