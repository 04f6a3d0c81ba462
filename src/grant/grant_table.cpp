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
    for (const auto& [ref, count] : pins_)
        if (ref >= GNTTAB_NR_RESERVED_ENTRIES && count) return -XEN_EBUSY;
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

bool GrantTable::pin(grant_ref_t ref) {
    std::lock_guard lock(mu_);
    if (ref >= nr_entries()) return false;
    ++pins_[ref];
    return true;
}

void GrantTable::unpin(grant_ref_t ref) {
    std::lock_guard lock(mu_);
    auto it = pins_.find(ref);
    if (it == pins_.end()) return;
    if (--it->second == 0) pins_.erase(it);
}

}  // namespace xenolith::grant
