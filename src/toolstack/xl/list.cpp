// xl list, domid, domname: read-only views of the domain list, in
// the exact formats of Xen's tools/xl/xl_list.c and xl_misc.c.
#include <cstdio>

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
        std::printf(" %16s", "-");
    }
    std::putchar('\n');
}

std::optional<json> domains(bool with_config) {
    auto reply = request({{"cmd", "list"}, {"config", with_config}});
    if (!reply) return std::nullopt;
    return std::move((*reply)["domains"]);
}

void invalid_domain(const std::string& d) {
    std::fprintf(stderr, "%s is an invalid domain identifier (rc=-6)\n", d.c_str());
}

}  // namespace

int cmd_list(const Args& a) {
    bool verbose = false, details = false;
    std::vector<std::string> wanted;
    for (std::size_t i = 1; i < a.size(); ++i) {
        if (a[i] == "-v" || a[i] == "--verbose") verbose = true;
        else if (a[i] == "-l" || a[i] == "--long") details = true;
        else if (a[i] == "-Z" || a[i] == "--context" || a[i] == "-c" || a[i] == "--cpupool" ||
                 a[i] == "-n" || a[i] == "--numa") continue;
        else if (!a[i].empty() && a[i][0] == '-') return print_usage("list"), 2;
        else wanted.push_back(a[i]);
    }
    auto all = domains(details);
    if (!all) return 1;
    json selected = json::array();
    for (const auto& w : wanted) {
        bool found = false;
        for (const auto& d : *all)
            if (d["name"] == w || std::to_string(d["domid"].get<unsigned>()) == w) {
                selected.push_back(d);
                found = true;
            }
        if (!found) {
            invalid_domain(w);
            return 1;
        }
    }
    if (wanted.empty()) selected = std::move(*all);

    if (details) {
        // As xl: a JSON array of {domid, config} for guests (dom0 has none).
        json out = json::array();
        for (const auto& d : selected) {
            if (d["domid"].get<unsigned>() == 0) continue;
            out.push_back({{"domid", d["domid"]}, {"config", d["config"]}});
        }
        std::printf("%s\n", out.dump(4).c_str());
        return 0;
    }
    std::printf("Name                                        ID   Mem VCPUs\tState\tTime(s)");
    if (verbose) std::printf("   UUID                            Reason-Code\tSecurity Label");
    std::printf("\n");
    for (const auto& d : selected) print_domain_line(d, verbose);
    return 0;
}

int cmd_domid(const Args& a) {
    if (a.size() != 2) return print_usage("domid"), 2;
    auto d = find_domain(a[1]);
    if (!d) return 1;
    if (d->is_null() || (*d)["name"] != a[1]) {
        std::fprintf(stderr, "Can't get domid of domain name '%s', maybe this domain does not "
                             "exist.\n", a[1].c_str());
        return 1;
    }
    std::printf("%u\n", (*d)["domid"].get<unsigned>());
    return 0;
}

int cmd_domname(const Args& a) {
    if (a.size() != 2) return print_usage("domname"), 2;
    auto d = find_domain(a[1]);
    if (!d) return 1;
    if (d->is_null() || std::to_string((*d)["domid"].get<unsigned>()) != a[1]) {
        std::fprintf(stderr, "Can't get domain name of domain id '%s', maybe this domain does "
                             "not exist.\n", a[1].c_str());
        return 1;
    }
    std::printf("%s\n", (*d)["name"].get<std::string>().c_str());
    return 0;
}

}  // namespace xenolith::xl
