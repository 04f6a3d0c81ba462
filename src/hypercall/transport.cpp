#include "hypercall/transport.hpp"

namespace xenolith::hypercall {
namespace {
constexpr std::uint64_t kEferLma = 1ull << 10;
constexpr std::uint64_t k32 = 0xffffffff;
}  // namespace

Transport choose_transport(int xen_hvm_caps) {
    return xen_hvm_caps > 0 && (xen_hvm_caps & KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL)
               ? Transport::kvm_xen
               : Transport::port_io;
}

const char* transport_name(Transport t) {
    return t == Transport::kvm_xen ? "KVM_XEN interception" : "port I/O exits";
}

std::optional<DecodedCall> decode_kvm_xen_exit(const decltype(kvm_run::xen)& exit) {
    if (exit.type != KVM_EXIT_XEN_HCALL) return std::nullopt;
    const auto& h = exit.u.hcall;
    DecodedCall c{};
    c.is64 = h.longmode != 0;
    const std::uint64_t mask = c.is64 ? ~std::uint64_t{0} : k32;
    c.nr = h.input & mask;
    for (unsigned i = 0; i < c.arg.size(); ++i) c.arg[i] = h.params[i] & mask;
    c.cpl = h.cpl;
    return c;
}

DecodedCall decode_port_io_call(std::uint32_t nr, const kvm_regs& r, const kvm_sregs& s) {
    DecodedCall c{};
    c.nr = nr;
    c.is64 = (s.efer & kEferLma) && s.cs.l;
    if (c.is64)
        c.arg = {r.rdi, r.rsi, r.rdx, r.r10, r.r8};
    else
        c.arg = {r.rbx & k32, r.rcx & k32, r.rdx & k32, r.rsi & k32, r.rdi & k32};
    c.cpl = s.cs.selector & 3;  // ss.dpl would do as well; CS.RPL is the CPL
    return c;
}

}  // namespace xenolith::hypercall
