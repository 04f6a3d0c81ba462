// What hypercall handlers may do to the calling domain and vCPU: the narrow
// seam between the hypercall families and domain::Domain / domain::Vcpu
// (as evtchn::EventTarget is for event delivery). Implemented over the real
// domain by domain/guest_domain_adapter.hpp and by a fake in
// tests/unit/hypercall, so every family is unit-tested without KVM.
//
// Keep it narrow: a method belongs here only when a handler needs it.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

extern "C" {
#include <xen/hvm/hvm_vcpu.h>
#include <xen/vcpu.h>
#include <xen/xen.h>
}

#include "arch/x86/pvh_layout.hpp"
#include "base/guest_warnings.hpp"
#include "evtchn/event_channels.hpp"
#include "grant/foreign_domain.hpp"
#include "grant/grant_table.hpp"
#include "memory/guest_memory.hpp"

namespace xenolith::console {
class SerialInput;
}

namespace xenolith::hypercall {

using Deadline = std::chrono::steady_clock::time_point;

// A vCPU of the calling domain: the caller itself or one it names.
class GuestVcpu {
public:
    virtual ~GuestVcpu() = default;

    virtual unsigned id() const = 0;
    // VCPUOP_initialise / up / down / is_up.
    virtual bool initialised() const = 0;
    // False when the context is not a valid entry state.
    virtual bool initialise(const vcpu_hvm_context_t& ctx) = 0;
    virtual bool online() const = 0;
    virtual void set_online(bool on) = 0;
    virtual vcpu_runstate_info_t runstate() = 0;
    // Guest linear addresses mirrored with runstate / time info (0: none).
    // The runstate area keeps the layout of the ABI it was registered in
    // (is64 false: compat::VcpuRunstateInfo); vcpu_time_info is one layout.
    virtual void set_runstate_area(std::uint64_t linear, bool is64) = 0;
    virtual void set_time_area(std::uint64_t linear) = 0;
    // VIRQ_TIMER sources; nullopt stops them.
    virtual void set_singleshot_timer(std::optional<Deadline> when) = 0;
    virtual void set_periodic_timer(std::optional<std::chrono::nanoseconds> period) = 0;
    // SCHEDOP_block / SCHEDOP_poll: only ever on the calling vCPU.
    virtual void block() = 0;
    virtual void poll(const std::function<bool()>& ready, std::optional<Deadline> deadline) = 0;
};

class GuestDomain {
public:
    virtual ~GuestDomain() = default;

    virtual domid_t domid() const = 0;
    // The xl-visible UUID (XENVER_guest_handle).
    virtual const std::array<std::uint8_t, 16>& handle() const = 0;

    // Every lookup of another domain by a guest-supplied domid goes through
    // here: false for ids no domain has, including a domid reserved for a
    // domain still being built or one being torn down. Domain 0 (the host)
    // exists.
    virtual bool domain_exists(domid_t domid) = 0;

    virtual unsigned nr_vcpus() const = 0;
    // Null when id >= nr_vcpus(). The reference is valid for the hypercall.
    virtual GuestVcpu* vcpu(unsigned id) = 0;

    // Memory.
    virtual GuestMemory& memory() = 0;
    // Serialises changes to the guest's physical memory.
    virtual std::mutex& memory_lock() = 0;
    virtual const std::vector<x86::MemmapEntry>& memory_map() const = 0;
    // add_to_physmap(shared_info): 0 or -XEN_E*.
    virtual long map_shared_info(std::uint64_t gfn) = 0;
    // A hypervisor-owned frame at `gfn` (grant frames): see
    // domain::Domain::map_frame_at.
    virtual long map_frame_at(std::uint64_t gfn, std::span<const std::uint8_t> initial,
                              std::uint8_t** host) = 0;

    virtual evtchn::EventChannels& events() = 0;
    virtual grant::GrantTable& grants() = 0;
    // Other domains' grant tables and memory, for GNTTABOP_copy; absent and
    // half-built domains are not found.
    virtual const grant::DomainLookup& grant_domains() = 0;

    // Per-vCPU event plumbing.
    virtual long register_vcpu_info(unsigned vcpu, std::uint64_t gfn, std::uint32_t offset) = 0;
    virtual void set_upcall_vector(unsigned vcpu, std::uint8_t vector) = 0;

    // HVM parameters (index < HVM_NR_PARAMS).
    virtual std::uint64_t param(unsigned index) = 0;
    virtual void set_param(unsigned index, std::uint64_t value) = 0;
    // Xen's hvm_latch_shinfo_size: the calling vCPU's mode (64-bit or not)
    // picks the shared_info layout (native or compat) from now on.
    virtual void latch_shared_info_layout(bool caller_is64) = 0;

    // vm_assist: the enabled VMASST_TYPE_* bits.
    virtual unsigned vm_assist() const = 0;
    virtual void set_vm_assist(unsigned bits) = 0;

    // Lifecycle (SCHEDOP_shutdown, shutdown_code, watchdog).
    virtual void shutdown(unsigned reason) = 0;
    virtual void set_shutdown_code(unsigned code) = 0;
    virtual long watchdog(std::uint32_t id, std::uint32_t timeout_s) = 0;

    // Console: guest text into the hypervisor log; the hypervisor's serial
    // input (null without one), read only by the console domain.
    virtual void console_write(std::span<const char> text) = 0;
    virtual bool is_console() const = 0;
    virtual console::SerialInput* serial_input() = 0;

    // "(dN) line" in the hypervisor log, and once-per-domain keys for it.
    virtual void guest_log(std::string_view line) = 0;
    virtual bool first_time(GuestWarning kind, std::uint64_t detail) = 0;
};

}  // namespace xenolith::hypercall
