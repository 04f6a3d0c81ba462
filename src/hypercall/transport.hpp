// The three ways a hypercall reaches xenolithd, decoded into one shape for
// the dispatcher:
//  1. KVM_XEN interception (hosts with CONFIG_KVM_XEN): KVM writes the
//     hypercall page and turns VMCALL/VMMCALL into KVM_EXIT_XEN.
//  2. The hypercall page of port-I/O stubs (every host).
//  3. Linux's direct VMCALL/VMMCALL sites rewritten by the loader into the
//     same port-I/O exit (hosts without KVM_XEN).
#pragma once

#include <linux/kvm.h>

#include <array>
#include <cstdint>
#include <optional>

namespace xenolith::hypercall {

enum class Transport { kvm_xen, port_io };

// Picks the transport from KVM_CHECK_EXTENSION(KVM_CAP_XEN_HVM)'s flags:
// interception needs KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL.
Transport choose_transport(int xen_hvm_caps);
const char* transport_name(Transport t);

struct DecodedCall {
    std::uint64_t nr;
    std::array<std::uint64_t, 5> arg;
    bool is64;
    unsigned cpl;
};

// KVM_EXIT_XEN of type KVM_EXIT_XEN_HCALL: KVM has already read the
// arguments in the ABI of the guest's mode. nullopt for other exit types.
std::optional<DecodedCall> decode_kvm_xen_exit(const decltype(kvm_run::xen)& exit);

// The guest's rax after a call: a 32-bit caller sees eax only, so the
// result is its low 32 bits (-ENOSYS stays -ENOSYS as an int; a count
// above 2^31 reads as negative, as under Xen's int-returning compat
// handlers); the upper half is zeroed as a 32-bit register write would.
constexpr std::uint64_t result_register(long ret, bool is64) {
    return is64 ? static_cast<std::uint64_t>(ret)
                : static_cast<std::uint64_t>(static_cast<std::uint32_t>(ret));
}

// The port-I/O stub's exit: nr is the value written (eax); arguments come
// from the registers in the ABI of the guest's current mode.
DecodedCall decode_port_io_call(std::uint32_t nr, const kvm_regs& regs, const kvm_sregs& sregs);

}  // namespace xenolith::hypercall
