// /etc/xen/xl.conf, xl's global settings (xl.conf(5); xl.c
// parse_global_config). The file is in the xl.cfg language, so it is read by
// the same parser; this file gives its keys their types.
//
// Where xl prints a complaint and carries on (an autoballoon, output_format
// or domid_policy it does not know) xenolith refuses the file with an error
// naming file:line and the key: a typo there would otherwise silently change
// every domain. Unknown keys, which xl ignores, are warnings; so are keys
// xenolith reads but has no use for (remus, colo, vm.hvm.cpumask) and xl's
// deprecated spellings (vifscript, defaultbridge), which are still honoured.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "toolstack/config/cpulist.hpp"
#include "toolstack/config/value.hpp"

namespace xenolith::config {

// XL_GLOBAL_CONFIG.
inline constexpr const char* kXlConfPath = "/etc/xen/xl.conf";
// XL_LOCK_FILE.
inline constexpr const char* kXlDefaultLockfile = "/var/lock/xl";

enum class Autoballoon { off, on, automatic };
enum class OutputFormat { json, sxp };
enum class DomidPolicy { xen, random };

struct XlConf {
    std::string source;  // the file as named, empty when defaults only
    Autoballoon autoballoon = Autoballoon::automatic;
    bool run_hotplug_scripts = true;
    std::string lockfile = kXlDefaultLockfile;
    // Absent: the hypervisor's own limit.
    std::optional<std::uint32_t> max_grant_frames;
    std::optional<std::uint32_t> max_maptrack_frames;
    std::optional<std::uint32_t> max_grant_version;
    // Absent: libxl's defaults (vif-bridge, xenbr0, domain 0, none).
    std::optional<std::string> vif_default_script;
    std::optional<std::string> vif_default_bridge;
    std::optional<std::string> vif_default_backend;
    std::optional<std::string> vif_default_gatewaydev;
    std::optional<std::string> remus_default_netbufscript;
    std::optional<std::string> colo_default_proxyscript;
    OutputFormat output_format = OutputFormat::json;
    std::optional<std::string> blkdev_start;
    bool claim_mode = true;
    // Absent: any CPU.
    std::optional<CpuList> vm_cpumask;
    std::optional<CpuList> vm_hvm_cpumask;
    std::optional<CpuList> vm_pv_cpumask;
    DomidPolicy domid_policy = DomidPolicy::xen;

    std::vector<Warning> warnings;  // parser's and the keys', in file order
};

// Parses xl.conf text. Errors read "file:line: key: what is wrong".
Result<XlConf> parse_xl_conf(std::string_view text, std::string_view source_name);

// Reads and parses `path`. A file that does not exist gives the defaults (xl
// runs without one); one that cannot be read is an error.
Result<XlConf> load_xl_conf(const std::string& path = kXlConfPath);

}  // namespace xenolith::config
