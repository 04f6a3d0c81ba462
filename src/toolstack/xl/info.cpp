// xl info and xl dmesg.
#include <cstdio>

#include "toolstack/xl/xl.hpp"

namespace xenolith::xl {

int cmd_info(const Args&) {
    auto r = request({{"cmd", "info"}});
    if (!r) return 1;
    const auto& i = *r;
    auto line = [](const char* k, const std::string& v) { std::printf("%-23s: %s\n", k, v.c_str()); };
    auto s = [&](const char* k) { return i[k].get<std::string>(); };
    auto n = [&](const char* k) { return std::to_string(i[k].get<std::uint64_t>()); };
    const std::uint64_t cpus = i["nr_cpus"].get<std::uint64_t>();
    line("host", s("host"));
    line("release", s("release"));
    line("version", s("version"));
    line("machine", s("machine"));
    line("nr_cpus", n("nr_cpus"));
    line("max_cpu_id", std::to_string(cpus - 1));
    line("nr_nodes", "1");
    line("cores_per_socket", n("nr_cpus"));
    line("threads_per_core", "1");
    line("virt_caps", "hvm");
    line("total_memory", n("total_memory_mib"));
    line("free_memory", n("free_memory_mib"));
    line("sharing_freed_memory", "0");
    line("sharing_used_memory", "0");
    line("outstanding_claims", "0");
    line("free_cpus", "0");
    line("xen_major", "4");
    line("xen_minor", "17");
    line("xen_extra", ".0-xenolith");
    line("xen_version", "4.17.0-xenolith");
    line("xen_caps", "hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64");
    line("xen_scheduler", "credit2");
    line("xen_pagesize", "4096");
    line("platform_params", "virt_start=0x0");
    line("xen_changeset", "xenolith");
    line("xen_commandline", i["kvm_xen"].get<bool>() ? "kvm_xen=available" : "kvm_xen=none");
    line("cc_compiler", __VERSION__);
    line("cc_compile_by", "xenolith");
    line("cc_compile_domain", "localdomain");
    line("cc_compile_date", __DATE__);
    line("build_id", "");
    line("xend_config_format", "4");
    return 0;
}

int cmd_dmesg(const Args& a) {
    const bool clear = a.size() > 1 && a[1] == "-c";
    auto r = request({{"cmd", "dmesg"}, {"clear", clear}});
    if (!r) return 1;
    for (const auto& l : (*r)["lines"]) std::printf("%s\n", l.get<std::string>().c_str());
    return 0;
}

}  // namespace xenolith::xl
