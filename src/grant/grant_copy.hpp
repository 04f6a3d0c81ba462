// GNTTABOP_copy as Xen 4.17's gnttab_copy() does it, for a guest's
// hypercall and for host back-ends: each side is a grant of another (or
// the same) domain, or a frame of the caller's own memory; the copy stays
// inside one page and inside the granted range. Both sides are acquired
// as Xen's acquire_grant_for_copy does (GTF_reading on the source,
// GTF_reading|GTF_writing on the destination while the copy runs) and
// their frames held, so a racing guest cannot free them mid-copy.
#pragma once

#include <cstdint>
#include <span>

extern "C" {
#include <xen/grant_table.h>
}

#include "grant/foreign_domain.hpp"

namespace xenolith::grant {

// One gnttab_copy_t issued by domain `self` (DOMID_SELF in it means
// `self`); returns its status: GNTST_okay, GNTST_permission_denied (a
// frame side naming any domain but DOMID_SELF), GNTST_bad_domain,
// GNTST_bad_gntref, GNTST_general_error (entry not granted to `self`,
// read-only destination, sub-page range exceeded, transitive grant, an
// unstable entry), GNTST_bad_page (frame not the domain's memory),
// GNTST_bad_copy_arg (offset + len beyond the page).
std::int16_t copy_one(const gnttab_copy_t& op, domid_t self, const DomainLookup& lookup);

// Back-end helpers: the granted range [offset, offset + size) of grant
// `ref` of domain `dom` to or from a buffer of this process, as domain
// `self`. Same status codes.
std::int16_t copy_from_grant(domid_t self, domid_t dom, grant_ref_t ref, std::uint16_t offset,
                             std::span<std::uint8_t> dst, const DomainLookup& lookup);
std::int16_t copy_to_grant(domid_t self, domid_t dom, grant_ref_t ref, std::uint16_t offset,
                           std::span<const std::uint8_t> src, const DomainLookup& lookup);

}  // namespace xenolith::grant
