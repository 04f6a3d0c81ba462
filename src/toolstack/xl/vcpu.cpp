// xl vcpu-list, vcpu-pin, vcpu-set: syntax, output and exit codes of Xen's
// tools/xl/xl_vcpu.c, with libxl's log lines where libxl would print them.
// CPU lists are parsed here (as xl does) and resolved against the host's
// CPUs and NUMA nodes, which xenolithd reports ("physinfo").
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "toolstack/config/cpulist.hpp"
#include "toolstack/xl/xl.hpp"

namespace xenolith::xl {
namespace {

using nlohmann::json;

std::string cpumap_text(const json& cpus, unsigned nr_cpus) {
    return config::CpuMap::of(nr_cpus, cpus.get<std::vector<unsigned>>()).str();
}

// print_vcpuinfo: "%-32s %5u %5u", then CPU and state, time, affinities.
void print_vcpu(const std::string& name, unsigned domid, const json& v, unsigned nr_cpus) {
    std::printf("%-32s %5u %5u", name.c_str(), domid, v["id"].get<unsigned>());
    if (!v["online"].get<bool>() || v["cpu"].is_null())
        std::printf("%5c %3c%cp ", '-', '-', '-');
    else
        std::printf("%5u %3c%c- ", v["cpu"].get<unsigned>(), v["running"].get<bool>() ? 'r' : '-',
                    v["blocked"].get<bool>() ? 'b' : '-');
    std::printf("%9.1f  ", static_cast<float>(v["time"].get<double>()));
    std::printf("%s / %s\n", cpumap_text(v["hard"], nr_cpus).c_str(),
                cpumap_text(v["soft"], nr_cpus).c_str());
}

// One domain's vCPUs ("domain" omitted: every domain).
std::optional<json> vcpu_list_reply(std::optional<unsigned> domid) {
    json req = {{"cmd", "vcpu-list"}};
    if (domid) req["domain"] = std::to_string(*domid);
    auto r = request(req);
    if (!r) return std::nullopt;
    if (!(*r)["ok"].get<bool>()) return json(nullptr);
    return r;
}

// The CPU list argument of vcpu-pin: "-" (leave alone) or a CPU list.
// nullopt after printing xl's parse error.
std::optional<std::optional<config::CpuMap>> pin_argument(const std::string& arg,
                                                          const config::HostTopology& host) {
    if (arg == "-") return std::optional<config::CpuMap>();
    auto list = config::parse_cpulist(arg);
    if (!list) {
        std::fprintf(stderr, "%s\n", list.error().what.c_str());
        return std::nullopt;
    }
    return std::optional<config::CpuMap>(config::resolve(*list, host));
}

json cpus_or_null(const std::optional<config::CpuMap>& m) {
    return m ? json(m->cpus()) : json(nullptr);
}

// libxl_set_vcpuaffinity for one vCPU: 0, or the failure already logged.
int set_affinity(unsigned domid, long vcpu, const std::optional<config::CpuMap>& hard,
                 const std::optional<config::CpuMap>& soft, bool exists) {
    if (!hard && !soft) return kLibxlErrorInval;  // libxl refuses before asking Xen
    json reply;
    if (exists) {
        auto r = request({{"cmd", "vcpu-pin"},
                          {"domain", std::to_string(domid)},
                          {"vcpu", vcpu},
                          {"hard", cpus_or_null(hard)},
                          {"soft", cpus_or_null(soft)}});
        if (!r) return kLibxlErrorFail;
        reply = *r;
        if (reply["ok"].get<bool>()) return 0;
    }
    const std::string why = exists ? reply.value("error", std::string("failed"))
                                   : std::string(std::strerror(ESRCH));
    libxl_log("error", "libxl_sched.c:62:libxl__set_vcpuaffinity", domid,
              "Setting vcpu affinity: " + why);
    return kLibxlErrorFail;
}

}  // namespace

std::optional<config::HostTopology> host_topology() {
    auto r = request({{"cmd", "physinfo"}});
    if (!r || !(*r)["ok"].get<bool>()) {
        std::fprintf(stderr, "libxl_physinfo failed.\n");
        return std::nullopt;
    }
    config::HostTopology h;
    h.nr_cpus = (*r)["nr_cpus"].get<unsigned>();
    h.node_cpus = (*r)["nodes"].get<std::vector<std::vector<unsigned>>>();
    return h;
}

int cmd_vcpu_list(const Args& a) {
    int rc = 0;
    auto o = parse_options(a, "vcpu-list", "", {}, 0, rc);
    if (!o) return rc;
    auto host = host_topology();
    if (!host) return 0;
    const unsigned nr_cpus = host->nr_cpus;
    std::printf("%-32s %5s %5s %5s %5s %9s %s\n", "Name", "ID", "VCPU", "CPU", "State", "Time(s)",
                "Affinity (Hard / Soft)");
    auto print_domain = [&](const json& d) {
        for (const auto& v : d["vcpus"])
            print_vcpu(d["name"].get<std::string>(), d["domid"].get<unsigned>(), v, nr_cpus);
    };
    if (o->args.empty()) {
        auto all = vcpu_list_reply(std::nullopt);
        if (!all || all->is_null()) {
            std::fprintf(stderr, "libxl_list_domain failed.\n");
            return 0;
        }
        for (const auto& d : (*all)["domains"]) print_domain(d);
        return 0;
    }
    for (const std::string& q : o->args) {
        std::fflush(stdout);
        auto t = find_target(q, rc);
        if (!t) return rc;
        auto r = t->entry.is_null() ? std::optional<json>(json(nullptr))
                                    : vcpu_list_reply(t->domid);
        if (!r) return 1;
        if (r->is_null()) {  // gone, or a domid nobody has
            libxl_log("error", "libxl_domain.c:1667:libxl_list_vcpu", t->domid, "Getting infolist");
            continue;
        }
        for (const auto& d : (*r)["domains"]) print_domain(d);
    }
    return 0;
}

int cmd_vcpu_pin(const Args& a) {
    int rc = 0;
    auto o = parse_options(a, "vcpu-pin", "fi",
                           {{"force", 'f'}, {"ignore-global-affinity-masks", 'i'}}, 3, rc);
    if (!o) return rc;
    const bool force = has_flag(*o, 'f');
    auto t = find_target(o->args[0], rc);
    if (!t) return rc;
    const std::string& vcpu_arg = o->args[1];

    // strtol, as xl: a leading number counts, whatever follows it.
    errno = 0;
    char* end = nullptr;
    long vcpu = std::strtol(vcpu_arg.c_str(), &end, 10);
    if (end == vcpu_arg.c_str() || vcpu < 0) {
        if (vcpu_arg != "all") {
            std::fprintf(stderr, "Error: Invalid argument %s as VCPU.\n", vcpu_arg.c_str());
            return EXIT_FAILURE;
        }
        if (force) {
            std::fprintf(stderr, "Error: --force and 'all' as VCPU not allowed.\n");
            return EXIT_FAILURE;
        }
        vcpu = -1;
    }

    auto host = host_topology();
    if (!host) return EXIT_FAILURE;
    auto hard = pin_argument(o->args[2], *host);
    if (!hard) return EXIT_FAILURE;
    std::optional<std::optional<config::CpuMap>> soft = std::optional<config::CpuMap>();
    if (o->args.size() > 3) soft = pin_argument(o->args[3], *host);
    if (!soft) return EXIT_FAILURE;
    if (dryrun_only) {  // xl -N: the maps as parsed, nothing changed
        std::printf("cpumap: %s", *hard ? (*hard)->str().c_str() : "-");
        if (*soft) std::printf(" %s", (*soft)->str().c_str());
        std::printf("\n");
        return std::fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    }
    const bool exists = !t->entry.is_null();
    if (!has_flag(*o, 'i') && *hard && !exists) {
        std::fprintf(stderr, "Could not get domain info\n");
        return EXIT_FAILURE;
    }
    // The global masks of xl.conf are "all" here: only an empty map fails.
    if (!has_flag(*o, 'i') && *hard && (*hard)->empty()) {
        std::fprintf(stderr, "vcpu hard affinity map is empty\n");
        return EXIT_FAILURE;
    }
    if (t->domid == 0) {
        std::fprintf(stderr, "vcpu-pin: domain 0 is the host: its CPUs are Linux's\n");
        return EXIT_FAILURE;
    }
    if (vcpu != -1) {
        if (set_affinity(t->domid, vcpu, *hard, *soft, exists) != 0) {
            std::fprintf(stderr, "Could not set affinity for vcpu `%ld'.\n", vcpu);
            return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
    }
    // "all": libxl_list_vcpu, then libxl_set_vcpuaffinity_all, whose
    // failures xl reports but does not exit on.
    auto listing = exists ? vcpu_list_reply(t->domid) : std::optional<json>(json(nullptr));
    if (!listing) return EXIT_FAILURE;
    if (listing->is_null()) {
        libxl_log("error", "libxl_domain.c:1667:libxl_list_vcpu", t->domid, "Getting infolist");
        std::fprintf(stderr, "libxl_list_vcpu failed.\n");
        return EXIT_FAILURE;
    }
    bool failed = false;
    for (const auto& d : (*listing)["domains"])
        for (const auto& v : d["vcpus"]) {
            const unsigned id = v["id"].get<unsigned>();
            if (set_affinity(t->domid, id, *hard, *soft, true) != 0) {
                libxl_log("warning", "libxl_sched.c:124:libxl_set_vcpuaffinity_all", t->domid,
                          "Failed to set affinity for " + std::to_string(id));
                failed = true;
            }
        }
    if (failed) std::fprintf(stderr, "Could not set affinity.\n");
    return EXIT_SUCCESS;
}

int cmd_vcpu_set(const Args& a) {
    int rc = 0;
    auto o = parse_options(a, "vcpu-set", "i", {{"ignore-host", 'i'}}, 2, rc);
    if (!o) return rc;
    const bool check_host = !has_flag(*o, 'i');
    auto t = find_target(o->args[0], rc);
    if (!t) return rc;
    const std::string& count_arg = o->args[1];
    char* end = nullptr;
    const unsigned long count = std::strtoul(count_arg.c_str(), &end, 10);
    if (end == count_arg.c_str() || count > INT_MAX) {
        std::fprintf(stderr, "Error: Invalid argument.\n");
        return EXIT_FAILURE;
    }
    if (check_host) {
        if (t->entry.is_null()) return EXIT_FAILURE;  // libxl_domain_info: not found, silently
        auto host = host_topology();
        if (!host) return EXIT_FAILURE;
        const unsigned online = t->entry["vcpu_online"].get<unsigned>();
        if (count > online && count > host->nr_cpus) {
            std::fprintf(stderr,
                         "You are overcommmitting! You have %d physical CPUs and want %ld vCPUs! "
                         "Aborting, use --ignore-host to continue\n",
                         static_cast<int>(host->nr_cpus), static_cast<long>(count));
            return EXIT_FAILURE;
        }
    }
    if (t->entry.is_null()) {
        std::fprintf(stderr, "Domain %u does not exist.\n", t->domid);
        return EXIT_FAILURE;
    }
    if (t->domid == 0) {
        std::fprintf(stderr, "vcpu-set: domain 0 is the host: its CPUs are Linux's\n");
        return EXIT_FAILURE;
    }
    auto r = request({{"cmd", "vcpu-set"}, {"domain", std::to_string(t->domid)}, {"count", count}});
    if (!r) return EXIT_FAILURE;
    if ((*r)["ok"].get<bool>()) return EXIT_SUCCESS;
    if (r->contains("libxl_rc")) {
        libxl_log("error",
                  count == 0 ? "libxl_domain.c:1863:libxl_set_vcpuonline"
                             : "libxl_domain.c:1869:libxl_set_vcpuonline",
                  t->domid, (*r)["log"].get<std::string>());
        std::fprintf(stderr, "libxl_set_vcpuonline failed domid=%u max_vcpus=%ld, rc: %d\n",
                     t->domid, static_cast<long>(count), (*r)["libxl_rc"].get<int>());
    } else if ((*r)["rc"] == 2) {
        std::fprintf(stderr, "Domain %u does not exist.\n", t->domid);
    } else {
        std::fprintf(stderr, "%s\n", (*r)["error"].get<std::string>().c_str());
    }
    return EXIT_FAILURE;
}

}  // namespace xenolith::xl
