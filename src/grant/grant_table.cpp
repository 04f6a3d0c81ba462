#include "grant/grant_table.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>

extern "C" {
#include <xen/errno.h>
#include <xen/memory.h>
}

#include "memory/guest_memory.hpp"

namespace xenolith::grant {

static_assert(kFrameSize == kPageSize);
static_assert(sizeof(grant_entry_v1_t) == 8);
static_assert(sizeof(grant_entry_v2_t) == 16);
static_assert(sizeof(grant_status_t) == 2);

struct alignas(kFrameSize) GrantTable::Page {
    std::uint8_t bytes[kFrameSize];
};

namespace {

// Frames are shared with the guest and with back-end threads: every access
// is an atomic load or store of a naturally aligned word, so nobody sees a
// torn field.
template <class T>
T load(const std::uint8_t* p) {
    return __atomic_load_n(reinterpret_cast<const T*>(p), __ATOMIC_ACQUIRE);
}

template <class T>
void store(std::uint8_t* p, T v) {
    __atomic_store_n(reinterpret_cast<T*>(p), v, __ATOMIC_RELEASE);
}

void clear_page(std::uint8_t* page) {
    for (unsigned off = 0; off < kFrameSize; off += 8) store<std::uint64_t>(page + off, 0);
}

void copy_page(std::uint8_t* dst, const std::uint8_t* src) {
    for (unsigned off = 0; off < kFrameSize; off += 8)
        store<std::uint64_t>(dst + off, load<std::uint64_t>(src + off));
}

constexpr std::uint16_t kStatusFlags = GTF_reading | GTF_writing;

// Field offsets inside a v2 entry (grant_entry_v2_t.full_page).
constexpr unsigned kV2Frame = 8;

}  // namespace

GrantTable::GrantTable(Limits limits)
    : limits_{std::clamp(limits.max_grant_frames, kInitialFrames, kMaxFramesLimit),
              std::min(limits.max_maptrack_frames, kMaxMaptrackFramesLimit),
              std::clamp(limits.max_version, 1u, 2u)},
      shared_(new Frame[limits_.max_grant_frames]),
      status_(new Frame[status_frames_for(limits_.max_grant_frames)]) {
    std::lock_guard lock(mu_);
    grow_locked(kInitialFrames);
}

GrantTable::~GrantTable() = default;

unsigned GrantTable::nr_entries() const {
    const unsigned per_frame = version() == 1 ? kEntriesPerFrameV1 : kEntriesPerFrameV2;
    return nr_frames() * per_frame;
}

// Xen's gnttab_grow_table(): frames are only ever added, each starting
// zeroed and unmapped; in version 2 the status frames follow.
void GrantTable::grow_locked(unsigned nr_frames) {
    nr_frames = std::max(nr_frames, kInitialFrames);
    const unsigned old = nr_frames_.load(std::memory_order_relaxed);
    for (unsigned i = old; i < nr_frames; ++i) {
        Frame& f = shared_[i];
        f.own = std::make_unique<Page>();
        f.gfn = kNoGfn;
        f.host.store(f.own->bytes, std::memory_order_release);
    }
    if (version_.load(std::memory_order_relaxed) == 2)
        populate_status_locked(status_frames_for(nr_frames));
    if (nr_frames > old) nr_frames_.store(nr_frames, std::memory_order_release);
}

void GrantTable::populate_status_locked(unsigned nr_status) {
    const unsigned old = nr_status_.load(std::memory_order_relaxed);
    for (unsigned i = old; i < nr_status; ++i) {
        Frame& f = status_[i];
        if (f.own) clear_page(f.own->bytes);
        else f.own = std::make_unique<Page>();
        f.gfn = kNoGfn;
        f.host.store(f.own->bytes, std::memory_order_release);
    }
    if (nr_status > old) nr_status_.store(nr_status, std::memory_order_release);
}

// Xen frees the status frames and unmaps them; here a mapped status frame's
// page stays behind as ordinary guest memory.
void GrantTable::unpopulate_status_locked() {
    const unsigned n = nr_status_.load(std::memory_order_relaxed);
    nr_status_.store(0, std::memory_order_release);
    for (unsigned i = 0; i < n; ++i) {
        Frame& f = status_[i];
        f.gfn = kNoGfn;
        f.host.store(f.own->bytes, std::memory_order_release);
    }
}

std::optional<std::vector<std::uint64_t>> GrantTable::setup(std::uint32_t nr_frames) {
    std::lock_guard lock(mu_);
    if (nr_frames > limits_.max_grant_frames) return std::nullopt;
    grow_locked(nr_frames);
    std::vector<std::uint64_t> gfns(nr_frames);
    for (unsigned i = 0; i < nr_frames; ++i) gfns[i] = shared_[i].gfn;
    return gfns;
}

std::uint64_t GrantTable::frame_gfn(unsigned i) const {
    std::lock_guard lock(mu_);
    return i < nr_frames_.load(std::memory_order_relaxed) ? shared_[i].gfn : kNoGfn;
}

std::uint64_t GrantTable::status_frame_gfn(unsigned i) const {
    std::lock_guard lock(mu_);
    return i < nr_status_.load(std::memory_order_relaxed) ? status_[i].gfn : kNoGfn;
}

// Xen's gnttab_set_version().
long GrantTable::set_version(std::uint32_t version) {
    if (version != 1 && version != 2) return -XEN_EINVAL;
    if (version == 2 && limits_.max_version < 2) return -XEN_ENOSYS;
    std::lock_guard lock(mu_);
    const unsigned old = version_.load(std::memory_order_relaxed);
    if (version == old) return 0;
    // The reserved entries may stay mapped (xenstored and xenconsoled keep
    // theirs); anything else in use blocks the switch.
    for (const auto& [ref, act] : active_)
        if (ref >= GNTTAB_NR_RESERVED_ENTRIES && act.pin) return -XEN_EBUSY;
    if (old == 1) populate_status_locked(status_frames_for(nr_frames_.load()));
    else if (!reserved_entries_fit_v1_locked()) return -XEN_ERANGE;

    grant_entry_v1_t reserved[GNTTAB_NR_RESERVED_ENTRIES];
    reserved_entries_locked(reserved);
    if (old == 2) unpopulate_status_locked();
    const unsigned n = nr_frames_.load(std::memory_order_relaxed);
    for (unsigned i = 0; i < n; ++i) clear_page(shared_[i].host.load());
    version_.store(version, std::memory_order_release);
    restore_reserved_locked(reserved, version);
    return 0;
}

// A v2 table goes back to v1 only if its reserved entries have a v1 form:
// no transitive grant, no frame above 32 bits.
bool GrantTable::reserved_entries_fit_v1_locked() const {
    for (grant_ref_t ref = 0; ref < GNTTAB_NR_RESERVED_ENTRIES; ++ref) {
        const std::uint8_t* e = v2_slot(ref);
        switch (load<std::uint16_t>(e) & GTF_type_mask) {
            case GTF_permit_access:
                if (load<std::uint64_t>(e + kV2Frame) >> 32) return false;
                break;
            case GTF_transitive:
                return false;
            default:
                break;
        }
    }
    return true;
}

// The reserved entries in v1 form (a v2 entry's status bits folded back
// into its flags; anything but a full-page grant is dropped, as Xen does).
void GrantTable::reserved_entries_locked(
    grant_entry_v1_t (&out)[GNTTAB_NR_RESERVED_ENTRIES]) const {
    const bool v1 = version_.load(std::memory_order_relaxed) == 1;
    for (grant_ref_t ref = 0; ref < GNTTAB_NR_RESERVED_ENTRIES; ++ref) {
        out[ref] = {};
        if (v1) {
            const std::uint64_t raw = load<std::uint64_t>(v1_slot(ref));
            std::memcpy(&out[ref], &raw, sizeof(raw));
            continue;
        }
        const std::uint8_t* e = v2_slot(ref);
        const std::uint16_t flags = load<std::uint16_t>(e);
        if ((flags & GTF_type_mask) != GTF_permit_access) continue;
        out[ref].flags = static_cast<std::uint16_t>(flags | load<std::uint16_t>(status_slot(ref)));
        out[ref].domid = load<domid_t>(e + offsetof(grant_entry_header_t, domid));
        out[ref].frame = static_cast<std::uint32_t>(load<std::uint64_t>(e + kV2Frame));
    }
}

void GrantTable::restore_reserved_locked(
    const grant_entry_v1_t (&in)[GNTTAB_NR_RESERVED_ENTRIES], unsigned version) {
    for (grant_ref_t ref = 0; ref < GNTTAB_NR_RESERVED_ENTRIES; ++ref) {
        const grant_entry_v1_t& r = in[ref];
        if (version == 1) {
            std::uint8_t* e = v1_slot(ref);
            store<std::uint32_t>(e + offsetof(grant_entry_v1_t, frame), r.frame);
            store<domid_t>(e + offsetof(grant_entry_v1_t, domid), r.domid);
            store<std::uint16_t>(e, r.flags);
            continue;
        }
        std::uint8_t* e = v2_slot(ref);
        store<std::uint16_t>(status_slot(ref), static_cast<std::uint16_t>(r.flags & kStatusFlags));
        store<std::uint64_t>(e + kV2Frame, r.frame);
        store<domid_t>(e + offsetof(grant_entry_header_t, domid), r.domid);
        store<std::uint16_t>(e, static_cast<std::uint16_t>(r.flags & ~kStatusFlags));
    }
}

// Xen's gnttab_get_shared_frame_mfn(): the frame, grown into existence if
// it is within the limit.
GrantTable::Frame* GrantTable::frame_for_map_locked(std::uint32_t idx) {
    if (idx >= nr_frames_.load(std::memory_order_relaxed)) {
        if (std::uint64_t{idx} + 1 > limits_.max_grant_frames) return nullptr;
        grow_locked(idx + 1);
    }
    return &shared_[idx];
}

// Xen's gnttab_get_status_frame_mfn(): a status frame exists once enough
// grant frames do to need it.
GrantTable::Frame* GrantTable::status_frame_for_map_locked(std::uint32_t idx) {
    if (idx >= nr_status_.load(std::memory_order_relaxed)) {
        const std::uint64_t status = std::uint64_t{idx} + 1;
        const std::uint64_t grant =
            (status * kStatusPerFrame + kEntriesPerFrameV2 - 1) / kEntriesPerFrameV2;
        if (grant > limits_.max_grant_frames) return nullptr;
        grow_locked(static_cast<unsigned>(grant));
        if (idx >= nr_status_.load(std::memory_order_relaxed)) return nullptr;
    }
    return &status_[idx];
}

GrantTable::Frame* GrantTable::frame_at_locked(std::uint64_t gfn) {
    const unsigned n = nr_frames_.load(std::memory_order_relaxed);
    for (unsigned i = 0; i < n; ++i)
        if (shared_[i].gfn == gfn) return &shared_[i];
    const unsigned s = nr_status_.load(std::memory_order_relaxed);
    for (unsigned i = 0; i < s; ++i)
        if (status_[i].gfn == gfn) return &status_[i];
    return nullptr;
}

// The frame leaves the guest's physmap: it keeps its contents in its own
// page (on Xen it stays allocated, unmapped).
void GrantTable::detach_locked(Frame& f) {
    copy_page(f.own->bytes, f.host.load());
    f.host.store(f.own->bytes, std::memory_order_release);
    f.gfn = kNoGfn;
}

long GrantTable::map_frame(std::uint64_t idx, std::uint64_t gfn, const FramePlacer& place) {
    std::lock_guard lock(mu_);
    const bool status = version_.load(std::memory_order_relaxed) == 2 &&
                        (idx & XENMAPIDX_grant_table_status);
    // Xen hands the index on as an unsigned int (the top half is ignored).
    const auto index = static_cast<std::uint32_t>(
        status ? idx & ~std::uint64_t{XENMAPIDX_grant_table_status} : idx);
    Frame* f = status ? status_frame_for_map_locked(index) : frame_for_map_locked(index);
    if (!f) return -XEN_EINVAL;
    if (f->gfn == gfn) return 0;

    // Whatever frame was at gfn is unhooked from it (xenmem_add_to_physmap_one
    // removes the previous page at gpfn).
    Frame* displaced = frame_at_locked(gfn);
    std::uint8_t* displaced_host = displaced ? displaced->host.load() : nullptr;
    if (displaced) detach_locked(*displaced);

    std::uint8_t* host = nullptr;
    const std::span<const std::uint8_t> contents(f->host.load(), kFrameSize);
    if (long rc = place(gfn, contents, &host); rc || !host) {
        if (displaced) {  // the placer refused before touching the page
            displaced->gfn = gfn;
            displaced->host.store(displaced_host, std::memory_order_release);
        }
        return rc ? rc : -XEN_EINVAL;
    }
    f->gfn = gfn;
    f->host.store(host, std::memory_order_release);
    return 0;
}

std::uint8_t* GrantTable::v1_slot(grant_ref_t ref) const {
    std::uint8_t* page = shared_[ref / kEntriesPerFrameV1].host.load(std::memory_order_acquire);
    return page ? page + (ref % kEntriesPerFrameV1) * sizeof(grant_entry_v1_t) : nullptr;
}

std::uint8_t* GrantTable::v2_slot(grant_ref_t ref) const {
    std::uint8_t* page = shared_[ref / kEntriesPerFrameV2].host.load(std::memory_order_acquire);
    return page ? page + (ref % kEntriesPerFrameV2) * sizeof(grant_entry_v2_t) : nullptr;
}

std::uint8_t* GrantTable::status_slot(grant_ref_t ref) const {
    std::uint8_t* page = status_[ref / kStatusPerFrame].host.load(std::memory_order_acquire);
    return page ? page + (ref % kStatusPerFrame) * sizeof(grant_status_t) : nullptr;
}

std::optional<grant_entry_v1_t> GrantTable::entry_v1(grant_ref_t ref) const {
    if (version() != 1) return std::nullopt;
    if (ref >= nr_frames() * kEntriesPerFrameV1) return std::nullopt;
    const std::uint8_t* e = v1_slot(ref);
    if (!e) return std::nullopt;
    // flags, domid and frame in one load: one consistent snapshot.
    const std::uint64_t raw = load<std::uint64_t>(e);
    grant_entry_v1_t out;
    std::memcpy(&out, &raw, sizeof(out));
    return out;
}

std::optional<grant_entry_v2_t> GrantTable::entry_v2(grant_ref_t ref) const {
    if (version() != 2) return std::nullopt;
    if (ref >= nr_frames() * kEntriesPerFrameV2) return std::nullopt;
    const std::uint8_t* e = v2_slot(ref);
    if (!e) return std::nullopt;
    const std::uint64_t raw[2] = {load<std::uint64_t>(e), load<std::uint64_t>(e + 8)};
    grant_entry_v2_t out;
    std::memcpy(&out, raw, sizeof(out));
    return out;
}

std::optional<grant_status_t> GrantTable::status_v2(grant_ref_t ref) const {
    if (version() != 2) return std::nullopt;
    if (ref >= nr_frames() * kEntriesPerFrameV2) return std::nullopt;
    if (ref / kStatusPerFrame >= nr_status_frames()) return std::nullopt;
    const std::uint8_t* s = status_slot(ref);
    if (!s) return std::nullopt;
    return load<grant_status_t>(s);
}

// Xen's GNTPIN_* layout, host pins only: 8-bit counters, an acquisition
// refused once its counter reaches half (GNTPIN_incr2oflow_mask).
namespace {
constexpr std::uint32_t kPinWrite = 1u << 0;
constexpr std::uint32_t kPinRead = 1u << 8;
constexpr std::uint32_t kWriteMask = 0xffu << 0;
constexpr std::uint32_t kReadMask = 0xffu << 8;
constexpr std::uint32_t overflow_mask(std::uint32_t incr) { return incr << 7; }
// A guest rewriting its entry faster than we can compare-exchange it is
// given up on after this many retries (Xen's _set_status_v1).
constexpr int kStatusRetries = 4;

std::uint16_t entry_flags(std::uint32_t combo) { return static_cast<std::uint16_t>(combo); }
domid_t entry_domid(std::uint32_t combo) { return static_cast<domid_t>(combo >> 16); }
}  // namespace

std::uint16_t* GrantTable::status_word(grant_ref_t ref) const {
    std::uint8_t* p = version_.load(std::memory_order_relaxed) == 1 ? v1_slot(ref)
                                                                     : status_slot(ref);
    return reinterpret_cast<std::uint16_t*>(p);
}

// Xen's _set_status_v1 / _set_status_v2. The entry is shared with a guest
// that may rewrite it at any moment: v1 updates flags and domid together
// with a bounded compare-exchange; v2 sets the status first, then re-reads
// the entry and backs out if it changed under us (the guest's end of
// access clears the entry, then checks the status).
std::int16_t GrantTable::set_status_locked(grant_ref_t ref, const Active& act, bool readonly,
                                           bool map, domid_t ldom) {
    // A mapping is of a whole page: sub-page grants are for copies.
    const std::uint16_t mask = map ? GTF_type_mask | GTF_sub_page : GTF_type_mask;
    if (version_.load(std::memory_order_relaxed) == 1) {
        auto* combo = reinterpret_cast<std::uint32_t*>(v1_slot(ref));
        std::uint32_t cur = __atomic_load_n(combo, __ATOMIC_ACQUIRE);
        for (int retries = 0;; ++retries) {
            const std::uint16_t flags = entry_flags(cur);
            if (!act.pin &&
                ((flags & mask) != GTF_permit_access || entry_domid(cur) != ldom))
                return GNTST_general_error;
            std::uint16_t want = flags | GTF_reading;
            if (!readonly) {
                if (flags & GTF_readonly) return GNTST_general_error;
                want |= GTF_writing;
            }
            const std::uint32_t next = (cur & 0xffff0000u) | want;
            if (__atomic_compare_exchange_n(combo, &cur, next, false, __ATOMIC_SEQ_CST,
                                            __ATOMIC_ACQUIRE))
                return GNTST_okay;
            if (retries == kStatusRetries) return GNTST_general_error;  // unstable entry
        }
    }

    const auto* header = reinterpret_cast<const std::uint32_t*>(v2_slot(ref));
    std::uint16_t* status = status_word(ref);
    const auto refused = [&](std::uint32_t combo) {
        const std::uint16_t type = entry_flags(combo) & mask;
        return (type != GTF_permit_access && (map || type != GTF_transitive)) ||
               entry_domid(combo) != ldom;
    };
    std::uint32_t combo = __atomic_load_n(header, __ATOMIC_ACQUIRE);
    if (!act.pin && refused(combo)) return GNTST_general_error;
    if (readonly) {
        __atomic_fetch_or(status, std::uint16_t{GTF_reading}, __ATOMIC_SEQ_CST);
    } else {
        if (entry_flags(combo) & GTF_readonly) return GNTST_general_error;
        __atomic_fetch_or(status, std::uint16_t{GTF_reading | GTF_writing}, __ATOMIC_SEQ_CST);
    }
    __atomic_thread_fence(__ATOMIC_SEQ_CST);  // the guest sees the status before we re-check
    combo = __atomic_load_n(header, __ATOMIC_ACQUIRE);
    if (!act.pin) {
        if (refused(combo) || (!readonly && (entry_flags(combo) & GTF_readonly))) {
            __atomic_fetch_and(status, static_cast<std::uint16_t>(~kStatusFlags),
                               __ATOMIC_SEQ_CST);
            return GNTST_general_error;
        }
    } else if (entry_flags(combo) & GTF_readonly) {
        __atomic_fetch_and(status, static_cast<std::uint16_t>(~GTF_writing), __ATOMIC_SEQ_CST);
        return GNTST_general_error;
    }
    return GNTST_okay;
}

// Xen's reduce_status_for_pin(): the flags follow the pins that remain.
void GrantTable::reduce_status_locked(grant_ref_t ref, const Active& act, bool readonly) {
    std::uint16_t clear = act.pin ? 0 : GTF_reading;
    if (!readonly && !(act.pin & kWriteMask)) clear |= GTF_writing;
    if (clear)
        __atomic_fetch_and(status_word(ref), static_cast<std::uint16_t>(~clear),
                           __ATOMIC_SEQ_CST);
}

std::int16_t GrantTable::acquire(grant_ref_t ref, domid_t ldom, bool readonly, Use use,
                                 GuestMemory& mem, Acquired* out) {
    std::lock_guard lock(mu_);
    if (ref >= nr_entries()) return GNTST_bad_gntref;
    const bool map = use == Use::map;
    const std::uint32_t incr = readonly ? kPinRead : kPinWrite;
    const auto it = active_.try_emplace(ref).first;
    Active& act = it->second;
    const auto fail = [&](std::int16_t rc) {
        if (!act.pin) active_.erase(it);
        return rc;
    };
    // Pinned by another domain, about to overflow, or a sub-page grant
    // pinned by a copy that a map may not share.
    if (act.pin && (act.domid != ldom || (act.pin & overflow_mask(incr)) ||
                    (map && act.sub_page)))
        return fail(GNTST_general_error);

    const bool needs_status = !act.pin || (!readonly && !(act.pin & kWriteMask));
    const std::uint8_t* v2 = version_.load(std::memory_order_relaxed) == 2 ? v2_slot(ref)
                                                                          : nullptr;
    if (v2 && !map && (load<std::uint16_t>(v2) & GTF_type_mask) == GTF_transitive) {
        // A transitive grant is checked and marked as Xen does, then
        // refused as by Xen with transitive grants disabled
        // (gnttab=no-transitive): xenolith does not follow them.
        if (needs_status)
            if (std::int16_t rc = set_status_locked(ref, act, readonly, map, ldom); rc)
                return fail(rc);
        reduce_status_locked(ref, act, readonly);
        return fail(GNTST_general_error);
    }

    if (needs_status) {
        if (std::int16_t rc = set_status_locked(ref, act, readonly, map, ldom); rc)
            return fail(rc);
    }
    if (!act.pin) {
        Active fresh;
        fresh.domid = ldom;
        if (!v2) {
            fresh.gfn = load<std::uint32_t>(v1_slot(ref) + offsetof(grant_entry_v1_t, frame));
        } else {
            fresh.gfn = load<std::uint64_t>(v2 + kV2Frame);
            if (load<std::uint16_t>(v2) & GTF_sub_page) {  // only a copy gets here
                constexpr auto kOff = offsetof(grant_entry_v2_t, sub_page.page_off);
                constexpr auto kLen = offsetof(grant_entry_v2_t, sub_page.length);
                fresh.start = load<std::uint16_t>(v2 + kOff);
                fresh.length = load<std::uint16_t>(v2 + kLen);
                fresh.sub_page = true;
            }
        }
        // Xen's get_paged_frame(): the gfn must be a page of the granting
        // domain's memory.
        if (!mem.hold_frame(fresh.gfn)) {
            reduce_status_locked(ref, act, readonly);
            return fail(GNTST_bad_page);
        }
        act = fresh;
    } else if (!mem.hold_frame(act.gfn)) {
        // A pinned frame is held, so it cannot have gone.
        if (needs_status) reduce_status_locked(ref, act, readonly);
        return fail(GNTST_general_error);
    }
    act.pin += incr;
    *out = Acquired{act.gfn, act.start, act.length};
    return GNTST_okay;
}

void GrantTable::release(grant_ref_t ref, bool readonly, GuestMemory& mem) {
    std::lock_guard lock(mu_);
    const auto it = active_.find(ref);
    if (it == active_.end()) return;
    Active& act = it->second;
    if (!(act.pin & (readonly ? kReadMask : kWriteMask))) return;
    act.pin -= readonly ? kPinRead : kPinWrite;
    // A back-end may have written through a writable pin: a live
    // migration must send the frame again (Xen marks it dirty on unmap).
    if (!readonly) mem.mark_dirty(act.gfn);
    mem.release_frame(act.gfn);
    reduce_status_locked(ref, act, readonly);
    if (!act.pin) active_.erase(it);
}

GrantTable::PinCount GrantTable::pins(grant_ref_t ref) const {
    std::lock_guard lock(mu_);
    const auto it = active_.find(ref);
    if (it == active_.end()) return {};
    return {(it->second.pin & kReadMask) >> 8, it->second.pin & kWriteMask};
}

bool GrantTable::any_pinned() const {
    std::lock_guard lock(mu_);
    return !active_.empty();
}

std::vector<std::uint64_t> GrantTable::writably_pinned_frames() const {
    std::vector<std::uint64_t> frames;
    {
        std::lock_guard lock(mu_);
        for (const auto& [ref, act] : active_)
            if (act.pin & kWriteMask) frames.push_back(act.gfn);
    }
    std::sort(frames.begin(), frames.end());
    frames.erase(std::unique(frames.begin(), frames.end()), frames.end());
    return frames;
}

}  // namespace xenolith::grant
