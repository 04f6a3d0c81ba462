#include "kvm/kvm_vcpu.hpp"

#include "kvm/kvm_cpuid_abi.hpp"

#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <fmt/format.h>

namespace xenolith::kvm {
namespace {
Error ioctl_error(const char* what) {
    return make_error(fmt::format("{}: {}", what, std::strerror(errno)));
}
}  // namespace

Vcpu::Vcpu(UniqueFd fd, kvm_run* run, std::size_t run_size)
    : fd_(std::move(fd)), run_(run), run_size_(run_size) {}

Vcpu::~Vcpu() { munmap(run_, run_size_); }

void Vcpu::set_owner(bool mine) {
    owner_.store(mine ? std::this_thread::get_id() : std::thread::id{}, std::memory_order_release);
}

void Vcpu::assert_owner([[maybe_unused]] const char* what) const {
#ifndef NDEBUG
    const std::thread::id owner = owner_.load(std::memory_order_acquire);
    if (owner == std::thread::id{} || owner == std::this_thread::get_id()) return;
    // stderr directly: this is a programming error, and the process ends here.
    std::fprintf(stderr,
                 "xenolithd: kvm::Vcpu::%s called off the vCPU's own thread; post the work "
                 "to the vCPU instead (domain::Vcpu::post)\n",
                 what);
    std::abort();
#endif
}

Status Vcpu::get_regs(kvm_regs& regs) {
    if (ioctl(fd_.get(), KVM_GET_REGS, &regs) < 0) return ioctl_error("KVM_GET_REGS");
    return ok_status();
}
Status Vcpu::set_regs(const kvm_regs& regs) {
    if (ioctl(fd_.get(), KVM_SET_REGS, &regs) < 0) return ioctl_error("KVM_SET_REGS");
    return ok_status();
}
Status Vcpu::get_sregs(kvm_sregs& sregs) {
    if (ioctl(fd_.get(), KVM_GET_SREGS, &sregs) < 0) return ioctl_error("KVM_GET_SREGS");
    return ok_status();
}
Status Vcpu::set_sregs(const kvm_sregs& sregs) {
    if (ioctl(fd_.get(), KVM_SET_SREGS, &sregs) < 0) return ioctl_error("KVM_SET_SREGS");
    return ok_status();
}

Status Vcpu::set_cpuid(const std::vector<kvm_cpuid_entry2>& entries) {
    struct Table {
        CpuidHeader hdr;
        kvm_cpuid_entry2 entries[256];
    };
    if (entries.size() > 256) return make_error("KVM_SET_CPUID2: too many CPUID entries");
    auto table = std::make_unique<Table>();
    table->hdr.nent = static_cast<std::uint32_t>(entries.size());
    std::copy(entries.begin(), entries.end(), table->entries);
    if (ioctl(fd_.get(), kIoctlSetCpuid2, table.get()) < 0) return ioctl_error("KVM_SET_CPUID2");
    return ok_status();
}

void Vcpu::enable_sync_regs(bool supported) {
    sync_regs_ = supported;
    run_->kvm_valid_regs = supported ? (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS) : 0;
}

kvm_regs& Vcpu::regs() {
    assert_owner("regs");
    if (sync_regs_) return run_->s.regs.regs;
    if (!regs_loaded_) {
        if (!get_regs(fallback_regs_)) fallback_regs_ = {};
        regs_loaded_ = true;
    }
    return fallback_regs_;
}

const kvm_sregs& Vcpu::sregs() {
    assert_owner("sregs");
    if (sync_regs_) return run_->s.regs.sregs;
    if (!sregs_loaded_) {
        if (!get_sregs(fallback_sregs_)) fallback_sregs_ = {};
        sregs_loaded_ = true;
    }
    return fallback_sregs_;
}

void Vcpu::mark_regs_dirty() {
    assert_owner("mark_regs_dirty");
    if (sync_regs_)
        run_->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
    else
        regs_dirty_ = true;
}

Status Vcpu::flush_regs() {
    assert_owner("flush_regs");
    if (sync_regs_ && (run_->kvm_dirty_regs & KVM_SYNC_X86_REGS)) {
        if (auto st = set_regs(run_->s.regs.regs); !st) return st;
        run_->kvm_dirty_regs &= ~static_cast<__u64>(KVM_SYNC_X86_REGS);
    } else if (!sync_regs_ && regs_dirty_) {
        if (auto st = set_regs(fallback_regs_); !st) return st;
        regs_dirty_ = false;
    }
    return ok_status();
}

Status Vcpu::nmi() {
    if (ioctl(fd_.get(), KVM_NMI, 0) < 0) return ioctl_error("KVM_NMI");
    return ok_status();
}

Result<std::uint64_t> Vcpu::get_msr(std::uint32_t index) {
    struct {
        MsrsHeader hdr;
        kvm_msr_entry entry;
    } req{};
    req.hdr.nmsrs = 1;
    req.entry.index = index;
    if (ioctl(fd_.get(), kIoctlGetMsrs, &req) != 1) return ioctl_error("KVM_GET_MSRS");
    return std::uint64_t{req.entry.data};
}

namespace {
// Buffer for KVM_GET_MSRS / KVM_SET_MSRS: the 8-byte header, then entries.
std::vector<std::uint8_t> msrs_buffer(std::size_t count) {
    return std::vector<std::uint8_t>(sizeof(MsrsHeader) + count * sizeof(kvm_msr_entry));
}
kvm_msr_entry* msrs_entries(std::vector<std::uint8_t>& buf) {
    return reinterpret_cast<kvm_msr_entry*>(buf.data() + sizeof(MsrsHeader));
}
}  // namespace

Status Vcpu::get_lapic(kvm_lapic_state& lapic) {
    assert_owner("get_lapic");
    if (ioctl(fd_.get(), KVM_GET_LAPIC, &lapic) < 0) return ioctl_error("KVM_GET_LAPIC");
    return ok_status();
}
Status Vcpu::set_lapic(const kvm_lapic_state& lapic) {
    assert_owner("set_lapic");
    if (ioctl(fd_.get(), KVM_SET_LAPIC, &lapic) < 0) return ioctl_error("KVM_SET_LAPIC");
    return ok_status();
}

Status Vcpu::get_xsave(XsaveArea& xsave) {
    assert_owner("get_xsave");
    if (ioctl(fd_.get(), kIoctlGetXsave, &xsave) < 0) return ioctl_error("KVM_GET_XSAVE");
    return ok_status();
}
Status Vcpu::set_xsave(const XsaveArea& xsave) {
    assert_owner("set_xsave");
    if (ioctl(fd_.get(), kIoctlSetXsave, &xsave) < 0) return ioctl_error("KVM_SET_XSAVE");
    return ok_status();
}

Status Vcpu::get_xcrs(kvm_xcrs& xcrs) {
    assert_owner("get_xcrs");
    if (ioctl(fd_.get(), KVM_GET_XCRS, &xcrs) < 0) return ioctl_error("KVM_GET_XCRS");
    return ok_status();
}
Status Vcpu::set_xcrs(const kvm_xcrs& xcrs) {
    assert_owner("set_xcrs");
    if (ioctl(fd_.get(), KVM_SET_XCRS, &xcrs) < 0) return ioctl_error("KVM_SET_XCRS");
    return ok_status();
}

Result<std::vector<MsrValue>> Vcpu::get_msrs(std::span<const std::uint32_t> indices) {
    assert_owner("get_msrs");
    std::vector<std::uint8_t> buf = msrs_buffer(indices.size());
    reinterpret_cast<MsrsHeader*>(buf.data())->nmsrs = static_cast<std::uint32_t>(indices.size());
    kvm_msr_entry* entries = msrs_entries(buf);
    for (std::size_t i = 0; i < indices.size(); ++i) entries[i].index = indices[i];
    const int done = ioctl(fd_.get(), kIoctlGetMsrs, buf.data());
    if (done < 0) return ioctl_error("KVM_GET_MSRS");
    if (static_cast<std::size_t>(done) < indices.size()) {
        return make_error(fmt::format("KVM_GET_MSRS: MSR {:#x} cannot be read", indices[static_cast<std::size_t>(done)]));
    }
    std::vector<MsrValue> out;
    out.reserve(indices.size());
    for (std::size_t i = 0; i < indices.size(); ++i) out.push_back({entries[i].index, entries[i].data});
    return out;
}

Status Vcpu::set_msrs(std::span<const MsrValue> msrs) {
    assert_owner("set_msrs");
    std::vector<std::uint8_t> buf = msrs_buffer(msrs.size());
    reinterpret_cast<MsrsHeader*>(buf.data())->nmsrs = static_cast<std::uint32_t>(msrs.size());
    kvm_msr_entry* entries = msrs_entries(buf);
    for (std::size_t i = 0; i < msrs.size(); ++i) {
        entries[i].index = msrs[i].index;
        entries[i].data = msrs[i].value;
    }
    const int done = ioctl(fd_.get(), kIoctlSetMsrs, buf.data());
    if (done < 0) return ioctl_error("KVM_SET_MSRS");
    if (static_cast<std::size_t>(done) < msrs.size()) {
        const MsrValue& bad = msrs[static_cast<std::size_t>(done)];
        return make_error(fmt::format("KVM_SET_MSRS: MSR {:#x} refused value {:#x}", bad.index, bad.value));
    }
    return ok_status();
}

Status Vcpu::get_vcpu_events(kvm_vcpu_events& events) {
    assert_owner("get_vcpu_events");
    if (ioctl(fd_.get(), KVM_GET_VCPU_EVENTS, &events) < 0) return ioctl_error("KVM_GET_VCPU_EVENTS");
    return ok_status();
}
Status Vcpu::set_vcpu_events(const kvm_vcpu_events& events) {
    assert_owner("set_vcpu_events");
    if (ioctl(fd_.get(), KVM_SET_VCPU_EVENTS, &events) < 0) return ioctl_error("KVM_SET_VCPU_EVENTS");
    return ok_status();
}

Status Vcpu::get_debugregs(kvm_debugregs& debugregs) {
    assert_owner("get_debugregs");
    if (ioctl(fd_.get(), KVM_GET_DEBUGREGS, &debugregs) < 0) return ioctl_error("KVM_GET_DEBUGREGS");
    return ok_status();
}
Status Vcpu::set_debugregs(const kvm_debugregs& debugregs) {
    assert_owner("set_debugregs");
    if (ioctl(fd_.get(), KVM_SET_DEBUGREGS, &debugregs) < 0) return ioctl_error("KVM_SET_DEBUGREGS");
    return ok_status();
}

Result<std::uint32_t> Vcpu::mp_state() {
    kvm_mp_state st{};
    if (ioctl(fd_.get(), KVM_GET_MP_STATE, &st) < 0) return ioctl_error("KVM_GET_MP_STATE");
    return std::uint32_t{st.mp_state};
}

Status Vcpu::set_mp_state(std::uint32_t state) {
    kvm_mp_state st{};
    st.mp_state = state;
    if (ioctl(fd_.get(), KVM_SET_MP_STATE, &st) < 0) return ioctl_error("KVM_SET_MP_STATE");
    return ok_status();
}

Result<std::uint32_t> Vcpu::tsc_khz() {
    const int khz = ioctl(fd_.get(), KVM_GET_TSC_KHZ, 0);
    if (khz <= 0) return ioctl_error("KVM_GET_TSC_KHZ");
    return static_cast<std::uint32_t>(khz);
}

Result<bool> Vcpu::run() {
    assert_owner("run");
    if (!sync_regs_ && regs_dirty_) {
        if (auto st = set_regs(fallback_regs_); !st) return st.error();
        regs_dirty_ = false;
    }
    regs_loaded_ = false;
    sregs_loaded_ = false;
    if (ioctl(fd_.get(), KVM_RUN, 0) == 0) return true;
    if (errno == EINTR || errno == EAGAIN) return false;
    return ioctl_error("KVM_RUN");
}

}  // namespace xenolith::kvm
