#include "grant/grant_copy.hpp"

#include <cstring>
#include <optional>
#include <utility>

#include "grant/grant_table.hpp"
#include "memory/guest_memory.hpp"

namespace xenolith::grant {
namespace {

// One side of a copy (Xen's gnttab_copy_buf): the domain, then the grant
// or frame it names, held until the side goes out of scope.
class Side {
public:
    Side() = default;
    Side(const Side&) = delete;
    Side& operator=(const Side&) = delete;
    ~Side() { release(); }

    // gnttab_copy_lock_domain(): only the caller's own memory may be named
    // by frame, and only as DOMID_SELF.
    std::int16_t lock_domain(domid_t domid, bool is_gref, domid_t self,
                             const DomainLookup& lookup) {
        if (domid != DOMID_SELF && !is_gref) return GNTST_permission_denied;
        const domid_t id = domid == DOMID_SELF ? self : domid;
        if (id >= DOMID_FIRST_RESERVED) return GNTST_bad_domain;
        domain_ = lookup(id);
        if (!domain_ || !domain_->table || !domain_->memory) return GNTST_bad_domain;
        return GNTST_okay;
    }

    // gnttab_copy_claim_buf(): a grant through acquire_grant_for_copy, or
    // a frame of the caller's memory (get_paged_frame).
    std::int16_t claim_grant(grant_ref_t ref, domid_t self, bool readonly) {
        GrantTable::Acquired got;
        if (std::int16_t rc = domain_->table->acquire(ref, self, readonly, GrantTable::Use::copy,
                                                      *domain_->memory, &got);
            rc != GNTST_okay)
            return rc;
        ref_ = ref;
        readonly_ = readonly;
        gfn_ = got.gfn;
        start_ = got.offset;
        length_ = got.length;
        return GNTST_okay;
    }
    std::int16_t claim_frame(std::uint64_t gfn, bool readonly) {
        if (!domain_->memory->hold_frame(gfn)) return GNTST_bad_page;
        readonly_ = readonly;
        gfn_ = gfn;
        start_ = 0;
        length_ = kFrameSize;
        return GNTST_okay;
    }

    // Whether [offset, offset + len) lies in what was granted.
    bool covers(unsigned offset, unsigned len) const {
        return offset >= start_ && offset + len <= unsigned{start_} + length_;
    }
    std::uint8_t* page() const {
        // Held, so populated: the offset exists.
        return domain_->memory->page_at_offset(domain_->memory->frame_offset(*gfn_).value_or(0));
    }

private:
    void release() {
        if (!gfn_) return;
        if (ref_) {
            domain_->table->release(*ref_, readonly_, *domain_->memory);  // marks a written frame dirty
        } else {
            if (!readonly_) domain_->memory->mark_dirty(*gfn_);
            domain_->memory->release_frame(*gfn_);
        }
        gfn_.reset();
        ref_.reset();
    }

    std::optional<ForeignDomain> domain_;
    std::optional<grant_ref_t> ref_;
    std::optional<std::uint64_t> gfn_;
    bool readonly_ = true;
    std::uint16_t start_ = 0;
    std::uint16_t length_ = 0;
};

// Xen's gnttab_copy_buf() range checks: the page first, then the grant.
std::int16_t check_range(unsigned offset, unsigned len, const Side& side) {
    if (offset + len > kFrameSize) return GNTST_bad_copy_arg;
    return side.covers(offset, len) ? GNTST_okay : GNTST_general_error;
}

}  // namespace

std::int16_t copy_one(const gnttab_copy_t& op, domid_t self, const DomainLookup& lookup) {
    const bool src_gref = op.flags & GNTCOPY_source_gref;
    const bool dst_gref = op.flags & GNTCOPY_dest_gref;
    Side src, dst;
    if (std::int16_t rc = src.lock_domain(op.source.domid, src_gref, self, lookup); rc) return rc;
    if (std::int16_t rc = dst.lock_domain(op.dest.domid, dst_gref, self, lookup); rc) return rc;

    std::int16_t rc = src_gref ? src.claim_grant(op.source.u.ref, self, true)
                               : src.claim_frame(op.source.u.gmfn, true);
    if (rc) return rc;
    rc = dst_gref ? dst.claim_grant(op.dest.u.ref, self, false) : dst.claim_frame(op.dest.u.gmfn, false);
    if (rc) return rc;

    // Page bounds on both sides before either grant's range.
    if (op.source.offset + unsigned{op.len} > kFrameSize ||
        op.dest.offset + unsigned{op.len} > kFrameSize)
        return GNTST_bad_copy_arg;
    if (!src.covers(op.source.offset, op.len) || !dst.covers(op.dest.offset, op.len))
        return GNTST_general_error;
    // memmove: a copy within one page of one domain may overlap.
    std::memmove(dst.page() + op.dest.offset, src.page() + op.source.offset, op.len);
    return GNTST_okay;
}

std::int16_t copy_from_grant(domid_t self, domid_t dom, grant_ref_t ref, std::uint16_t offset,
                             std::span<std::uint8_t> dst, const DomainLookup& lookup) {
    Side src;
    if (std::int16_t rc = src.lock_domain(dom, true, self, lookup); rc) return rc;
    if (std::int16_t rc = src.claim_grant(ref, self, true); rc) return rc;
    if (dst.size() > kFrameSize) return GNTST_bad_copy_arg;
    const auto len = static_cast<unsigned>(dst.size());
    if (std::int16_t rc = check_range(offset, len, src); rc) return rc;
    std::memcpy(dst.data(), src.page() + offset, len);
    return GNTST_okay;
}

std::int16_t copy_to_grant(domid_t self, domid_t dom, grant_ref_t ref, std::uint16_t offset,
                           std::span<const std::uint8_t> src, const DomainLookup& lookup) {
    Side dst;
    if (std::int16_t rc = dst.lock_domain(dom, true, self, lookup); rc) return rc;
    if (std::int16_t rc = dst.claim_grant(ref, self, false); rc) return rc;
    if (src.size() > kFrameSize) return GNTST_bad_copy_arg;
    const auto len = static_cast<unsigned>(src.size());
    if (std::int16_t rc = check_range(offset, len, dst); rc) return rc;
    std::memcpy(dst.page() + offset, src.data(), len);
    return GNTST_okay;
}

}  // namespace xenolith::grant
