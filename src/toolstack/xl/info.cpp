// xl info, xl uptime and xl dmesg: host-wide views, in the formats of Xen
// 4.17's tools/xl/xl_info.c. The host figures come from xenolithd's "info"
// request (daemon/request_host.cpp); uname and /proc/uptime are read here,
// in the client, as xl does.
#include <getopt.h>
#include <sys/utsname.h>

#include <cstdarg>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <ctime>
#include <fstream>

#include "control/libxl_compat.hpp"
#include "toolstack/xl/xl.hpp"

namespace xenolith::xl {
namespace {

using nlohmann::json;

// xl's def_getopt: an unknown option is reported and ends the command with
// status 2 (-h is handled by main). Returns the next option, -1 at the end,
// or -2 after reporting an unknown one.
class Getopt {
public:
    Getopt(const Args& a, const char* shortopts, const option* longopts)
        : shortopts_(shortopts), longopts_(longopts) {
        for (const auto& s : a) argv_.push_back(const_cast<char*>(s.c_str()));
        argv_.push_back(nullptr);
        optind = 0;  // a full re-initialisation of getopt
        opterr = 0;
    }
    int next() {
        const int opt = getopt_long(static_cast<int>(argv_.size() - 1), argv_.data(), shortopts_,
                                    longopts_, nullptr);
        if (opt != '?') return opt;
        std::fprintf(stderr, "option `%c' not supported.\n", optopt);
        return -2;
    }
    // The operands left after the options.
    std::vector<std::string> rest() const {
        std::vector<std::string> out;
        for (std::size_t i = static_cast<std::size_t>(optind); i + 1 < argv_.size(); ++i)
            out.emplace_back(argv_[i]);
        return out;
    }

private:
    std::vector<char*> argv_;
    const char* shortopts_;
    const option* longopts_;
};

constexpr option kNoLongOptions[] = {{"help", no_argument, nullptr, 'h'}, {}};

// xl info's maybe_printf: with a name given, only the value of the lines
// that start with it is printed.
class InfoPrinter {
public:
    explicit InfoPrinter(std::string only) : only_(std::move(only)) {}
    void operator()(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
        va_list ap;
        va_start(ap, fmt);
        char* line = nullptr;
        const int n = vasprintf(&line, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if (only_.empty()) {
            std::fputs(line, stdout);
        } else if (std::strncmp(line, only_.c_str(), only_.size()) == 0) {
            const char* colon = std::strchr(line, ':');
            if (colon && colon[1] == ' ') std::fputs(colon + 2, stdout);
        }
        std::free(line);
    }

private:
    std::string only_;
};

std::uint64_t u64(const json& j, const char* key) {
    return j.contains(key) && j[key].is_number_unsigned() ? j[key].get<std::uint64_t>() : 0;
}
std::string str(const json& j, const char* key) {
    return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

void print_topology(const json& i) {
    std::printf("cpu_topology           :\n");
    std::printf("cpu:    core    socket     node\n");
    for (const auto& c : i.value("cpu_topology", json::array()))
        std::printf("%3d:    %4d     %4d     %4d\n", c["cpu"].get<int>(), c["core"].get<int>(),
                    c["socket"].get<int>(), c["node"].get<int>());
    std::printf("device topology        :\n");
    std::printf("device           node\n");
    const json pci = i.value("pci_topology", json::array());
    for (const auto& d : pci) {
        const unsigned devfn = d["devfn"].get<unsigned>();
        std::printf("%04x:%02x:%02x.%01x      %d\n", d["seg"].get<unsigned>(),
                    d["bus"].get<unsigned>(), (devfn >> 3) & 0x1f, devfn & 7, d["node"].get<int>());
    }
    if (pci.empty()) std::printf("No device topology data available\n");
}

void print_numa(const json& i) {
    std::printf("numa_info              :\n");
    std::printf("node:    memsize    memfree    distances\n");
    for (const auto& n : i.value("numa_nodes", json::array())) {
        std::printf("%4d:    %6lu     %6lu      ", n["node"].get<int>(),
                    static_cast<unsigned long>(n["size_kib"].get<std::uint64_t>() >> 10),
                    static_cast<unsigned long>(n["free_kib"].get<std::uint64_t>() >> 10));
        const char* sep = "";
        for (const auto& d : n["distances"]) {
            std::printf("%s%d", sep, d.get<int>());
            sep = ",";
        }
        std::printf("\n");
    }
}

// xl_info.c's uptime_to_string.
std::string uptime_string(unsigned long uptime, bool short_mode) {
    const unsigned long day = uptime / 86400, hour = uptime / 3600 % 24, min = uptime / 60 % 60,
                        sec = uptime % 60;
    const char* days = day > 1 ? "days" : "day";
    char buf[96];
    if (short_mode) {
        if (day)
            std::snprintf(buf, sizeof buf, "%lu %s, %2lu:%02lu", day, days, hour, min);
        else
            std::snprintf(buf, sizeof buf, "%2lu:%02lu", hour, min);
    } else if (day) {
        std::snprintf(buf, sizeof buf, "%lu %s, %2lu:%02lu:%02lu", day, days, hour, min, sec);
    } else {
        std::snprintf(buf, sizeof buf, "%2lu:%02lu:%02lu", hour, min, sec);
    }
    return buf;
}

void print_uptime_line(const std::string& name, unsigned domid, unsigned long uptime,
                       bool short_mode, std::time_t now) {
    if (short_mode) {
        char now_str[100];
        std::strftime(now_str, sizeof now_str, "%H:%M:%S", std::localtime(&now));
        std::printf(" %s up %s, %s (%u)\n", now_str, uptime_string(uptime, true).c_str(),
                    name.c_str(), domid);
    } else {
        std::printf("%-33s %4u %s\n", name.c_str(), domid, uptime_string(uptime, false).c_str());
    }
}

}  // namespace

int cmd_info(const Args& a) {
    static constexpr option kLong[] = {{"numa", no_argument, nullptr, 'n'},
                                       {"help", no_argument, nullptr, 'h'},
                                       {}};
    Getopt opts(a, "n", kLong);
    bool numa = false;
    for (int o; (o = opts.next()) != -1;) {
        if (o == -2) return 2;
        if (o == 'n') numa = true;
    }
    const auto operands = opts.rest();
    // As xl: an operand picks one field (ignored with -n).
    InfoPrinter out(!numa && !operands.empty() ? operands[0] : std::string());

    auto reply = request({{"cmd", "info"}, {"topology", numa}});
    if (!reply) return 1;
    const json& i = *reply;
    if (!i.value("ok", false)) {
        std::fprintf(stderr, "libxl_physinfo failed.\n");
        return 1;
    }

    utsname u{};
    if (uname(&u) == 0) {
        out("host                   : %s\n", u.nodename);
        out("release                : %s\n", u.release);
        out("version                : %s\n", u.version);
        out("machine                : %s\n", u.machine);
    }
    const std::uint64_t khz = u64(i, "cpu_khz");
    out("nr_cpus                : %d\n", static_cast<int>(u64(i, "nr_cpus")));
    out("max_cpu_id             : %d\n", static_cast<int>(u64(i, "max_cpu_id")));
    out("nr_nodes               : %d\n", static_cast<int>(u64(i, "nr_nodes")));
    out("cores_per_socket       : %d\n", static_cast<int>(u64(i, "cores_per_socket")));
    out("threads_per_core       : %d\n", static_cast<int>(u64(i, "threads_per_core")));
    out("cpu_mhz                : %d.%03d\n", static_cast<int>(khz / 1000),
        static_cast<int>(khz % 1000));
    std::uint32_t caps[8] = {};
    const json hw = i.value("hw_caps", json::array());
    for (std::size_t w = 0; w < 8 && w < hw.size(); ++w) caps[w] = hw[w].get<std::uint32_t>();
    out("hw_caps                : %08x:%08x:%08x:%08x:%08x:%08x:%08x:%08x\n", caps[0], caps[1],
        caps[2], caps[3], caps[4], caps[5], caps[6], caps[7]);
    std::string virt;
    for (const auto& c : i.value("virt_caps", json::array())) virt += " " + c.get<std::string>();
    out("virt_caps              :%s\n", virt.c_str());
    const auto mib = [&](const char* key) { return static_cast<unsigned long>(u64(i, key) / 1024); };
    out("total_memory           : %lu\n", mib("total_memory_kib"));
    out("free_memory            : %lu\n",
        static_cast<unsigned long>((u64(i, "free_memory_kib") - u64(i, "outstanding_claims_kib")) /
                                   1024));
    out("sharing_freed_memory   : %lu\n", mib("sharing_freed_kib"));
    out("sharing_used_memory    : %lu\n", mib("sharing_used_kib"));
    out("outstanding_claims     : %lu\n", mib("outstanding_claims_kib"));
    out("free_cpus              : %d\n", static_cast<int>(u64(i, "free_cpus")));
    if (numa) {
        print_topology(i);
        print_numa(i);
    }
    const int major = static_cast<int>(u64(i, "xen_major")), minor = static_cast<int>(u64(i, "xen_minor"));
    out("xen_major              : %d\n", major);
    out("xen_minor              : %d\n", minor);
    out("xen_extra              : %s\n", str(i, "xen_extra").c_str());
    out("xen_version            : %d.%d%s\n", major, minor, str(i, "xen_extra").c_str());
    out("xen_caps               : %s\n", str(i, "xen_caps").c_str());
    out("xen_scheduler          : %s\n", str(i, "xen_scheduler").c_str());
    out("xen_pagesize           : %u\n", static_cast<unsigned>(u64(i, "xen_pagesize")));
    out("platform_params        : virt_start=0x%lx\n",
        static_cast<unsigned long>(u64(i, "virt_start")));
    out("xen_changeset          : %s\n", str(i, "xen_changeset").c_str());
    out("xen_commandline        : %s\n", str(i, "xen_commandline").c_str());
    out("cc_compiler            : %s\n", str(i, "cc_compiler").c_str());
    out("cc_compile_by          : %s\n", str(i, "cc_compile_by").c_str());
    out("cc_compile_domain      : %s\n", str(i, "cc_compile_domain").c_str());
    out("cc_compile_date        : %s\n", str(i, "cc_compile_date").c_str());
    out("build_id               : %s\n", str(i, "build_id").c_str());
    out("xend_config_format     : 4\n");
    return 0;
}

int cmd_uptime(const Args& a) {
    Getopt opts(a, "s", kNoLongOptions);
    bool short_mode = false;
    for (int o; (o = opts.next()) != -1;) {
        if (o == -2) return 2;
        if (o == 's') short_mode = true;
    }
    auto reply = request({{"cmd", "list"}});
    if (!reply) return 1;
    const json domains = reply->value("domains", json::array());
    // xl's find_domain: a number is taken as a domid as it is; a name must
    // exist. Every operand is resolved before anything is printed.
    std::vector<unsigned> wanted;
    for (const auto& w : opts.rest()) {
        if (const auto domid = control::qualifier_domid(w)) {
            wanted.push_back(*domid);
            continue;
        }
        const auto it = std::find_if(domains.begin(), domains.end(),
                                     [&](const json& d) { return d["name"] == w; });
        if (it == domains.end()) {
            std::fprintf(stderr, "%s is an invalid domain identifier (rc=%d)\n", w.c_str(),
                         kLibxlErrorInval);
            return 1;
        }
        wanted.push_back((*it)["domid"].get<unsigned>());
    }
    const std::time_t now = std::time(nullptr);
    if (!short_mode) std::printf("%-33s %4s %s\n", "Name", "ID", "Uptime");
    auto show = [&](unsigned domid) {
        if (domid == 0) {  // the host: /proc/uptime, as xl reads dom0's
            std::ifstream f("/proc/uptime");
            double up = 0;
            if (!(f >> up)) {
                std::fprintf(stderr, "Can not get Dom0 uptime.\n");
                std::exit(255);
            }
            print_uptime_line("Domain-0", 0, static_cast<unsigned long>(up), short_mode, now);
            return;
        }
        for (const auto& d : domains)  // a domid that is not there prints nothing
            if (d["domid"].get<unsigned>() == domid)
                print_uptime_line(d["name"].get<std::string>(), domid,
                                  static_cast<unsigned long>(d["uptime"].get<double>()), short_mode,
                                  now);
    };
    if (wanted.empty()) {
        show(0);
        for (const auto& d : domains)
            if (d["domid"].get<unsigned>() != 0) show(d["domid"].get<unsigned>());
    }
    for (unsigned domid : wanted) show(domid);
    return 0;
}

int cmd_dmesg(const Args& a) {
    static constexpr option kLong[] = {{"clear", no_argument, nullptr, 'c'},
                                       {"help", no_argument, nullptr, 'h'},
                                       {}};
    Getopt opts(a, "c", kLong);
    bool clear = false;
    for (int o; (o = opts.next()) != -1;) {
        if (o == -2) return 2;
        if (o == 'c') clear = true;
    }
    auto r = request({{"cmd", "dmesg"}, {"clear", clear}});
    if (!r) return 1;
    for (const auto& l : r->value("lines", json::array()))
        std::printf("%s\n", l.get<std::string>().c_str());
    return 0;
}

}  // namespace xenolith::xl
