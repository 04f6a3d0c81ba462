#include "grant/grant_mapper.hpp"

#include <algorithm>
#include <utility>

#include "grant/grant_table.hpp"
#include "memory/guest_memory.hpp"

namespace xenolith::grant {

GrantMapper::GrantMapper(domid_t self, unsigned max_maptrack_frames, DomainLookup lookup)
    : self_(self),
      limit_(std::size_t{std::min(max_maptrack_frames, kMaxMaptrackFramesLimit)} *
             kMaptrackPerFrame),
      lookup_(std::move(lookup)) {}

GrantMapper::~GrantMapper() { unmap_all(); }

std::size_t GrantMapper::nr_mapped() const {
    std::lock_guard lock(mu_);
    return mapped_;
}

std::int16_t GrantMapper::map(domid_t dom, grant_ref_t ref, std::uint32_t flags,
                              Mapping* out) {
    if (!(flags & (GNTMAP_host_map | GNTMAP_device_map))) return GNTST_bad_gntref;
    // Xen refuses these to a translated (paging_mode_external) domain;
    // xenolith's back-ends map like one.
    if (flags & (GNTMAP_device_map | GNTMAP_application_map | GNTMAP_contains_pte))
        return GNTST_general_error;
    // rcu_lock_domain_by_id(): a real id only, DOMID_SELF is not one.
    std::optional<ForeignDomain> granter = dom < DOMID_FIRST_RESERVED ? lookup_(dom)
                                                                      : std::nullopt;
    if (!granter || !granter->table || !granter->memory) return GNTST_bad_domain;
    const bool readonly = flags & GNTMAP_readonly;

    // get_maptrack_handle(): the handle is taken before the entry is
    // looked at, and given back if the map fails.
    grant_handle_t handle;
    {
        std::lock_guard lock(mu_);
        if (!free_.empty()) {
            handle = free_.front();
            free_.pop_front();
        } else if (maptrack_.size() < limit_) {
            handle = static_cast<grant_handle_t>(maptrack_.size());
            maptrack_.emplace_back();
        } else {
            return GNTST_no_space;
        }
    }

    GrantTable::Acquired got;
    const std::int16_t rc = granter->table->acquire(ref, self_, readonly, GrantTable::Use::map,
                                                    *granter->memory, &got);
    std::lock_guard lock(mu_);
    if (rc != GNTST_okay) {
        free_.push_back(handle);
        return rc;
    }
    // The frame is held from here to unmap, so its offset cannot change.
    const std::uint64_t offset = granter->memory->frame_offset(got.gfn).value_or(0);
    *out = Mapping{handle, granter->memory->page_at_offset(offset), granter->memory->memfd(),
                   offset, readonly};
    maptrack_[handle] = Track{true, readonly, ref, std::move(*granter)};
    ++mapped_;
    return GNTST_okay;
}

std::int16_t GrantMapper::unmap(grant_handle_t handle) {
    Track track;
    {
        std::lock_guard lock(mu_);
        if (handle >= maptrack_.size() || !maptrack_[handle].in_use) return GNTST_bad_handle;
        track = std::exchange(maptrack_[handle], Track{});
        --mapped_;
    }
    // unmap_common_complete(): the pin goes, and with the last pin of its
    // kind the GTF_reading / GTF_writing flag the guest waits on.
    track.granter.table->release(track.ref, track.readonly, *track.granter.memory);
    std::lock_guard lock(mu_);
    free_.push_back(handle);
    return GNTST_okay;
}

void GrantMapper::unmap_all() {
    std::vector<grant_handle_t> live;
    {
        std::lock_guard lock(mu_);
        for (std::size_t h = 0; h < maptrack_.size(); ++h)
            if (maptrack_[h].in_use) live.push_back(static_cast<grant_handle_t>(h));
    }
    for (grant_handle_t h : live) unmap(h);
}

}  // namespace xenolith::grant
