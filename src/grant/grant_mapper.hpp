// Foreign grant mappings made by one domain (a back-end's): Xen 4.17's
// map_grant_ref / unmap_grant_ref and the mapping domain's maptrack, over
// GrantTable's active entries.
//
// A mapping names the granted page where it lives: in the granting
// domain's guest-memory file (memfd, offset), which a back-end process
// mmaps (MAP_SHARED, PROT_READ only for a read-only mapping; see
// ARCHITECTURE.md "Grant tables" for why the file and not a copy), and at
// `host` in xenolithd's own view of that file for in-process users. Both
// stay valid until unmap: the mapping holds the granting domain (destroyed
// or not) and the frame (the guest cannot balloon it out). Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

extern "C" {
#include <xen/grant_table.h>
}

#include "grant/foreign_domain.hpp"

namespace xenolith::grant {

// Xen's MAPTRACK_PER_PAGE: handles per maptrack frame (struct
// grant_mapping is 16 bytes).
inline constexpr unsigned kMaptrackPerFrame = 4096 / 16;

struct Mapping {
    grant_handle_t handle = 0;
    std::uint8_t* host = nullptr;  // the page in xenolithd's view of the memory
    int memfd = -1;                // the granting domain's guest-memory file
    std::uint64_t offset = 0;      // of the page in memfd
    bool readonly = false;
};

class GrantMapper {
public:
    // `self` is the mapping domain (0: host back-ends); it may map at most
    // max_maptrack_frames * kMaptrackPerFrame grants at once.
    GrantMapper(domid_t self, unsigned max_maptrack_frames, DomainLookup lookup);
    // Unmaps everything still mapped (Xen's gnttab_release_mappings).
    ~GrantMapper();
    GrantMapper(const GrantMapper&) = delete;
    GrantMapper& operator=(const GrantMapper&) = delete;

    domid_t self() const { return self_; }
    std::size_t max_handles() const { return limit_; }
    std::size_t nr_mapped() const;

    // map_grant_ref: grant `ref` of domain `dom` with GNTMAP_* `flags`
    // (GNTMAP_host_map, optionally GNTMAP_readonly). Returns GNTST_okay and
    // fills *out, or: GNTST_bad_gntref (no host_map or device_map asked,
    // ref beyond the table), GNTST_general_error (device/application/pte
    // mappings, which a translated domain may not make; an entry not
    // granted to us, not GTF_permit_access, sub-page or transitive, a
    // writable map of a GTF_readonly grant, an entry the guest keeps
    // rewriting, pinned by another domain, pin overflow), GNTST_bad_domain
    // (no such domain, DOMID_SELF), GNTST_no_space (maptrack full),
    // GNTST_bad_page (the frame is not the granting domain's memory).
    std::int16_t map(domid_t dom, grant_ref_t ref, std::uint32_t flags, Mapping* out);
    // unmap_grant_ref: GNTST_okay, or GNTST_bad_handle for a handle not
    // mapped (never mapped, already unmapped, beyond the limit).
    std::int16_t unmap(grant_handle_t handle);
    // Drops every mapping (the mapping domain is going away).
    void unmap_all();

private:
    struct Track {
        bool in_use = false;
        bool readonly = false;
        grant_ref_t ref = 0;
        ForeignDomain granter;
    };

    const domid_t self_;
    const std::size_t limit_;
    const DomainLookup lookup_;
    mutable std::mutex mu_;
    std::vector<Track> maptrack_;      // grows up to limit_
    std::deque<grant_handle_t> free_;  // freed handles, reused oldest first
    std::size_t mapped_ = 0;
};

}  // namespace xenolith::grant
