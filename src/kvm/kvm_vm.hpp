// A KVM virtual machine: memory slots, the in-kernel irqchip, MSI injection.
//
// Set-up order matters to the kernel. KVM_X86_SET_MSR_FILTER waits with
// synchronize_srcu(&kvm->srcu), the non-expedited form: while the VM's SRCU
// is idle SRCU expedites it and it returns at once, but right after another
// grace period (every memory-slot change, the irqchip's I/O-bus
// registration and vCPU creation run expedited ones) it waits a whole
// normal grace period: ~13 ms measured, 75% of `xl create` to the first
// guest instruction. So the MSR filter is set first, and Vm refuses it once
// a call that runs a grace period has been made (a reordering fails every
// create instead of silently costing 13 ms). The other set-up calls only
// run expedited grace periods (memory slots, KVM_CREATE_IRQCHIP's default
// GSI routing and bus registration), whose cost does not depend on order.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "base/result.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::kvm {

class System;
class Vcpu;

class Vm {
public:
    Vm(const System& sys, UniqueFd fd) : sys_(sys), fd_(std::move(fd)) {}

    int fd() const { return fd_.get(); }
    const System& system() const { return sys_; }

    // KVM_SET_USER_MEMORY_REGION. Setting an existing slot again with the
    // same placement and other `flags` changes only its flags (api.rst:
    // KVM_MEM_LOG_DIRTY_PAGES turns dirty logging on and off this way).
    Status set_memory_region(std::uint32_t slot, std::uint64_t gpa, std::uint64_t size,
                             void* host, std::uint32_t flags = 0);
    // KVM_GET_DIRTY_LOG for a slot logging dirty pages: bit i of `bitmap`
    // is the slot's page i, written since the previous call. KVM clears
    // its log as it answers, since xenolith never enables
    // KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2. `bitmap` holds at least
    // ceil(pages / 64) words, as the kernel writes whole longs.
    Status get_dirty_log(std::uint32_t slot, std::span<std::uint64_t> bitmap);
    Status create_irqchip();
    // Makes every MSR access KVM does not handle itself exit to userspace, and
    // forces exits for `msr` even if KVM knows it (the Xen hypercall-page MSR).
    // Must come before any memory slot, the irqchip and vCPUs (see above).
    Status trap_msr_to_userspace(std::uint32_t msr);
    // KVM_XEN_HVM_CONFIG with KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL: KVM fills
    // the hypercall page when the guest writes `msr` and turns every
    // VMCALL/VMMCALL into KVM_EXIT_XEN (api.rst, "KVM_XEN_HVM_CONFIG").
    Status enable_xen_hypercall_intercept(std::uint32_t msr);
    // Delivers a fixed-mode, edge MSI: lands `vector` in the LAPIC of `apic_id`.
    Status signal_msi(std::uint32_t apic_id, std::uint8_t vector);
    Result<std::unique_ptr<Vcpu>> create_vcpu(unsigned id);

private:
    const System& sys_;
    UniqueFd fd_;
    // A call that runs an SRCU grace period on kvm->srcu was made (tried,
    // even if it failed): KVM_X86_SET_MSR_FILTER would now wait one out.
    bool srcu_used_ = false;
};

}  // namespace xenolith::kvm
