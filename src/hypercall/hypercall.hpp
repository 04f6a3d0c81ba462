// Hypercall dispatch: one table keyed by hypercall number, fed by every
// transport (hypercall page, rewritten direct calls, KVM_XEN interception).
#pragma once

#include <cstdint>

#include "hypercall/guest_access.hpp"

namespace xenolith::domain {
class Domain;
class Vcpu;
}  // namespace xenolith::domain

namespace xenolith::hypercall {

// The arguments of one hypercall, read from the guest's registers in the
// ABI of its current mode (64-bit: rdi rsi rdx r10 r8; 32-bit: ebx ecx edx
// esi edi), and typed access to its memory through its page tables.
struct Context {
    domain::Domain& domain;
    domain::Vcpu& vcpu;
    std::uint64_t arg[5];
    GuestAccess& guest;
    bool is64;  // 64-bit ABI (long mode) rather than the 32-bit one
};

using Handler = long (*)(Context&);

// Runs hypercall `nr`; returns the value for the guest's rax (0 or -XEN_Exxx).
// Unknown numbers return -ENOSYS and are logged once per domain.
long dispatch(std::uint64_t nr, Context& ctx);

// The families, one file each.
long xen_version(Context& ctx);
long memory_op(Context& ctx);
long hvm_op(Context& ctx);
long vcpu_op(Context& ctx);
long sched_op(Context& ctx);
long console_io(Context& ctx);
long event_channel_op(Context& ctx);
long grant_table_op(Context& ctx);
long set_timer_op(Context& ctx);
long vm_assist(Context& ctx);

// Logs "(dN) unknown <what>" the first time a domain uses it.
long unknown_subop(Context& ctx, const char* family, std::uint64_t subop);

}  // namespace xenolith::hypercall
