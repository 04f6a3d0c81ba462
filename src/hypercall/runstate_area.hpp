// The copy of a vCPU's runstate in the guest's registered area
// (VCPUOP_register_runstate_memory_area), in the layout of the ABI the area
// was registered from: vcpu_runstate_info_t (48 bytes) or, for a 32-bit
// caller, compat::VcpuRunstateInfo (44 bytes, uint64_ts 4-aligned).
#pragma once

#include <cstdint>

extern "C" {
#include <xen/vcpu.h>
}

#include "hypercall/guest_access.hpp"

namespace xenolith::hypercall {

// With `update_flag` (VMASST_TYPE_runstate_update_flag) the guest sees
// XEN_RUNSTATE_UPDATE in state_entry_time while the copy is in flight, as
// Xen's update_runstate_area() does. False when the area faults.
bool write_runstate_area(GuestAccess& guest, std::uint64_t area, bool is64, bool update_flag,
                         const vcpu_runstate_info_t& r);

}  // namespace xenolith::hypercall
