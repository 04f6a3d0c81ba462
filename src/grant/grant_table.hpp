// A domain's grant table: the version in use (1 or 2), its limits, and the
// frames the guest shares with the hypervisor: the shared entries and, in
// version 2, the status frames. The semantics are Xen 4.17's
// common/grant_table.c for a translated (HVM/PVH) guest.
//
// Frame model (differs from Xen, see ARCHITECTURE.md "Grant tables"): Xen
// allocates each frame from its own heap and the guest's
// XENMEM_add_to_physmap(XENMAPSPACE_grant_table) points a gfn at it. Here a
// frame is a page of this table until the guest maps it; mapping it at a
// gfn makes that guest page (RAM, or a hole page in unpopulated space) the
// frame, with the frame's contents copied in, as shared_info moves. A frame
// moved again leaves its old page behind as ordinary guest memory (Xen
// unmaps it); a frame displaced from a gfn by another one goes back to a
// page of this table, as Xen leaves it unmapped.
//
// Readers (back-ends) are lock-free: frame pointers, the frame count and
// the version are atomics, entries are read with atomic loads, and every
// page a pointer has ever named lives as long as the domain. A reader that
// races with set_version may see the other layout; map and copy operations
// take the table lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

extern "C" {
#include <xen/grant_table.h>
}

namespace xenolith::grant {

// Xen's INITIAL_NR_GRANT_FRAMES on x86: a new table has one frame.
inline constexpr unsigned kInitialFrames = 1;
// The hypervisor-wide caps (Xen's gnttab_max_frames and
// gnttab_max_maptrack_frames defaults; xenolithd has no boot command line).
inline constexpr unsigned kMaxFramesLimit = 64;
inline constexpr unsigned kMaxMaptrackFramesLimit = 1024;
// INVALID_GFN: the frame is not in the guest's physical address space.
inline constexpr std::uint64_t kNoGfn = ~std::uint64_t{0};

inline constexpr unsigned kFrameSize = 4096;
inline constexpr unsigned kEntriesPerFrameV1 = kFrameSize / sizeof(grant_entry_v1_t);  // 512
inline constexpr unsigned kEntriesPerFrameV2 = kFrameSize / sizeof(grant_entry_v2_t);  // 256
inline constexpr unsigned kStatusPerFrame = kFrameSize / sizeof(grant_status_t);       // 2048

// Xen's grant_to_status_frames(): status frames that cover `grant_frames`
// frames of version-2 entries.
constexpr unsigned status_frames_for(unsigned grant_frames) {
    return static_cast<unsigned>(
        (std::uint64_t{grant_frames} * kEntriesPerFrameV2 + kStatusPerFrame - 1) /
        kStatusPerFrame);
}

struct Limits {
    unsigned max_grant_frames = kMaxFramesLimit;       // 1..kMaxFramesLimit
    unsigned max_maptrack_frames = kMaxMaptrackFramesLimit;
    unsigned max_version = 2;                          // xl.cfg max_grant_version
};

// Puts a frame into the guest's physical memory at `gfn`, filled with
// `initial` (one page); on success stores the page's host address in
// *host and returns 0, else a -XEN_E* errno. Domain::map_frame_at in
// xenolithd, a fake in the unit tests.
using FramePlacer = std::function<long(std::uint64_t gfn, std::span<const std::uint8_t> initial,
                                       std::uint8_t** host)>;

class GrantTable {
public:
    // Limits outside their ranges are clamped (xenolithd validates them
    // when the domain is created).
    explicit GrantTable(Limits limits);
    ~GrantTable();
    GrantTable(const GrantTable&) = delete;
    GrantTable& operator=(const GrantTable&) = delete;

    const Limits& limits() const { return limits_; }
    unsigned version() const { return version_.load(std::memory_order_acquire); }
    unsigned nr_frames() const { return nr_frames_.load(std::memory_order_acquire); }
    unsigned nr_status_frames() const { return nr_status_.load(std::memory_order_acquire); }
    // Entries the current frames hold in the current version.
    unsigned nr_entries() const;

