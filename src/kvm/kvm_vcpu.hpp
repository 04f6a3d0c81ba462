// One KVM vCPU: register access and KVM_RUN. Register state is read through
// the kvm_run sync area where the kernel offers it, saving two ioctls per
// hypercall exit.
//
// Ownership: the register caches (regs(), sregs(), mark_regs_dirty(),
// flush_regs()) and run() belong to one owner thread, the vCPU's own,
// from set_owner() until it gives ownership back. Before that, and after,
// whoever holds the vCPU exclusively (the builder, a parked-task fallback)
// may use them. Debug builds abort on any other caller (ARCHITECTURE.md,
// "Who owns a vCPU").
#pragma once

#include <linux/kvm.h>

#include <cstddef>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include <span>

#include "base/result.hpp"
#include "base/unique_fd.hpp"
#include "kvm/kvm_state_abi.hpp"

namespace xenolith::kvm {

class Vcpu {
public:
    Vcpu(UniqueFd fd, kvm_run* run, std::size_t run_size);
    ~Vcpu();
    Vcpu(const Vcpu&) = delete;
    Vcpu& operator=(const Vcpu&) = delete;

    int fd() const { return fd_.get(); }

    // The calling thread becomes the owner; with `false` it gives ownership
    // back (the thread is ending).
    void set_owner(bool mine);
    kvm_run* run_area() { return run_; }

    Status get_regs(kvm_regs& regs);
    Status set_regs(const kvm_regs& regs);
    Status get_sregs(kvm_sregs& sregs);
    Status set_sregs(const kvm_sregs& sregs);
    Status set_cpuid(const std::vector<kvm_cpuid_entry2>& entries);
    Result<std::uint64_t> get_msr(std::uint32_t index);
    // KVM_GET_MP_STATE: KVM_MP_STATE_RUNNABLE, _HALTED, ...
    Result<std::uint32_t> mp_state();
    Status set_mp_state(std::uint32_t state);
    // The guest TSC frequency (KVM_GET_TSC_KHZ).
    Result<std::uint32_t> tsc_khz();

    // General registers through the kvm_run sync area (KVM_CAP_SYNC_REGS):
    // valid after every exit; call mark_regs_dirty() after changing them so
    // the next KVM_RUN loads them. Falls back to ioctls when unsupported.
    void enable_sync_regs(bool supported);
    kvm_regs& regs();
    void mark_regs_dirty();
    // Segment and control registers, read-only here (same sync area).
    const kvm_sregs& sregs();
    // Hands register changes still waiting for the next KVM_RUN to the
    // kernel now, so KVM_GET_REGS sees them (vCPU thread, outside KVM_RUN).
    Status flush_regs();

    // Architectural state for save/restore (ARCHITECTURE.md, "vCPU state
    // translation"). Thin ioctl wrappers; like the register caches they
    // belong to the owner thread (a save posts its work to the vCPU).
    // api.rst "KVM_GET_LAPIC" / "KVM_SET_LAPIC" (in-kernel irqchip; in
    // x2APIC mode the ID register is 32-bit only with KVM_X2APIC_API_USE_32BIT_IDS).
    Status get_lapic(kvm_lapic_state& lapic);
    Status set_lapic(const kvm_lapic_state& lapic);
    // api.rst "KVM_GET_XSAVE" / "KVM_SET_XSAVE": the legacy 4 KiB
    // buffer (KVM_GET_XSAVE2 is needed only for dynamic features like AMX,
    // which xenolith does not enable).
    Status get_xsave(XsaveArea& xsave);
    Status set_xsave(const XsaveArea& xsave);
    // api.rst "KVM_GET_XCRS" / "KVM_SET_XCRS".
    Status get_xcrs(kvm_xcrs& xcrs);
    Status set_xcrs(const kvm_xcrs& xcrs);
    // api.rst "KVM_GET_MSRS" / "KVM_SET_MSRS": the kernel stops at the
    // first MSR it cannot read or write; the error names that MSR.
    Result<std::vector<MsrValue>> get_msrs(std::span<const std::uint32_t> indices);
    Status set_msrs(std::span<const MsrValue> msrs);
    // api.rst "KVM_GET_VCPU_EVENTS" / "KVM_SET_VCPU_EVENTS".
    Status get_vcpu_events(kvm_vcpu_events& events);
    Status set_vcpu_events(const kvm_vcpu_events& events);
    // api.rst "KVM_GET_DEBUGREGS" / "KVM_SET_DEBUGREGS".
    Status get_debugregs(kvm_debugregs& debugregs);
    Status set_debugregs(const kvm_debugregs& debugregs);

    // KVM_NMI: queue an NMI for the next guest entry.
    Status nmi();

    // KVM_RUN. Returns false with errno EINTR when interrupted by a signal
    // (pause/stop requests); other errors are reported as Error.
    Result<bool> run();
    // Ask a running or about-to-run KVM_RUN to return (from any thread,
    // followed by a signal to the vCPU thread).
    void request_immediate_exit(bool on) {
        __atomic_store_n(&run_->immediate_exit, on ? 1 : 0, __ATOMIC_SEQ_CST);
    }

private:
    // Debug builds: aborts, naming `what`, when a thread other than the
    // owner touches the caches. Nothing in release builds.
    void assert_owner(const char* what) const;

    UniqueFd fd_;
    std::atomic<std::thread::id> owner_{};
    kvm_run* run_;
    std::size_t run_size_;
    bool sync_regs_ = false;
    bool regs_loaded_ = false;
    bool regs_dirty_ = false;
    kvm_regs fallback_regs_{};
    bool sregs_loaded_ = false;
    kvm_sregs fallback_sregs_{};
};

}  // namespace xenolith::kvm
