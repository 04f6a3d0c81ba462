#include <cstdint>
#include <array>

extern "C" {
#include <xen/errno.h>
#include <xen/xen.h>
}

#include <fmt/format.h>

#include "domain/domain.hpp"
#include "hypercall/hypercall.hpp"

namespace xenolith::hypercall {
namespace {

// The dispatch table: hypercall number -> family handler.
constexpr std::array<Handler, 64> make_table() {
    std::array<Handler, 64> t{};
    t[__HYPERVISOR_set_timer_op] = set_timer_op;
    t[__HYPERVISOR_memory_op] = memory_op;
    t[__HYPERVISOR_xen_version] = xen_version;
    t[__HYPERVISOR_console_io] = console_io;
    t[__HYPERVISOR_vcpu_op] = vcpu_op;
    t[__HYPERVISOR_sched_op] = sched_op;
    t[__HYPERVISOR_event_channel_op] = event_channel_op;
    t[__HYPERVISOR_grant_table_op] = grant_table_op;
    t[__HYPERVISOR_hvm_op] = hvm_op;
    t[__HYPERVISOR_vm_assist] = vm_assist;
    return t;
}
constexpr std::array<Handler, 64> kTable = make_table();

}  // namespace

long dispatch(std::uint64_t nr, Context& ctx) {
    if (nr < kTable.size() && kTable[nr]) return kTable[nr](ctx);
    if (ctx.domain.first_time(static_cast<std::uint32_t>(std::min<std::uint64_t>(nr, 255))))
        ctx.domain.guest_log(fmt::format("unknown hypercall {}", nr));
    return -XEN_ENOSYS;
}

long unknown_subop(Context& ctx, const char* family, std::uint64_t subop) {
    // Key: family name hash and sub-op, folded into the per-domain bitset.
    std::uint32_t key = 256;
    for (const char* p = family; *p; ++p) key = key * 31 + static_cast<unsigned char>(*p);
    key = 256 + (key + static_cast<std::uint32_t>(subop)) % 3000;
    if (ctx.domain.first_time(key))
        ctx.domain.guest_log(fmt::format("unknown {} sub-op {}", family, subop));
    return -XEN_ENOSYS;
}

}  // namespace xenolith::hypercall
