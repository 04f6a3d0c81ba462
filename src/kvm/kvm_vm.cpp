#include "kvm/kvm_vm.hpp"

#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "kvm/kvm_system.hpp"
#include "kvm/kvm_vcpu.hpp"

namespace xenolith::kvm {
namespace {
Error ioctl_error(const char* what) {
    return make_error(fmt::format("{}: {}", what, std::strerror(errno)));
}
}  // namespace

Status Vm::set_memory_region(std::uint32_t slot, std::uint64_t gpa, std::uint64_t size,
                             void* host, std::uint32_t flags) {
    kvm_userspace_memory_region r{};
    r.slot = slot;
    r.flags = flags;
    r.guest_phys_addr = gpa;
    r.memory_size = size;
    r.userspace_addr = reinterpret_cast<std::uint64_t>(host);
    srcu_used_ = true;  // kvm_swap_active_memslots: synchronize_srcu_expedited
    if (ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &r) < 0)
        return ioctl_error("KVM_SET_USER_MEMORY_REGION");
    return ok_status();
}

Status Vm::get_dirty_log(std::uint32_t slot, std::span<std::uint64_t> bitmap) {
    kvm_dirty_log log{};  // zeroed whole: api.rst asks for cleared padding
    log.slot = slot;       // address space 0 (bits 16-31): no SMM here
    log.dirty_bitmap = bitmap.data();
    if (ioctl(fd_.get(), KVM_GET_DIRTY_LOG, &log) < 0) return ioctl_error("KVM_GET_DIRTY_LOG");
    return ok_status();
}

Status Vm::create_irqchip() {
    srcu_used_ = true;  // kvm_io_bus_register_dev: synchronize_srcu_expedited
    if (ioctl(fd_.get(), KVM_CREATE_IRQCHIP, 0) < 0) return ioctl_error("KVM_CREATE_IRQCHIP");
    return ok_status();
}

Status Vm::trap_msr_to_userspace(std::uint32_t msr) {
    if (srcu_used_)
        return make_error(
            "KVM_X86_SET_MSR_FILTER after memory slots, the irqchip or vCPUs: it would wait "
            "for a full SRCU grace period (set the MSR filter first)");
    kvm_enable_cap cap{};
    cap.cap = KVM_CAP_X86_USER_SPACE_MSR;
    cap.args[0] = KVM_MSR_EXIT_REASON_UNKNOWN | KVM_MSR_EXIT_REASON_FILTER;
    if (ioctl(fd_.get(), KVM_ENABLE_CAP, &cap) < 0)
        return ioctl_error("KVM_CAP_X86_USER_SPACE_MSR");

    // A filter range whose bitmap bit is 0 denies the access in-kernel, which
    // (with KVM_MSR_EXIT_REASON_FILTER) becomes an exit to us.
    static std::uint8_t deny = 0;
    kvm_msr_filter filter{};
    filter.flags = KVM_MSR_FILTER_DEFAULT_ALLOW;
    filter.ranges[0].flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE;
    filter.ranges[0].base = msr;
    filter.ranges[0].nmsrs = 1;
    filter.ranges[0].bitmap = &deny;
    if (ioctl(fd_.get(), KVM_X86_SET_MSR_FILTER, &filter) < 0)
        return ioctl_error("KVM_X86_SET_MSR_FILTER");
    return ok_status();
}

Status Vm::enable_xen_hypercall_intercept(std::uint32_t msr) {
    kvm_xen_hvm_config cfg{};
    cfg.flags = KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL;
    cfg.msr = msr;  // blob fields must stay zero with INTERCEPT_HCALL
    if (ioctl(fd_.get(), KVM_XEN_HVM_CONFIG, &cfg) < 0) return ioctl_error("KVM_XEN_HVM_CONFIG");
    return ok_status();
}

Status Vm::signal_msi(std::uint32_t apic_id, std::uint8_t vector) {
    kvm_msi msi{};
    msi.address_lo = 0xfee00000u | ((apic_id & 0xffu) << 12);
    msi.address_hi = 0;
    msi.data = vector;  // fixed delivery, edge, assert
    if (ioctl(fd_.get(), KVM_SIGNAL_MSI, &msi) < 0) return ioctl_error("KVM_SIGNAL_MSI");
    return ok_status();
}

Result<std::unique_ptr<Vcpu>> Vm::create_vcpu(unsigned id) {
    srcu_used_ = true;  // VMX: the APIC-access page's internal memory slot
    int fd = ioctl(fd_.get(), KVM_CREATE_VCPU, id);
    if (fd < 0) return ioctl_error("KVM_CREATE_VCPU");
    UniqueFd vfd(fd);
    void* run = mmap(nullptr, sys_.vcpu_mmap_size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (run == MAP_FAILED) return ioctl_error("mmap(kvm_run)");
    return std::make_unique<Vcpu>(std::move(vfd), static_cast<kvm_run*>(run),
                                  sys_.vcpu_mmap_size());
}

}  // namespace xenolith::kvm
