// Hypercall dispatch: one table keyed by hypercall number, fed by every
// transport (hypercall page, rewritten direct calls, KVM_XEN interception).
// Handlers see the domain only through GuestDomain / GuestVcpu
// (guest_domain.hpp), never domain::Domain, so each family is unit-tested
// against a fake (tests/unit/hypercall).
#pragma once

#include <cstdint>

extern "C" {
#include <xen/xen.h>
}

#include "hypercall/guest_access.hpp"
#include "hypercall/guest_domain.hpp"

namespace xenolith::hypercall {

// The arguments of one hypercall, read from the guest's registers in the
// ABI of its current mode (64-bit: rdi rsi rdx r10 r8; 32-bit: ebx ecx edx
// esi edi), and typed access to its memory through its page tables.
struct Context {
    GuestDomain& domain;
    GuestVcpu& vcpu;  // the caller
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

// Returns -ENOSYS for sub-op `subop` of hypercall `nr` (__HYPERVISOR_*),
// logging "(dN) unknown <family> sub-op <subop>" the first time a domain
// uses that exact pair.
long unknown_subop(Context& ctx, unsigned nr, std::uint64_t subop);

// How a domU's domid arguments resolve, as Xen's rcu_lock_domain_by_any_id
// followed by the default XSM policy: DOMID_SELF or its own id is allowed
// (0); another existing domain is -EPERM; a domain that does not exist (or
// does not exist yet) is -ESRCH.
long check_self_domid(Context& ctx, domid_t domid);

}  // namespace xenolith::hypercall
