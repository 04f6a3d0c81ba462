// What xentop shows, in libxenstat's terms: one sample of the node (host
// figures and every domain), taken from xenolithd's "info" and "list"
// requests, and the host's per-CPU idle time for -p.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::xentop {

struct VcpuSample {
    bool online = false;
    std::uint64_t cpu_ns = 0;
};

struct DomainSample {
    unsigned domid = 0;
    std::string name;
    // libxenstat's state tests; a crashed domain is not "shutdown".
    bool dying = false, shutdown = false, blocked = false, crashed = false, paused = false,
         running = false;
    std::uint64_t cpu_ns = 0;
    std::uint64_t cur_mem_bytes = 0;
    std::optional<std::uint64_t> max_mem_bytes;  // nullopt: "no limit"
    std::vector<VcpuSample> vcpus;               // max_vcpu_id + 1 of them
    // No network or block back-ends yet: always 0 (and no devices listed).
    unsigned num_networks = 0, num_vbds = 0;
    std::uint64_t net_tx_bytes = 0, net_rx_bytes = 0;
    std::uint64_t vbd_oo = 0, vbd_rd = 0, vbd_wr = 0, vbd_rsect = 0, vbd_wsect = 0;
    unsigned ssid = 0;
};

struct NodeSample {
    std::string xen_version;  // "4.17.0-xenolith"
    std::uint64_t tot_mem_bytes = 0, free_mem_bytes = 0;
    unsigned num_cpus = 0;
    std::uint64_t cpu_hz = 0;
    std::vector<DomainSample> domains;

    const DomainSample* find(unsigned domid) const;
};

// Builds a sample from the two replies; malformed replies are an error.
Result<NodeSample> parse_node(const nlohmann::json& info, const nlohmann::json& list);

// A connection to xenolithd, reopened once if the daemon went away.
class Source {
public:
    Status connect();
    Result<NodeSample> sample();

private:
    Result<nlohmann::json> ask(const nlohmann::json& req);
    UniqueFd fd_;
};

// Per host CPU busy and idle time (µs) from /proc/stat: idle is what Xen's
// sysctl getcpuinfo gives xentop -p; busy is domain 0's vCPU time (the
// host's CPUs are its vCPUs).
struct HostCpuTime {
    std::uint64_t busy_us = 0, idle_us = 0;
};
std::optional<std::vector<HostCpuTime>> host_cpu_times();

}  // namespace xenolith::xentop
