#include "kvm/kvm_system.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "kvm/kvm_cpuid_abi.hpp"
#include "kvm/kvm_vm.hpp"

namespace xenolith::kvm {

Result<std::unique_ptr<System>> System::open(const char* path) {
    auto sys = std::make_unique<System>();
    sys->fd_.reset(::open(path, O_RDWR | O_CLOEXEC));
    if (!sys->fd_.valid())
        return make_error(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
    if (ioctl(sys->fd_.get(), KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
        return make_error(fmt::format("{}: unsupported KVM API version", path));
    int sz = ioctl(sys->fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
    if (sz <= 0) return make_error("KVM_GET_VCPU_MMAP_SIZE failed");
    sys->vcpu_mmap_size_ = static_cast<std::size_t>(sz);

    // KVM_GET_SUPPORTED_CPUID needs a buffer big enough; grow until it fits.
    for (unsigned n = 64; n <= 4096; n *= 2) {
        std::vector<std::uint8_t> buf(sizeof(CpuidHeader) + n * sizeof(kvm_cpuid_entry2));
        CpuidHeader hdr{n, 0};
        std::memcpy(buf.data(), &hdr, sizeof hdr);
        if (ioctl(sys->fd_.get(), kIoctlGetSupportedCpuid, buf.data()) == 0) {
            std::memcpy(&hdr, buf.data(), sizeof hdr);
            sys->supported_cpuid_.resize(std::min(hdr.nent, n));
            std::memcpy(sys->supported_cpuid_.data(), buf.data() + sizeof hdr,
                        sys->supported_cpuid_.size() * sizeof(kvm_cpuid_entry2));
            break;
        }
        if (errno != E2BIG) return make_error("KVM_GET_SUPPORTED_CPUID failed");
    }
    int xen = sys->check_extension(KVM_CAP_XEN_HVM);
    sys->xen_hvm_caps_ = xen > 0 ? xen : 0;
    return sys;
}

int System::check_extension(long cap) const {
    return ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap);
}

Result<std::unique_ptr<Vm>> System::create_vm() const {
    int fd = ioctl(fd_.get(), KVM_CREATE_VM, 0);
    if (fd < 0) return make_error(fmt::format("KVM_CREATE_VM: {}", std::strerror(errno)));
    return std::make_unique<Vm>(*this, UniqueFd(fd));
}

}  // namespace xenolith::kvm
