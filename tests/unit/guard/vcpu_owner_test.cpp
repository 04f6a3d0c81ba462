// kvm::Vcpu's register caches belong to the owner thread: others may use
// them only while nobody owns the vCPU; debug builds abort on misuse.
// A kvm_run in ordinary memory with sync regs on needs no KVM.
#include <gtest/gtest.h>

#include <sys/mman.h>

#include <thread>

#include "kvm/kvm_vcpu.hpp"

namespace xenolith::kvm {
namespace {

std::unique_ptr<Vcpu> fake_vcpu() {
    const std::size_t size = (sizeof(kvm_run) + 4095) & ~std::size_t{4095};
    void* run = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_NE(run, MAP_FAILED);
    auto v = std::make_unique<Vcpu>(UniqueFd(), static_cast<kvm_run*>(run), size);
    v->enable_sync_regs(true);  // regs()/sregs() read the run area, no ioctl
    return v;
}

TEST(VcpuOwner, unowned_when_any_thread_touches_then_allowed) {
    auto v = fake_vcpu();
    v->regs().rax = 1;
    v->mark_regs_dirty();
    std::thread([&] { EXPECT_EQ(v->regs().rax, 1u); }).join();
}

TEST(VcpuOwner, owned_when_owner_touches_then_allowed_and_released_at_end) {
    auto v = fake_vcpu();
    std::thread([&] {
        v->set_owner(true);
        v->regs().rbx = 2;
        EXPECT_EQ(v->sregs().cr0, 0u);
        v->set_owner(false);
    }).join();
    EXPECT_EQ(v->regs().rbx, 2u);  // no owner any more: the holder may look
}

TEST(VcpuOwner, owned_when_other_thread_touches_then_aborts_in_debug) {
#ifdef NDEBUG
    GTEST_SKIP() << "the owner check is compiled in debug builds only";
#else
    auto v = fake_vcpu();
    std::thread([&] { v->set_owner(true); }).join();  // owned by a thread that is not us
    EXPECT_DEATH((void)v->sregs(), "kvm::Vcpu::sregs called off the vCPU's own thread");
    EXPECT_DEATH((void)v->regs(), "kvm::Vcpu::regs called off the vCPU's own thread");
    EXPECT_DEATH(v->mark_regs_dirty(), "mark_regs_dirty called off");
#endif
}

}  // namespace
}  // namespace xenolith::kvm
