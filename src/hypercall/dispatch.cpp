#include <array>
#include <cstdint>
#include <string_view>

extern "C" {
#include <xen/errno.h>
#include <xen/xen.h>
}

#include <fmt/format.h>

#include "hypercall/hypercall.hpp"

namespace xenolith::hypercall {
namespace {

struct Family {
    Handler handler = nullptr;
    std::string_view name;
    GuestWarning unknown_subop = GuestWarning::unknown_hypercall;
};

// The dispatch table: hypercall number -> family handler, its name and the
// warning kind of its unknown sub-ops.
constexpr std::array<Family, 64> make_table() {
    using W = GuestWarning;
    std::array<Family, 64> t{};
    t[__HYPERVISOR_set_timer_op] = {set_timer_op, "set_timer_op"};  // no sub-ops
    t[__HYPERVISOR_memory_op] = {memory_op, "memory_op", W::unknown_memory_op};
    t[__HYPERVISOR_xen_version] = {xen_version, "xen_version", W::unknown_xen_version_op};
    t[__HYPERVISOR_console_io] = {console_io, "console_io", W::unknown_console_io_op};
    t[__HYPERVISOR_vcpu_op] = {vcpu_op, "vcpu_op", W::unknown_vcpu_op};
    t[__HYPERVISOR_sched_op] = {sched_op, "sched_op", W::unknown_sched_op};
    t[__HYPERVISOR_event_channel_op] = {event_channel_op, "event_channel_op",
                                        W::unknown_event_channel_op};
    t[__HYPERVISOR_grant_table_op] = {grant_table_op, "grant_table_op",
                                      W::unknown_grant_table_op};
    t[__HYPERVISOR_hvm_op] = {hvm_op, "hvm_op", W::unknown_hvm_op};
    t[__HYPERVISOR_vm_assist] = {vm_assist, "vm_assist", W::unknown_vm_assist_op};
    return t;
}
constexpr std::array<Family, 64> kTable = make_table();

}  // namespace

long dispatch(std::uint64_t nr, Context& ctx) {
    if (nr < kTable.size() && kTable[nr].handler) return kTable[nr].handler(ctx);
    if (ctx.domain.first_time(GuestWarning::unknown_hypercall, nr))
        ctx.domain.guest_log(fmt::format("unknown hypercall {}", nr));
    return -XEN_ENOSYS;
}

long unknown_subop(Context& ctx, unsigned nr, std::uint64_t subop) {
    // Only families with sub-ops call this; each has its own warning kind.
    const Family& family = kTable.at(nr);
    if (ctx.domain.first_time(family.unknown_subop, subop))
        ctx.domain.guest_log(fmt::format("unknown {} sub-op {}", family.name, subop));
    return -XEN_ENOSYS;
}

long check_self_domid(Context& ctx, domid_t domid) {
    if (domid == DOMID_SELF || domid == ctx.domain.domid()) return 0;
    if (domid >= DOMID_FIRST_RESERVED) return -XEN_ESRCH;
    return ctx.domain.domain_exists(domid) ? -XEN_EPERM : -XEN_ESRCH;
}

}  // namespace xenolith::hypercall
