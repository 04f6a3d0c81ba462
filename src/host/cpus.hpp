// The host's CPUs as Linux describes them in /sys/devices/system: what
// xenolithd reports as physinfo/topology and masks vCPU affinity against.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xenolith::host {

// A set of host CPUs, one entry per possible CPU (HostCpus::nr_cpus).
using CpuMask = std::vector<bool>;

// The host's CPUs, as Xen's physinfo and topology would describe them.
struct HostCpus {
    unsigned nr_cpus = 0;             // possible CPUs: the highest id + 1
    std::vector<unsigned> online;     // ascending
    std::vector<std::vector<unsigned>> node_cpus;  // NUMA node id -> its CPUs
};

// Reads /sys/devices/system/{cpu,node} (a root for tests). A node
// directory that cannot be read counts as a node without CPUs.
HostCpus read_host_cpus(const std::string& sysfs_root = "/sys/devices/system");
// The number of possible CPUs, read once: masks are this wide.
unsigned host_cpu_count();
// Linux's cpulist format ("0-3,8"); nullopt when malformed.
std::optional<std::vector<unsigned>> parse_linux_cpulist(std::string_view text);

}  // namespace xenolith::host