    // GNTTABOP_setup_table: grows the table to `nr_frames` frames and
    // returns the gfns of the first `nr_frames` (kNoGfn where the guest has
    // not mapped one); nullopt beyond max_grant_frames.
    std::optional<std::vector<std::uint64_t>> setup(std::uint32_t nr_frames);
    // Where the guest sees frame `i` / status frame `i` (kNoGfn: nowhere,
    // or no such frame).
    std::uint64_t frame_gfn(unsigned i) const;
    std::uint64_t status_frame_gfn(unsigned i) const;

    // GNTTABOP_set_version: 0, -XEN_EINVAL (not 1 or 2), -XEN_ENOSYS (2
    // above max_version), -XEN_EBUSY (an entry beyond the reserved ones is
    // pinned), -XEN_ERANGE (a reserved v2 entry has no v1 form). The
    // reserved entries (GNTTAB_NR_RESERVED_ENTRIES) survive the switch;
    // every other entry is cleared.
    long set_version(std::uint32_t version);

    // XENMEM_add_to_physmap(XENMAPSPACE_grant_table, idx, gfn): maps frame
    // idx, or status frame idx & ~XENMAPIDX_grant_table_status in version
    // 2, at gfn, growing the table up to that frame; -XEN_EINVAL beyond the
    // limit, or the placer's errno.
    long map_frame(std::uint64_t idx, std::uint64_t gfn, const FramePlacer& place);

    // Entry snapshots for back-ends (nullopt: ref beyond the table, or the
    // table is in the other version). Lock-free.
    std::optional<grant_entry_v1_t> entry_v1(grant_ref_t ref) const;
    std::optional<grant_entry_v2_t> entry_v2(grant_ref_t ref) const;
    std::optional<grant_status_t> status_v2(grant_ref_t ref) const;

    // An entry in active use by a mapping or copy (Xen's active entry pin),
    // for the map/copy operations to come; set_version refuses while any
    // non-reserved entry is pinned. pin() fails for a ref beyond the table.
    bool pin(grant_ref_t ref);
    void unpin(grant_ref_t ref);

private:
    struct Page;
    struct Frame {
        std::atomic<std::uint8_t*> host{nullptr};  // where the frame lives now
        std::uint64_t gfn = kNoGfn;                // where the guest sees it (mu_)
        std::unique_ptr<Page> own;                 // its page while unmapped
    };

    void grow_locked(unsigned nr_frames);
    void populate_status_locked(unsigned nr_status);
    void unpopulate_status_locked();
    Frame* frame_for_map_locked(std::uint32_t idx);
    Frame* status_frame_for_map_locked(std::uint32_t idx);
    Frame* frame_at_locked(std::uint64_t gfn);
    static void detach_locked(Frame& f);
    bool reserved_entries_fit_v1_locked() const;
    void reserved_entries_locked(grant_entry_v1_t (&out)[GNTTAB_NR_RESERVED_ENTRIES]) const;
    void restore_reserved_locked(const grant_entry_v1_t (&in)[GNTTAB_NR_RESERVED_ENTRIES],
                                 unsigned version);
    std::uint8_t* v1_slot(grant_ref_t ref) const;
    std::uint8_t* v2_slot(grant_ref_t ref) const;
    std::uint8_t* status_slot(grant_ref_t ref) const;

    const Limits limits_;
    mutable std::mutex mu_;  // every change below; readers use the atomics
    std::atomic<unsigned> version_{1};
    std::atomic<unsigned> nr_frames_{0};
    std::atomic<unsigned> nr_status_{0};
    std::unique_ptr<Frame[]> shared_;  // limits_.max_grant_frames
    std::unique_ptr<Frame[]> status_;  // status_frames_for(limits_.max_grant_frames)
    std::map<grant_ref_t, unsigned> pins_;
};

}  // namespace xenolith::grant
