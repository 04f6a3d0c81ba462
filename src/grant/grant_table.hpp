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
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

extern "C" {
#include <xen/grant_table.h>
}

namespace xenolith {
class GuestMemory;
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

    // Xen's active grant entries (acquire/release): the grant-side half of
    // map_grant_ref, unmap and acquire/release_grant_for_copy. The first
    // acquisition of an entry checks it (granted to `ldom`, a full-page
    // GTF_permit_access for a map; sub-page allowed for a copy; never
    // GTF_readonly for a write) and sets GTF_reading / GTF_writing in the
    // guest-visible entry (v1: the entry's flags, by bounded compare-
    // exchange against the guest; v2: the status frame, re-checking the
    // entry after). Later ones by the same domain only add a pin; a write
    // pin on a read-only-pinned entry sets GTF_writing first. The last
    // release of a kind clears its flag. Each acquisition holds the frame
    // in `mem` (GuestMemory::hold_frame), so it is never freed while
    // mapped. Returns a GNTST_* code; on GNTST_okay fills *out.
    struct Acquired {
        std::uint64_t gfn = 0;
        std::uint16_t offset = 0;  // the granted range inside the page
        std::uint16_t length = kFrameSize;
    };
    enum class Use { map, copy };
    std::int16_t acquire(grant_ref_t ref, domid_t ldom, bool readonly, Use use, GuestMemory& mem,
                         Acquired* out);
    // Undoes one acquire(ref, ..., readonly) (the caller's record says it
    // holds one; nothing happens for an entry with no such pin).
    void release(grant_ref_t ref, bool readonly, GuestMemory& mem);
    // Pins currently held on `ref` (read-only and writable), for tests and
    // `xl debug-keys g`-style dumps.
    struct PinCount {
        unsigned readers = 0;
        unsigned writers = 0;
    };
    PinCount pins(grant_ref_t ref) const;
    // Whether any entry is pinned at all (a domain with mappings of its
    // grants outstanding).
    bool any_pinned() const;
    // The frames of entries some domain holds mapped writable, sorted,
    // each once: what a migration's paused round sends in any case, since
    // writes through a mapping are marked dirty only when it goes.
    std::vector<std::uint64_t> writably_pinned_frames() const;

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
    // Xen's active_grant_entry: who pinned the entry and what it names.
    struct Active {
        std::uint32_t pin = 0;  // Xen's GNTPIN_hst{w,r} counters
        domid_t domid = 0;
        std::uint64_t gfn = 0;
        std::uint16_t start = 0;
        std::uint16_t length = kFrameSize;
        bool sub_page = false;
    };
    std::int16_t set_status_locked(grant_ref_t ref, const Active& act, bool readonly, bool map,
                                   domid_t ldom);
    void reduce_status_locked(grant_ref_t ref, const Active& act, bool readonly);
    std::uint16_t* status_word(grant_ref_t ref) const;
    std::unordered_map<grant_ref_t, Active> active_;
};

}  // namespace xenolith::grant
