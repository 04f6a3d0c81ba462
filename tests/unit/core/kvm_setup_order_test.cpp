// kvm::Vm refuses KVM_X86_SET_MSR_FILTER once a call that runs an SRCU grace
// period was made, so a set-up order that would make every create wait a
// full grace period (~13 ms) fails loudly instead. The check comes before
// the ioctl, so /dev/null stands in for the VM fd: no /dev/kvm needed.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <string>

#include "kvm/kvm_system.hpp"
#include "kvm/kvm_vcpu.hpp"
#include "kvm/kvm_vm.hpp"

namespace xenolith::kvm {
namespace {

constexpr std::uint32_t kHypercallPageMsr = 0x40000000;

Vm vm_on_dev_null(const System& sys) { return Vm(sys, UniqueFd(::open("/dev/null", O_RDWR))); }

bool refused_for_order(const Status& st) {
    return !st && st.error().what.find("SRCU grace period") != std::string::npos;
}

TEST(KvmSetupOrder, MsrFilterFirstReachesTheKernel) {
    System sys;
    Vm vm = vm_on_dev_null(sys);
    const Status st = vm.trap_msr_to_userspace(kHypercallPageMsr);
    ASSERT_FALSE(st);  // /dev/null is no VM: the ioctl's own error
    EXPECT_FALSE(refused_for_order(st)) << st.error().what;
}

TEST(KvmSetupOrder, MsrFilterAfterAGracePeriodCallIsRefused) {
    alignas(4096) static std::array<std::uint8_t, 4096> page{};
    System sys;
    const std::array<std::pair<const char*, std::function<void(Vm&)>>, 3> before = {{
        {"memory slot", [](Vm& vm) { (void)vm.set_memory_region(0, 0, page.size(), page.data()); }},
        {"irqchip", [](Vm& vm) { (void)vm.create_irqchip(); }},
        {"vCPU", [](Vm& vm) { (void)vm.create_vcpu(0); }},
    }};
    for (const auto& [what, call] : before) {
        Vm vm = vm_on_dev_null(sys);
        call(vm);
        EXPECT_TRUE(refused_for_order(vm.trap_msr_to_userspace(kHypercallPageMsr))) << what;
    }
}

}  // namespace
}  // namespace xenolith::kvm
