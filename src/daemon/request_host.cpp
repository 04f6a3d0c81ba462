// The host family: "info", what libxl_get_physinfo, libxl_get_version_info
// and the topology calls give `xl info` (and xentop's summary) on Xen, read
// from the host Linux (/proc, sysfs, CPUID) and from xenolithd itself.
#include "daemon/request_util.hpp"

#include <cpuid.h>
#include <elf.h>
#include <link.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace xenolith::daemon {
namespace {

using nlohmann::json;

// The hypervisor's identity, as guests read it through XENVER_*
// (hypercall/xen_version.cpp): on Xen, `xl info` and a guest see the same.
constexpr unsigned kXenMajor = 4, kXenMinor = 17;
constexpr const char* kXenExtra = ".0-xenolith";
constexpr const char* kXenCaps = "hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64";
constexpr const char* kCompiler = "xenolith (C++20)";
constexpr const char* kCompileBy = "xenolith";
constexpr const char* kCompileDomain = "localdomain";
// HYPERVISOR_VIRT_START for a 64-bit caller, what XENVER_platform_parameters
// gives a 64-bit domain (xl runs 64-bit).
constexpr std::uint64_t kVirtStart = 0xffff800000000000ull;

std::string read_line(const std::string& path) {
    std::ifstream f(path);
    std::string s;
    std::getline(f, s);
    return s;
}

// Members of a sysfs CPU/node list such as "0-3,8,10-11".
std::vector<unsigned> parse_cpu_list(const std::string& list) {
    std::vector<unsigned> out;
    std::stringstream ss(list);
    std::string range;
    while (std::getline(ss, range, ',')) {
        if (range.empty()) continue;
        unsigned lo = 0, hi = 0;
        const auto dash = range.find('-');
        try {
            lo = static_cast<unsigned>(std::stoul(range.substr(0, dash)));
            hi = dash == std::string::npos ? lo
                                           : static_cast<unsigned>(std::stoul(range.substr(dash + 1)));
        } catch (const std::exception&) {
            continue;
        }
        for (unsigned i = lo; i <= hi && i < 65536; ++i) out.push_back(i);
    }
    return out;
}

int read_int(const std::string& path, int fallback) {
    try {
        return std::stoi(read_line(path));
    } catch (const std::exception&) {
        return fallback;
    }
}

// "cpu MHz : 2596.094" from /proc/cpuinfo, in kHz (Xen's cpu_khz); digits
// are taken as text so 2596.094 stays 2596094.
std::uint64_t cpu_khz() {
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("cpu MHz", 0) != 0) continue;
        const auto colon = line.find(':');
        if (colon == std::string::npos) break;
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        const auto dot = value.find('.');
        std::string frac = dot == std::string::npos ? "" : value.substr(dot + 1);
        frac = (frac + "000").substr(0, 3);
        try {
            return std::stoull(value.substr(0, dot)) * 1000 + std::stoull(frac);
        } catch (const std::exception&) {
            break;
        }
    }
    return 0;
}

// Xen's x86 featureset words 0-7 (public/arch-x86/cpufeatureset.h), read
// from the host's CPUID.
json hw_caps() {
    auto leaf = [](unsigned l, unsigned sub, int reg) -> std::uint32_t {
        unsigned r[4] = {};
        if (!__get_cpuid_count(l, sub, &r[0], &r[1], &r[2], &r[3])) return 0;
        return r[reg];
    };
    enum { eax, ebx, ecx, edx };
    return json::array({leaf(1, 0, edx), leaf(1, 0, ecx), leaf(0x80000001, 0, edx),
                        leaf(0x80000001, 0, ecx), leaf(0xd, 1, eax), leaf(7, 0, ebx),
                        leaf(7, 0, ecx), leaf(0x80000007, 0, edx)});
}

// Whether KVM pages guests with EPT/NPT (Xen's "hap") or shadow tables.
bool kvm_uses_hap() {
    for (const char* p : {"/sys/module/kvm_intel/parameters/ept",
                          "/sys/module/kvm_amd/parameters/npt"}) {
        const std::string v = read_line(p);
        if (v == "Y" || v == "1") return true;
    }
    return false;
}

