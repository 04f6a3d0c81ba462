// The 32-bit guest ABI (Xen's "compat" layouts) of every hypercall argument
// xenolith reads or writes, next to proof that the others are the same in
// both ABIs.
//
// A 32-bit HVM/PVH guest builds its arguments with the i386 C rules: guest
// handles, pointers, `long`, `unsigned long` and xen_ulong_t/xen_pfn_t are
// 4 bytes, and a uint64_t is 4-byte aligned inside a structure (so a
// uint64_t after a 4-byte field moves up, and trailing padding shrinks).
// Xen derives its compat structures from the public headers by those rules
// (xen/include/compat, listed in xen/include/xlat.lst: "!" = translated,
// "?" = checked identical). The layouts here are written out by hand from
// the same rules; every one is pinned by size and offset asserts.
//
// The 64-bit side is the public headers of libxen-dev as they are.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" {
#include <xen/event_channel.h>
#include <xen/grant_table.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/hvm_vcpu.h>
#include <xen/memory.h>
#include <xen/sched.h>
#include <xen/vcpu.h>
#include <xen/version.h>
#include <xen/xen.h>
}

namespace xenolith::hypercall::compat {

// XEN_GUEST_HANDLE(x) of a 32-bit guest: a 32-bit linear address. It
// cannot name anything at or above 4 GiB.
using Handle = std::uint32_t;
// compat xen_pfn_t / xen_ulong_t / unsigned long.
using Ulong = std::uint32_t;

// ---- Translated ("!" in xlat.lst): the layouts differ. -------------------

// xen_memory_map: handle after a 4-byte count (native: at 8).
struct MemoryMap {
    std::uint32_t nr_entries;
    Handle buffer;
};
static_assert(sizeof(MemoryMap) == 8 && offsetof(MemoryMap, buffer) == 4);
static_assert(sizeof(xen_memory_map_t) == 16 && offsetof(xen_memory_map_t, buffer) == 8);

// xen_add_to_physmap: idx and gpfn are xen_ulong_t / xen_pfn_t.
struct AddToPhysmap {
    domid_t domid;
    std::uint16_t size;
    std::uint32_t space;
    Ulong idx;
    Ulong gpfn;
};
static_assert(sizeof(AddToPhysmap) == 16 && offsetof(AddToPhysmap, space) == 4 &&
              offsetof(AddToPhysmap, idx) == 8 && offsetof(AddToPhysmap, gpfn) == 12);
static_assert(sizeof(xen_add_to_physmap_t) == 24 && offsetof(xen_add_to_physmap_t, idx) == 8 &&
              offsetof(xen_add_to_physmap_t, gpfn) == 16);

// xen_memory_reservation: a handle to 4-byte frame numbers, a 4-byte count.
struct MemoryReservation {
    Handle extent_start;
    Ulong nr_extents;
    std::uint32_t extent_order;
    std::uint32_t mem_flags;
    domid_t domid;
};
static_assert(sizeof(MemoryReservation) == 20 && offsetof(MemoryReservation, nr_extents) == 4 &&
              offsetof(MemoryReservation, extent_order) == 8 &&
              offsetof(MemoryReservation, mem_flags) == 12 &&
              offsetof(MemoryReservation, domid) == 16);
static_assert(sizeof(xen_memory_reservation_t) == 32 &&
              offsetof(xen_memory_reservation_t, extent_order) == 16 &&
              offsetof(xen_memory_reservation_t, domid) == 24);

// gnttab_setup_table: a handle to 4-byte frame numbers.
struct GnttabSetupTable {
    domid_t dom;
    std::uint32_t nr_frames;
    std::int16_t status;
    Handle frame_list;
};
static_assert(sizeof(GnttabSetupTable) == 16 && offsetof(GnttabSetupTable, nr_frames) == 4 &&
              offsetof(GnttabSetupTable, status) == 8 &&
              offsetof(GnttabSetupTable, frame_list) == 12);
static_assert(sizeof(gnttab_setup_table_t) == 24 &&
              offsetof(gnttab_setup_table_t, frame_list) == 16);

// gnttab_copy: the union of a grant ref and a xen_pfn_t is 4 bytes.
struct GnttabCopyPtr {
    std::uint32_t ref_or_gmfn;
    domid_t domid;
    std::uint16_t offset;
};
struct GnttabCopy {
    GnttabCopyPtr source, dest;
    std::uint16_t len;
    std::uint16_t flags;
    std::int16_t status;
};
static_assert(sizeof(GnttabCopyPtr) == 8 && offsetof(GnttabCopyPtr, offset) == 6);
static_assert(sizeof(GnttabCopy) == 24 && offsetof(GnttabCopy, dest) == 8 &&
              offsetof(GnttabCopy, len) == 16 && offsetof(GnttabCopy, status) == 20);
static_assert(sizeof(gnttab_copy_t) == 40 && offsetof(gnttab_copy_t, status) == 36);

// vcpu_runstate_info: the uint64_ts are 4-byte aligned, right after state.
struct __attribute__((packed, aligned(4))) VcpuRunstateInfo {
    std::int32_t state;
    std::uint64_t state_entry_time;
    std::uint64_t time[4];
};
static_assert(sizeof(VcpuRunstateInfo) == 44 &&
              offsetof(VcpuRunstateInfo, state_entry_time) == 4 &&
              offsetof(VcpuRunstateInfo, time) == 12);
static_assert(sizeof(vcpu_runstate_info_t) == 48 &&
              offsetof(vcpu_runstate_info_t, state_entry_time) == 8);

inline VcpuRunstateInfo to_compat(const vcpu_runstate_info_t& r) {
    VcpuRunstateInfo c{};
    c.state = r.state;
    c.state_entry_time = r.state_entry_time;
    for (unsigned i = 0; i < 4; ++i) c.time[i] = r.time[i];
    return c;
}

// vcpu_set_singleshot_timer: no trailing padding after flags.
struct __attribute__((packed, aligned(4))) VcpuSetSingleshotTimer {
    std::uint64_t timeout_abs_ns;
    std::uint32_t flags;
};
static_assert(sizeof(VcpuSetSingleshotTimer) == 12 &&
              offsetof(VcpuSetSingleshotTimer, flags) == 8);
static_assert(sizeof(vcpu_set_singleshot_timer_t) == 16);

// vcpu_register_runstate_memory_area / vcpu_register_time_memory_area: the
// union's uint64_t member makes both 8 bytes in either ABI, but a 32-bit
// guest stores only the 4-byte handle (Linux leaves the upper half
// uninitialised), so Xen reads 4 bytes and so do we.
static_assert(sizeof(vcpu_register_runstate_memory_area_t) == 8);
static_assert(sizeof(vcpu_register_time_memory_area_t) == 8);

// sched_poll: a 4-byte handle; timeout lands at 8 either way.
struct SchedPoll {
    Handle ports;
    std::uint32_t nr_ports;
    std::uint64_t timeout;
};
static_assert(sizeof(SchedPoll) == 16 && offsetof(SchedPoll, nr_ports) == 4 &&
              offsetof(SchedPoll, timeout) == 8);
static_assert(sizeof(sched_poll_t) == 24 && offsetof(sched_poll_t, nr_ports) == 8 &&
              offsetof(sched_poll_t, timeout) == 16);

// xen_platform_parameters: virt_start is an unsigned long.
struct PlatformParameters {
    Ulong virt_start;
};
static_assert(sizeof(PlatformParameters) == 4);
static_assert(sizeof(xen_platform_parameters_t) == 8);

// ---- Checked ("?" in xlat.lst, or never listed): identical layouts. ------
// Each assert states the i386 size and offsets; the native struct meets
// them, so one definition serves both ABIs.

// event_channel_op: every argument is fixed-width and naturally aligned.
static_assert(sizeof(evtchn_alloc_unbound_t) == 8 && offsetof(evtchn_alloc_unbound_t, port) == 4);
static_assert(sizeof(evtchn_bind_interdomain_t) == 12 &&
              offsetof(evtchn_bind_interdomain_t, remote_port) == 4 &&
              offsetof(evtchn_bind_interdomain_t, local_port) == 8);
static_assert(sizeof(evtchn_bind_virq_t) == 12 && offsetof(evtchn_bind_virq_t, port) == 8);
static_assert(sizeof(evtchn_bind_ipi_t) == 8 && offsetof(evtchn_bind_ipi_t, port) == 4);
static_assert(sizeof(evtchn_bind_pirq_t) == 12);
static_assert(sizeof(evtchn_close_t) == 4 && sizeof(evtchn_send_t) == 4 &&
              sizeof(evtchn_unmask_t) == 4 && sizeof(evtchn_reset_t) == 2);
static_assert(sizeof(evtchn_status_t) == 24 && offsetof(evtchn_status_t, port) == 4 &&
              offsetof(evtchn_status_t, status) == 8 && offsetof(evtchn_status_t, vcpu) == 12 &&
              offsetof(evtchn_status_t, u) == 16);
static_assert(sizeof(evtchn_bind_vcpu_t) == 8 && offsetof(evtchn_bind_vcpu_t, vcpu) == 4);
// The two uint64_t-led ones: at offset 0, and padded to 8 explicitly.
static_assert(sizeof(evtchn_init_control_t) == 24 &&
              offsetof(evtchn_init_control_t, offset) == 8 &&
              offsetof(evtchn_init_control_t, vcpu) == 12 &&
              offsetof(evtchn_init_control_t, link_bits) == 16);
static_assert(sizeof(evtchn_expand_array_t) == 8);
static_assert(sizeof(evtchn_set_priority_t) == 8 &&
              offsetof(evtchn_set_priority_t, priority) == 4);

// grant_table_op, besides setup_table and copy.
static_assert(sizeof(gnttab_query_size_t) == 16 && offsetof(gnttab_query_size_t, nr_frames) == 4 &&
              offsetof(gnttab_query_size_t, max_nr_frames) == 8 &&
              offsetof(gnttab_query_size_t, status) == 12);
static_assert(sizeof(gnttab_set_version_t) == 4);
static_assert(sizeof(gnttab_get_version_t) == 8 && offsetof(gnttab_get_version_t, version) == 4);

// hvm_op: the uint64_ts sit at offset 8 behind explicit padding.
static_assert(sizeof(xen_hvm_param_t) == 16 && offsetof(xen_hvm_param_t, index) == 4 &&
              offsetof(xen_hvm_param_t, value) == 8);
static_assert(sizeof(xen_hvm_evtchn_upcall_vector_t) == 8 &&
              offsetof(xen_hvm_evtchn_upcall_vector_t, vector) == 4);
static_assert(sizeof(xen_hvm_get_time_t) == 8);
static_assert(sizeof(xen_hvm_pagetable_dying_t) == 16 &&
              offsetof(xen_hvm_pagetable_dying_t, gpa) == 8);

// vcpu_op, besides the translated ones.
static_assert(sizeof(vcpu_register_vcpu_info_t) == 16 &&
              offsetof(vcpu_register_vcpu_info_t, offset) == 8);
static_assert(sizeof(vcpu_set_periodic_timer_t) == 8);
// vcpu_hvm_context: every register is a fixed-width integer, every
// uint64_t 8-aligned by position (Xen: CHECK_vcpu_hvm_context).
static_assert(sizeof(vcpu_hvm_context_t) == 128 && offsetof(vcpu_hvm_context_t, cpu_regs) == 8);
static_assert(sizeof(xen_vcpu_hvm_x86_32_t) == 120 && offsetof(xen_vcpu_hvm_x86_32_t, cr0) == 40 &&
              offsetof(xen_vcpu_hvm_x86_32_t, efer) == 56 &&
              offsetof(xen_vcpu_hvm_x86_32_t, cs_base) == 64 &&
              offsetof(xen_vcpu_hvm_x86_32_t, cs_ar) == 104);
static_assert(sizeof(xen_vcpu_hvm_x86_64_t) == 112 && offsetof(xen_vcpu_hvm_x86_64_t, cr0) == 80);

// sched_op, besides poll.
static_assert(sizeof(sched_shutdown_t) == 4);
static_assert(sizeof(sched_remote_shutdown_t) == 8 &&
              offsetof(sched_remote_shutdown_t, reason) == 4);
static_assert(sizeof(sched_watchdog_t) == 8 && offsetof(sched_watchdog_t, timeout) == 4);

// xen_version, besides platform_parameters: characters and uint32_ts.
static_assert(sizeof(xen_feature_info_t) == 8 && offsetof(xen_feature_info_t, submap) == 4);
static_assert(sizeof(xen_compile_info_t) == 64 + 16 + 32 + 32);

}  // namespace xenolith::hypercall::compat
