// xl list, domid, domname: read-only views of the domain list, in
// the exact formats of Xen's tools/xl/xl_list.c and xl_misc.c.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "control/libxl_compat.hpp"
#include "toolstack/config/json.hpp"

#include "toolstack/xl/xl.hpp"

namespace xenolith::xl {
namespace {

using nlohmann::json;

// Xen's 5th state letter: the shutdown reason.
constexpr char kShutdownReasonLetters[] = "-rscwS";

void print_domain_line(const json& d, bool verbose) {
    const unsigned reason = d["shutdown_reason"].get<unsigned>();
    const bool shut = d["shutdown"].get<bool>();
    const unsigned r = shut ? reason : 0;
    std::printf("%-40s %5u %5lu %5u     %c%c%c%c%c%c  %8.1f", d["name"].get<std::string>().c_str(),
                d["domid"].get<unsigned>(),
                static_cast<unsigned long>(d["current_memkb"].get<std::uint64_t>() / 1024),
                d["vcpu_online"].get<unsigned>(), d["running"].get<bool>() ? 'r' : '-',
                d["blocked"].get<bool>() ? 'b' : '-', d["paused"].get<bool>() ? 'p' : '-',
                shut ? 's' : '-', r < sizeof(kShutdownReasonLetters) - 1 ? kShutdownReasonLetters[r] : '?',
                d["dying"].get<bool>() ? 'd' : '-', d["cpu_time"].get<double>());
    if (verbose) {
        std::printf(" %s", d["uuid"].get<std::string>().c_str());
        if (shut)
            std::printf(" %8x", reason);
        else
            std::printf(" %8s", "-");
    }
}

std::optional<json> domains(bool with_config) {
    auto reply = request({{"cmd", "list"}, {"config", with_config}});
    if (!reply) return std::nullopt;
    return std::move((*reply)["domains"]);
}

// libxl_retrieve_domain_configuration: the stored config with the live
// domain's name, uuid, vCPUs, memory (from xenolithd) and scheduler
// parameters, and only the devices that are attached.
json retrieved_config(const json& d) {
    json config = d["config"];
    if (!config.is_object() || !config.contains("c_info") || !config.contains("b_info"))
        return config;
    config["c_info"]["name"] = d["name"];
    config["c_info"]["uuid"] = d["uuid"];
    json& b = config["b_info"];
    json avail = json::array();
    for (const json& v : d["vcpus"])
        if (v.value("online", false)) avail.push_back(v["vcpuid"]);
    b["max_vcpus"] = d["vcpu_max_id"].get<unsigned>() + 1;
    b["avail_vcpus"] = std::move(avail);
    // What libxl_domain_sched_params_get reads from Xen 4.17's default
    // scheduler, credit2, for a domain created without cpu_weight=/cap=
    // (xenolith's vCPUs are host threads: it applies neither).
    b["sched_params"] = {{"sched", "credit2"}, {"weight", 256}, {"cap", 0}};
    // The daemon's "disks" and "nics" are the attached ones.
    return config;
}

void invalid_domain(const std::string& d) {
    std::fprintf(stderr, "%s is an invalid domain identifier (rc=%d)\n", d.c_str(),
                 kLibxlErrorInval);
}

}  // namespace

// main_list: at most one domain; -Z, -c and -n add xl's columns (security
// label "-": no XSM; cpupool "Pool-0": the only pool; NUMA node affinity).
int cmd_list(const Args& a) {
    int rc = 0;
    auto o = parse_options(a, "list", "lvZcn",
                           {{"long", 'l'}, {"verbose", 'v'}, {"context", 'Z'}, {"cpupool", 'c'},
                            {"numa", 'n'}},
                           0, rc);
    if (!o) return rc;
    if (o->args.size() > 1) {
        print_usage("list");
        return EXIT_FAILURE;
    }
    const bool details = has_flag(*o, 'l'), verbose = has_flag(*o, 'v');
    const bool context = has_flag(*o, 'Z'), cpupool = has_flag(*o, 'c'), numa = has_flag(*o, 'n');
    auto all = domains(details);
    if (!all) return EXIT_FAILURE;
    json selected = json::array();
    if (o->args.empty()) {
        selected = std::move(*all);
    } else {
        const std::string& q = o->args[0];
        const auto domid = control::qualifier_domid(q);
        for (const auto& d : *all)
            if (domid ? d["domid"] == *domid : d["name"] == q) selected.push_back(d);
        if (selected.empty()) {
            if (!domid) {
                invalid_domain(q);  // find_domain: a name nobody has
            } else {
                std::fprintf(stderr, "Error: Domain '%s' does not exist.\n", q.c_str());
            }
            return EXIT_FAILURE;
        }
    }

    if (details) {
        // list_domains_details: an array of {domid, config}, dom0 (which
        // has no stored config) left out, then puts() adds a newline.
        json out = json::array();
        for (const auto& d : selected) {
            if (d["domid"].get<unsigned>() == 0 || !d["config"].is_object()) continue;
            out.push_back({{"domid", d["domid"]}, {"config", retrieved_config(d)}});
        }
        std::printf("%s\n", config::libxl_json_text(out).c_str());
        return EXIT_SUCCESS;
    }
    unsigned nr_nodes = 0;
    if (numa) {
        auto host = host_topology();
        if (!host) return EXIT_FAILURE;
        nr_nodes = static_cast<unsigned>(host->node_cpus.size());
    }
    std::printf("Name                                        ID   Mem VCPUs\tState\tTime(s)");
    if (verbose) std::printf("   UUID                            Reason-Code\tSecurity Label");
    if (context && !verbose) std::printf("   Security Label");
    if (cpupool) std::printf("         Cpupool");
    if (numa) std::printf(" NODE Affinity");
    std::printf("\n");
    std::vector<unsigned> nodes(nr_nodes);
    for (unsigned n = 0; n < nr_nodes; ++n) nodes[n] = n;
    for (const auto& d : selected) {
        print_domain_line(d, verbose);
        if (verbose || context) std::printf(" %16s", "-");
        if (cpupool) std::printf("%16s", "Pool-0");
        // A domain's node affinity is every node: xenolith places no memory.
        if (numa) std::printf(" %s", config::CpuMap::of(nr_nodes, nodes).str().c_str());
        std::putchar('\n');
    }
    return EXIT_SUCCESS;
}

// main_domid: libxl_name_to_domid, a name only (even one of digits).
int cmd_domid(const Args& a) {
    int rc = 0;
    auto o = parse_options(a, "domid", "", {}, 1, rc);
    if (!o) return rc;
    const std::string& name = o->args[0];
    auto all = domains(false);
    if (!all) return EXIT_FAILURE;
    for (const auto& d : *all) {
        if (d["name"] == name) {
            std::printf("%u\n", d["domid"].get<unsigned>());
            return EXIT_SUCCESS;
        }
    }
    std::fprintf(stderr, "Can't get domid of domain name '%s', maybe this domain does not "
                         "exist.\n", name.c_str());
    return EXIT_FAILURE;
}

// main_domname: strtol's reading of the argument, into a uint32_t.
int cmd_domname(const Args& a) {
    int rc = 0;
    auto o = parse_options(a, "domname", "", {}, 1, rc);
    if (!o) return rc;
    const char* text = o->args[0].c_str();
    char* end = nullptr;
    const auto domid = static_cast<std::uint32_t>(std::strtol(text, &end, 10));
    if (domid == 0 && std::strcmp(end, text) == 0) {
        std::fprintf(stderr, "Invalid domain id.\n\n");
        return EXIT_FAILURE;
    }
    auto all = domains(false);
    if (!all) return EXIT_FAILURE;
    for (const auto& d : *all) {
        if (d["domid"] == domid) {
            std::printf("%s\n", d["name"].get<std::string>().c_str());
            return EXIT_SUCCESS;
        }
    }
    std::fprintf(stderr, "Can't get domain name of domain id '%u', maybe this domain does not "
                         "exist.\n", domid);
    return EXIT_FAILURE;
}

}  // namespace xenolith::xl
