// How grant operations reach the domain that granted something: its table
// and its memory, kept alive while anything of it is mapped or being
// copied (Xen's domain reference from rcu_lock_domain_by_id, and the page
// references a mapping holds, in one).
#pragma once

#include <functional>
#include <memory>
#include <optional>

extern "C" {
#include <xen/xen.h>
}

namespace xenolith {
class GuestMemory;
}

namespace xenolith::grant {

class GrantTable;

struct ForeignDomain {
    domid_t domid = DOMID_INVALID;
    GrantTable* table = nullptr;
    GuestMemory* memory = nullptr;
    // Owns `table` and `memory` (the Domain in xenolithd). Held by every
    // mapping, so a destroyed domain's memory outlives its last mapping.
    std::shared_ptr<void> keepalive;
};

// Finds a live domain by its id (never DOMID_SELF: callers resolve that);
// nullopt when there is none. In xenolithd: the DomainTable.
using DomainLookup = std::function<std::optional<ForeignDomain>(domid_t)>;

}  // namespace xenolith::grant