std::uint64_t meminfo_kib(const std::string& path, const std::string& key) {
    std::ifstream f(path);
    std::string line;
    while (std::getline(f, line)) {
        const auto at = line.find(key + ":");
        if (at == std::string::npos) continue;
        std::istringstream rest(line.substr(at + key.size() + 1));
        std::uint64_t kib = 0;
        rest >> kib;
        return kib;
    }
    return 0;
}

// xenolithd's own arguments: the "hypervisor command line".
std::string daemon_commandline() {
    std::ifstream f("/proc/self/cmdline", std::ios::binary);
    std::vector<std::string> args;
    for (std::string arg; std::getline(f, arg, '\0');) args.push_back(arg);
    std::string out;
    for (std::size_t i = 1; i < args.size(); ++i) out += (i > 1 ? " " : "") + args[i];
    return out;
}

// The GNU build-id note of the xenolithd executable, in hex (Xen prints its
// own build id).
std::string daemon_build_id() {
    std::string id;
    dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void* out) {
            if (info->dlpi_name && info->dlpi_name[0]) return 1;  // the executable is first
            for (int i = 0; i < info->dlpi_phnum; ++i) {
                const ElfW(Phdr)& ph = info->dlpi_phdr[i];
                if (ph.p_type != PT_NOTE) continue;
                const auto* p = reinterpret_cast<const unsigned char*>(info->dlpi_addr + ph.p_vaddr);
                const unsigned char* end = p + ph.p_memsz;
                while (p + sizeof(ElfW(Nhdr)) <= end) {
                    ElfW(Nhdr) n;
                    std::memcpy(&n, p, sizeof n);
                    const unsigned char* name = p + sizeof n;
                    const unsigned char* desc = name + ((n.n_namesz + 3) & ~3u);
                    const unsigned char* next = desc + ((n.n_descsz + 3) & ~3u);
                    if (next > end) break;
                    if (n.n_type == NT_GNU_BUILD_ID && n.n_namesz == 4 &&
                        std::memcmp(name, "GNU", 4) == 0) {
                        auto& s = *static_cast<std::string*>(out);
                        for (unsigned b = 0; b < n.n_descsz; ++b) s += fmt::format("{:02x}", desc[b]);
                        return 1;
                    }
                    p = next;
                }
            }
            return 1;
        },
        &id);
    return id;
}

// cpu_topology (`xl info -n`): core, socket and node of every online CPU.
json cpu_topology(const std::vector<unsigned>& online) {
    json out = json::array();
    for (unsigned cpu : online) {
        const std::string base = fmt::format("/sys/devices/system/cpu/cpu{}", cpu);
        unsigned node = 0;  // the cpuN/nodeM link names its node
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(base, ec))
            std::sscanf(e.path().filename().c_str(), "node%u", &node);
        out.push_back({{"cpu", cpu},
                       {"core", read_int(base + "/topology/core_id", 0)},
                       {"socket", read_int(base + "/topology/physical_package_id", 0)},
                       {"node", node}});
    }
    return out;
}

// numa_info: each online node's size, free memory and distances.
json numa_nodes(const std::vector<unsigned>& nodes, std::uint64_t total_kib,
                std::uint64_t free_kib) {
    json out = json::array();
    for (unsigned n : nodes) {
        const std::string base = fmt::format("/sys/devices/system/node/node{}", n);
        json distances = json::array();
        std::istringstream ds(read_line(base + "/distance"));
        for (int d; ds >> d;) distances.push_back(d);
        if (distances.empty()) distances.push_back(10);
        const bool sysfs = std::filesystem::exists(base + "/meminfo");
        out.push_back({{"node", n},
                       {"size_kib", sysfs ? meminfo_kib(base + "/meminfo", "MemTotal") : total_kib},
                       {"free_kib", sysfs ? meminfo_kib(base + "/meminfo", "MemFree") : free_kib},
                       {"distances", distances}});
    }
    return out;
}

