// Once-per-domain warnings about things a guest did that xenolith does not
// offer (an unknown hypercall, a port nobody emulates, ...). Each warning
// is keyed by its kind and the exact value it names, so one can never
// silence another; a guest probing every port or sub-op cannot grow the
// set past kMaxKeys, and once it is full each kind still warns once.
#pragma once

#include <bitset>
#include <cstdint>
#include <mutex>
#include <set>
#include <utility>

namespace xenolith {

enum class GuestWarning : std::uint8_t {
    unknown_hypercall,        // detail: the hypercall number
    // An unknown sub-op of one family; detail: the sub-op.
    unknown_xen_version_op,
    unknown_memory_op,
    unknown_hvm_op,
    unknown_vcpu_op,
    unknown_sched_op,
    unknown_console_io_op,
    unknown_event_channel_op,
    unknown_grant_table_op,
    unknown_vm_assist_op,
    unknown_physmap_space,    // detail: XENMAPSPACE_*
    nmi_not_delivered,        // VCPUOP_send_nmi
    unhandled_mmio,
    unhandled_port_io,        // detail: the port
    unknown_wrmsr,
    unknown_rdmsr,
    hypercall_page,
    callback_via_unsupported,
    count_                    // keep last
};

class GuestWarnings {
public:
    static constexpr std::size_t kMaxKeys = 1024;

    // True the first time (kind, detail) is seen.
    bool first_time(GuestWarning kind, std::uint64_t detail = 0) {
        std::lock_guard lock(mu_);
        const auto k = static_cast<std::size_t>(kind);
        if (seen_.size() >= kMaxKeys) {
            if (kinds_.test(k)) return false;
            kinds_.set(k);
            return true;
        }
        kinds_.set(k);
        return seen_.emplace(kind, detail).second;
    }

private:
    std::mutex mu_;
    std::set<std::pair<GuestWarning, std::uint64_t>> seen_;
    std::bitset<static_cast<std::size_t>(GuestWarning::count_)> kinds_;
};

}  // namespace xenolith
