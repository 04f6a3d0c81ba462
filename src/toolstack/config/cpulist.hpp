// xl's CPU-list grammar: cpus= and cpus_soft= in xl.cfg(5) and the
// affinity arguments of `xl vcpu-pin`, read as tools/xl/xl_parse.c's
// parse_cpurange() reads them:
//
//   list    := element { ',' element }        empty elements are skipped
//   element := [ '^' ] [ "node:" | "nodes:" ] ( "all" | N | N '-' M )
//
// N and M are read as strtoul(.., 10) reads them (leading blanks, a sign);
// "^" removes CPUs (or a node's CPUs) added by earlier elements. Parsing
// needs no host; resolve() then maps the list onto the host's CPUs: CPUs
// and nodes the host does not have are ignored, as libxl's bitmaps and
// Xen's cpumask truncation ignore them.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace xenolith::config {

struct CpuRangeItem {
    bool exclude = false;  // "^"
    bool nodes = false;    // "node:"/"nodes:": the numbers name NUMA nodes
    bool all = false;      // "all" (never with exclude)
    std::uint64_t first = 0;  // inclusive range, as strtoul returned it
    std::uint64_t last = 0;
};

struct CpuList {
    std::string text;  // as written
    std::vector<CpuRangeItem> items;
};

// Errors are xl's messages: `Invalid pcpu range: <element>.` (the element
// without its "^"/"node:" prefix) or `Can't combine "^" and "all".`.
Result<CpuList> parse_cpulist(std::string_view text);

// The host's CPUs as libxl learns them from Xen (physinfo, topology).
struct HostTopology {
    unsigned nr_cpus = 0;                          // cpumap size: max_cpu_id + 1
    std::vector<std::vector<unsigned>> node_cpus;  // NUMA node id -> its CPUs
};

// A set of host CPUs with room for exactly `size()` of them. Setting a CPU
// beyond that is ignored, as libxl_bitmap_set ignores it.
class CpuMap {
public:
    explicit CpuMap(unsigned nr_cpus = 0) : bits_(nr_cpus, false) {}
    static CpuMap of(unsigned nr_cpus, std::span<const unsigned> cpus);

    unsigned size() const { return static_cast<unsigned>(bits_.size()); }
    void set(std::uint64_t cpu) { if (cpu < bits_.size()) bits_[cpu] = true; }
    void reset(std::uint64_t cpu) { if (cpu < bits_.size()) bits_[cpu] = false; }
    bool test(std::uint64_t cpu) const { return cpu < bits_.size() && bits_[cpu]; }
    void set_all() { bits_.assign(bits_.size(), true); }
    bool empty() const;
    bool full() const;
    std::vector<unsigned> cpus() const;

    // As xl prints cpumaps (print_bitmap): "all" when every CPU is set,
    // "none" when none is, else ranges such as "0-3,6".
    std::string str() const;

    bool operator==(const CpuMap&) const = default;

private:
    std::vector<bool> bits_;
};

// The CPUs `list` names on `host`, applying its elements in order.
CpuMap resolve(const CpuList& list, const HostTopology& host);

// cpus= or cpus_soft= as xl's parse_vcpu_affinity reads it: a string is
// every vCPU's list (kept once, however many vCPUs); a list gives vCPU i
// its i-th entry, and vCPUs without one keep the default.
struct VcpuAffinityConfig {
    std::vector<CpuList> lists;
    bool same_for_every_vcpu = false;  // a string: lists[0] applies to all

    bool empty() const { return lists.empty(); }
    // vCPU `vcpu`'s list, or nullptr when it keeps the default.
    const CpuList* for_vcpu(unsigned vcpu) const {
        if (same_for_every_vcpu) return lists.empty() ? nullptr : &lists.front();
        return vcpu < lists.size() ? &lists[vcpu] : nullptr;
    }
};

}  // namespace xenolith::config