// device topology: PCI devices with a known NUMA node.
json pci_topology() {
    json out = json::array();
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/sys/bus/pci/devices", ec)) {
        unsigned seg = 0, bus = 0, dev = 0, fn = 0;
        const std::string name = e.path().filename();
        if (std::sscanf(name.c_str(), "%x:%x:%x.%x", &seg, &bus, &dev, &fn) != 4) continue;
        const int node = read_int(e.path() / "numa_node", -1);
        if (node < 0) continue;
        out.push_back({{"seg", seg}, {"bus", bus}, {"devfn", (dev << 3) | fn}, {"node", node}});
    }
    return out;
}

json info(Hypervisor& hv, const json& req) {
    struct sysinfo si {};
    sysinfo(&si);
    const std::uint64_t total_kib = static_cast<std::uint64_t>(si.totalram) * si.mem_unit / 1024;
    // Memory a new domain could get: what Linux reports available.
    std::uint64_t free_kib = meminfo_kib("/proc/meminfo", "MemAvailable");
    if (free_kib == 0) free_kib = static_cast<std::uint64_t>(si.freeram) * si.mem_unit / 1024;

    auto online = parse_cpu_list(read_line("/sys/devices/system/cpu/online"));
    if (online.empty())
        for (long i = 0; i < sysconf(_SC_NPROCESSORS_ONLN); ++i) online.push_back(static_cast<unsigned>(i));
    const auto possible = parse_cpu_list(read_line("/sys/devices/system/cpu/possible"));
    auto nodes = parse_cpu_list(read_line("/sys/devices/system/node/online"));
    if (nodes.empty()) nodes.push_back(0);  // a kernel without NUMA: one node
    // Xen: threads = siblings of CPU 0's core, cores = CPU 0's package / threads.
    const std::size_t threads = std::max<std::size_t>(
        1, parse_cpu_list(read_line("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list")).size());
    std::size_t package = parse_cpu_list(
        read_line("/sys/devices/system/cpu/cpu0/topology/core_siblings_list")).size();
    if (package == 0) package = online.size();

    // As Xen on a CPU without VT-x/SVM: no "hvm" (and no paging mode for it)
    // when the daemon has no KVM.
    json virt_caps = json::array();
    if (hv.kvm()) {
        virt_caps.push_back("hvm");
        virt_caps.push_back(kvm_uses_hap() ? "hap" : "shadow");
    }
    virt_caps.push_back("gnttab-v1");
    virt_caps.push_back("gnttab-v2");

    json out = {{"ok", true},
                {"nr_cpus", online.size()},
                {"max_cpu_id", possible.empty() ? online.back() : possible.back()},
                {"nr_nodes", nodes.size()},
                {"cores_per_socket", package / threads},
                {"threads_per_core", threads},
                {"cpu_khz", cpu_khz()},
                {"hw_caps", hw_caps()},
                {"virt_caps", virt_caps},
                {"total_memory_kib", total_kib},
                {"free_memory_kib", free_kib},
                {"sharing_freed_kib", 0},
                {"sharing_used_kib", 0},
                {"outstanding_claims_kib", 0},
                {"free_cpus", 0},
                {"xen_major", kXenMajor},
                {"xen_minor", kXenMinor},
                {"xen_extra", kXenExtra},
                {"xen_caps", kXenCaps},
                {"xen_scheduler", "credit2"},
                {"xen_pagesize", 4096},
                {"virt_start", kVirtStart},
                {"xen_changeset", "xenolith " XENOLITH_VERSION},
                {"xen_commandline", daemon_commandline()},
                {"cc_compiler", kCompiler},
                {"cc_compile_by", kCompileBy},
                {"cc_compile_domain", kCompileDomain},
                {"cc_compile_date", __DATE__},
                {"build_id", daemon_build_id()},
                {"kvm_xen", hv.kvm() && hv.kvm()->has_xen_hvm()},
                {"uptime", std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                         hv.started_at())
                               .count()}};
    if (req.contains("topology") && req["topology"] == true) {
        out["cpu_topology"] = cpu_topology(online);
        out["numa_nodes"] = numa_nodes(nodes, total_kib, free_kib);
        out["pci_topology"] = pci_topology();
    }
    return out;
}

constexpr RequestHandler kHostRequests[] = {
    {"info", info},
};

}  // namespace

std::span<const RequestHandler> host_requests() { return kHostRequests; }

}  // namespace xenolith::daemon
