// The typed domain configuration xenolith acts on, built from parsed xl.cfg
// settings the way xl's parse_config_data() reads them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "toolstack/config/disk.hpp"
#include "toolstack/config/nic.hpp"
#include "toolstack/config/cpulist.hpp"
#include "toolstack/config/uuid.hpp"
#include "toolstack/config/value.hpp"

namespace xenolith::config {

enum class DomainType { pv, pvh, hvm };

// "pv", "pvh", "hvm": the xl.cfg spelling, which is also libxl's JSON one.
std::string_view to_string(DomainType type);

// What to do when the guest shuts down for a given reason.
enum class ShutdownAction {
    destroy,
    restart,
    rename_restart,
    preserve,
    coredump_destroy,
    coredump_restart,
    soft_reset,
};

// xl.cfg spelling: "rename-restart", "coredump-destroy", ...
std::string_view to_config_name(ShutdownAction action);
// libxl's JSON spelling: "restart_rename", "coredump_destroy", ...
std::string_view to_json_name(ShutdownAction action);
std::optional<ShutdownAction> parse_shutdown_action(std::string_view config_name);

// Defaults xl/libxl apply when a key is absent.
inline constexpr std::uint64_t kDefaultMemoryMib = 32;          // libxl: max_memkb = 32 MiB
inline constexpr std::uint32_t kDefaultMaxGrantFrames = 64;      // Xen's gnttab_max_frames
inline constexpr std::uint32_t kDefaultMaxMaptrackFrames = 1024; // Xen's gnttab_max_maptrack_frames
inline constexpr std::uint32_t kDefaultMaxEventChannels = 1023;  // libxl
// Upper bound on vcpus/maxvcpus (Xen's largest NR_CPUS is 4096).
inline constexpr std::uint32_t kMaxVcpus = 4096;

// What `xl create -n` prints beyond the values xenolith acts on: which of
// those the file wrote (libxl's JSON leaves out what xl left at libxl's
// initial value), and the settings xl hands to libxl that xenolith reads
// only to show them (it warns that it ignores them). As xl's
// parse_config_data reads them.
struct LibxlSettings {
    bool memory = false, maxmem = false;  // memory=, maxmem=
    bool vcpus = false, maxvcpus = false;
    bool max_grant_frames = false, max_maptrack_frames = false;
    bool max_event_channels = false;  // written, and not 0 (libxl's "default")
    std::optional<std::string> pool;  // c_info.pool_name
    // b_info.sched_params: cpu_weight=, cap=, period=, extratime=, slice=, latency=
    std::optional<std::int64_t> weight, cap, period, extratime, slice, latency;
    std::optional<bool> nomigrate;  // b_info.disable_migrate
    std::optional<std::string> bootloader;
    std::optional<std::vector<std::string>> bootloader_args;  // a list, or a string split on spaces
    std::optional<bool> acpi, nestedhvm, apic;                // b_info defbools (apic: HVM only)
    // type.hvm, HVM only: pae=, viridian= (as a boolean), hpet=, serial=
    // (as a string), boot=
    std::optional<bool> pae, viridian, hpet;
    std::optional<std::string> serial, boot;
    // type.hvm.vnc: vnc=, vnclisten=, vncpasswd=, vncdisplay=, vncunused=
    std::optional<bool> vnc, vncunused;
    std::optional<std::string> vnclisten, vncpasswd;
    std::optional<std::int64_t> vncdisplay;
};

struct DomainConfig {
    std::string source;  // the config file name, for later messages

    std::string name;
    DomainType type = DomainType::pv;  // xl's default on x86 when neither type= nor builder=
    std::optional<Uuid> uuid;          // absent: the daemon generates one

    // Direct kernel boot. `cmdline` is the command line the guest gets:
    // cmdline= if given, else "root=<root> <extra>" composed as xl does.
    std::optional<std::string> kernel;
    std::optional<std::string> ramdisk;
    std::optional<std::string> cmdline;
    std::optional<std::string> root;   // as written
    std::optional<std::string> extra;  // as written
    std::optional<std::string> firmware_override;  // HVM only

    std::uint64_t memory_mib = kDefaultMemoryMib;  // initial allocation (libxl target_memkb)
    std::uint64_t maxmem_mib = kDefaultMemoryMib;  // ceiling (libxl max_memkb)
    std::uint32_t vcpus = 1;                       // online at boot
    std::uint32_t max_vcpus = 1;

    ShutdownAction on_poweroff = ShutdownAction::destroy;
    ShutdownAction on_reboot = ShutdownAction::restart;
    ShutdownAction on_watchdog = ShutdownAction::destroy;
    ShutdownAction on_crash = ShutdownAction::destroy;
    ShutdownAction on_soft_reset = ShutdownAction::soft_reset;

    std::uint32_t max_grant_frames = kDefaultMaxGrantFrames;
    std::uint32_t max_maptrack_frames = kDefaultMaxMaptrackFrames;
    std::uint32_t max_event_channels = kDefaultMaxEventChannels;

    // Affinity as written (a string such as "0-3,^1" or a list of them),
    // interpreted later against the host's CPUs.
    std::optional<Value> cpus;
    std::optional<Value> cpus_soft;

    // disk= and vif=, parsed and checked; both are attached at create
    // (disks first, as libxl).
    std::vector<DiskConfig> disks;
    std::vector<NicConfig> nics;

    // xenolith extension: the global VIRQs this domain receives instead of
    // domain 0 (XEN_DOMCTL_set_virq_handler), by number.
    std::vector<std::uint32_t> global_virqs;
    // The same, parsed as xl's parse_vcpu_affinity reads them (list
    // entries beyond maxvcpus are ignored, unparsed). Empty when absent.
    VcpuAffinityConfig vcpu_hard_affinity;
    VcpuAffinityConfig vcpu_soft_affinity;

    LibxlSettings libxl;
};

// Builds the typed configuration. Keys xenolith does not implement yet and
// keys xl does not know add one warning each and are otherwise ignored.
// Errors read "file:line:column: key: what is wrong", the column being the
// value's (inside a disk= or vif= string, the offending part's).
Result<DomainConfig> build_domain_config(const ParsedConfig& parsed,
                                         std::vector<Warning>& warnings);

}  // namespace xenolith::config
