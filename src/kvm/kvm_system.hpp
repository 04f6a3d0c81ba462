// /dev/kvm: capability queries and VM creation. Thin by design: all policy
// lives in domain/; this layer only turns ioctls into typed calls.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "base/result.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::kvm {

class Vm;

class System {
public:
    static Result<std::unique_ptr<System>> open(const char* path = "/dev/kvm");

    int check_extension(long cap) const;
    std::size_t vcpu_mmap_size() const { return vcpu_mmap_size_; }
    const std::vector<kvm_cpuid_entry2>& supported_cpuid() const { return supported_cpuid_; }
    // True when the kernel can intercept Xen hypercalls itself (CONFIG_KVM_XEN).
    bool has_xen_hvm() const { return xen_hvm_caps_ != 0; }
    int xen_hvm_caps() const { return xen_hvm_caps_; }

    Result<std::unique_ptr<Vm>> create_vm() const;

private:
    UniqueFd fd_;
    std::size_t vcpu_mmap_size_ = 0;
    std::vector<kvm_cpuid_entry2> supported_cpuid_;
    int xen_hvm_caps_ = 0;
};

}  // namespace xenolith::kvm
