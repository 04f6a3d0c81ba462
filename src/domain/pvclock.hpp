// Xen's paravirtual clock (vcpu_time_info) and wall clock (shared_info):
// the guest computes system time as
//   system_time + (((tsc - tsc_timestamp) << shift) * tsc_to_system_mul) >> 32
// (a right shift when `shift` is negative). Writers follow the version
// protocol: odd while the fields change.
#pragma once

#include <cstdint>

extern "C" {
#include <xen/xen.h>
}

#include "evtchn/shared_info_layout.hpp"

namespace xenolith::domain {

struct PvclockScale {
    std::uint32_t mul = 0;
    std::int8_t shift = 0;
    bool tsc_stable = false;  // XEN_PVCLOCK_TSC_STABLE_BIT
};

PvclockScale pvclock_scale(std::uint64_t tsc_khz, bool tsc_stable);

// Publishes (guest_tsc, system_ns) as the vCPU's time reference.
void write_vcpu_time(vcpu_time_info_t& t, std::uint64_t guest_tsc, std::uint64_t system_ns,
                     const PvclockScale& scale);

// What a guest reads at `tsc` (for tests and sanity checks).
std::uint64_t read_vcpu_time(const vcpu_time_info_t& t, std::uint64_t tsc);

// Publishes the wall-clock time of system time 0 in shared_info, at the
// fields of `layout` (wc_* at 3072 native, 2304 compat; wc_sec_hi at 3084
// or 2340).
void write_wallclock(shared_info_t& s, evtchn::SharedInfoLayout layout,
                     std::int64_t wall_ns_at_system_zero);

}  // namespace xenolith::domain
