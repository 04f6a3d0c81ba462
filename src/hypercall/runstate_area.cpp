#include "hypercall/runstate_area.hpp"

#include <cstddef>

#include "hypercall/compat_abi.hpp"

namespace xenolith::hypercall {
namespace {

template <class Info>
bool write_layout(GuestAccess& guest, std::uint64_t area, bool update_flag, const Info& r) {
    if (!update_flag) return guest.write(area, r);
    const std::uint64_t entry_at = area + offsetof(Info, state_entry_time);
    const std::uint64_t entry_time = r.state_entry_time;
    const std::uint64_t flagged = entry_time | XEN_RUNSTATE_UPDATE;
    if (!guest.write(entry_at, flagged)) return false;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    Info body = r;
    body.state_entry_time = flagged;
    if (!guest.write(area, body)) return false;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return guest.write(entry_at, entry_time);
}

}  // namespace

bool write_runstate_area(GuestAccess& guest, std::uint64_t area, bool is64, bool update_flag,
                         const vcpu_runstate_info_t& r) {
    return is64 ? write_layout(guest, area, update_flag, r)
                : write_layout(guest, area, update_flag, compat::to_compat(r));
}

}  // namespace xenolith::hypercall
