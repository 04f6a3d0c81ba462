// How a domU's domid arguments resolve, as Xen's rcu_lock_domain_by_any_id
// followed by the default XSM policy: DOMID_SELF or its own id is allowed;
// another existing domain is -EPERM; a domain that does not exist is -ESRCH.
#pragma once

extern "C" {
#include <xen/errno.h>
#include <xen/xen.h>
}

#include "domain/domain.hpp"
#include "hypercall/hypercall.hpp"

namespace xenolith::hypercall {

inline long check_self_domid(Context& ctx, domid_t domid) {
    if (domid == DOMID_SELF || domid == ctx.domain.domid()) return 0;
    if (domid >= DOMID_FIRST_RESERVED) return -XEN_ESRCH;
    return ctx.domain.services().registry.find(domid) ? -XEN_EPERM : -XEN_ESRCH;
}

}  // namespace xenolith::hypercall
