// Guest RAM: one memfd, mapped once into xenolithd, exposed to KVM as one
// slot per guest-physical region. Back-ends, save/restore and ballooning
// all work on the same memfd.
//
// Every access from host code goes through host_ptr(), which only returns
// a pointer when the whole range lies inside one backed region: guest-chosen
// addresses are never trusted.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>
#include <span>
#include <string>

#include "base/result.hpp"
#include "base/unique_fd.hpp"
#include "memory/dirty_bitmap.hpp"

namespace xenolith {

inline constexpr std::uint64_t kPageSize = 4096;
inline constexpr std::uint64_t kPageShift = 12;

// Guest-physical layout constants (see ARCHITECTURE.md, "Guest memory map").
inline constexpr std::uint64_t kLowRamLimit = 0xF0000000;       // MMIO hole below 4 GiB
inline constexpr std::uint64_t kHighRamBase = 0x100000000;      // RAM resumes at 4 GiB
// Pages the toolstack owns (console and xenstore rings), reserved in the
// memory map just below the IOAPIC, as Xen's "special pages" are.
inline constexpr std::uint64_t kSpecialPagesBase = 0xFEBF0000;
inline constexpr unsigned kSpecialPageCount = 16;
inline constexpr unsigned kConsoleSpecialPage = 0;   // HVM_PARAM_CONSOLE_PFN
inline constexpr unsigned kXenstoreSpecialPage = 1;  // HVM_PARAM_STORE_PFN
// Frames a guest maps into unpopulated space (shared_info, grant frames).
inline constexpr unsigned kMaxHolePages = 256;

struct MemoryRegion {
    std::uint64_t gpa;
    std::uint64_t size;
    std::uint64_t memfd_offset;
    bool is_ram;
};

class GuestMemory {
public:
    // `ram_bytes` (a multiple of 2 MiB, at least 4 MiB) are populated at
    // creation. `physmap_bytes` (rounded up to 2 MiB; 0 or less than
    // ram_bytes: ram_bytes) is how much guest-physical RAM space is laid
    // out and backed by KVM slots: the frames beyond ram_bytes start
    // unpopulated, for a guest whose maxmem is above its memory to grow
    // into with populate_physmap. Unpopulated frames cost no host memory.
    static Result<std::unique_ptr<GuestMemory>> create(std::uint64_t ram_bytes,
                                                       const std::string& name,
                                                       std::uint64_t physmap_bytes = 0);
    ~GuestMemory();
    GuestMemory(const GuestMemory&) = delete;
    GuestMemory& operator=(const GuestMemory&) = delete;

    // The RAM populated at creation (what the memory map reports).
    std::uint64_t ram_bytes() const { return ram_bytes_; }
    // The guest-physical RAM space laid out (>= ram_bytes).
    std::uint64_t physmap_bytes() const { return physmap_bytes_; }
    // Regions are only ever appended (hole pages), so readers on vCPU threads
    // see a consistent prefix without taking a lock.
    std::span<const MemoryRegion> regions() const {
        return {regions_.data(), count_.load(std::memory_order_acquire)};
    }
    int memfd() const { return memfd_.get(); }

    // Host address of guest-physical [gpa, gpa+len), or nullptr when any part
    // is outside a backed region. Never spans two regions.
    std::uint8_t* host_ptr(std::uint64_t gpa, std::uint64_t len) const;
    // host_ptr, but only inside the RAM populated at creation: where the
    // domain builder may place the kernel, modules and boot tables.
    std::uint8_t* initial_ram_ptr(std::uint64_t gpa, std::uint64_t len) const;
    // Host address of the region's start (for KVM slots).
    std::uint8_t* region_host(const MemoryRegion& r) const { return base_ + r.memfd_offset; }

    bool is_ram_gfn(std::uint64_t gfn) const;
    std::uint64_t max_ram_gfn() const;  // highest RAM frame number
    std::uint64_t special_page_gpa(unsigned index) const {
        return kSpecialPagesBase + index * kPageSize;
    }

    // Ballooning. A RAM frame is either populated (backed by the memfd) or
    // not (its memfd range is a hole: host memory really freed). Reading an
    // unpopulated frame reads zeros, so a repopulated frame reads as zero.
    // Callers that change population hold the domain's memory lock.
    bool is_populated(std::uint64_t gfn) const;
    // Releases a populated RAM frame to the host; false if it is not one.
    bool remove_page(std::uint64_t gfn);
    // Releases `count` frames from `gfn` (one region, all populated) with
    // one hole punch; false (nothing done) when that does not hold.
    bool remove_range(std::uint64_t gfn, std::uint64_t count);
    // Marks an unpopulated RAM frame populated again (it reads as zero);
    // false if `gfn` is not RAM. Not charged against max_pages: for frames
    // the hypervisor itself puts there (shared_info, grant frames).
    bool populate_page(std::uint64_t gfn);
    // Gives `gfn` a fresh zeroed page, as Xen's populate_physmap: an
    // unpopulated frame becomes populated; a populated one is replaced and
    // its old page stays charged to the domain with no frame (Xen leaves
    // it allocated and unmapped). The caller has charged one page.
    // False if `gfn` is not RAM.
    bool replace_page(std::uint64_t gfn);
    std::uint64_t populated_pages() const { return populated_.load(); }
    // Faults every populated frame in ahead of a bulk fill (a restore):
    // one madvise(MADV_POPULATE_WRITE) per run of populated frames instead
    // of a page fault per page (measured here: a 256 MiB restore 0.92 s ->
    // 0.52 s). Best effort: a kernel without it (before 5.14) faults as
    // the fill goes. Unpopulated frames stay unbacked.
    void prefault_populated();
    // Fills frames from memfd offset `offset` (frame_offset's) with
    // `bytes`, through the file rather than the mapping: a page not yet
    // backed is then allocated and filled at once, not faulted in zeroed
    // first, and a host out of memory is an error here, not a SIGBUS.
    Status write_frames(std::uint64_t offset, std::span<const std::uint8_t> bytes);

    // Frames held by a grant mapping or copy (Xen's page references from
    // map_grant_ref / acquire_grant_for_copy). A held frame is never
    // released to the host: remove_page, remove_range and replace_page
    // refuse it, so memory mapped by a back-end stays what it was until
    // the last hold goes. Only populated RAM and the toolstack's special
    // pages can be held; hold_frame is false for anything else. Holds
    // nest; thread-safe (own lock, independent of the domain's).
    bool hold_frame(std::uint64_t gfn);
    void release_frame(std::uint64_t gfn);
    unsigned frame_holds(std::uint64_t gfn) const;
    bool any_frame_held() const { return held_.load(std::memory_order_acquire) != 0; }
    // Where frame `gfn` (populated RAM or a special page) lives in memfd().
    std::optional<std::uint64_t> frame_offset(std::uint64_t gfn) const;
    // The host address of a frame by its memfd offset (from frame_offset).
    std::uint8_t* page_at_offset(std::uint64_t offset) const { return base_ + offset; }

    // Live migration. While a log is set, frames that change outside
    // KVM's sight are marked in it: population changes here, and what grant
    // code writes on the guest's behalf (mark_dirty). The log outlives its
    // use: clear it (nullptr) before it goes.
    void set_dirty_log(DirtyBitmap* log) { dirty_log_.store(log, std::memory_order_release); }
    void mark_dirty(std::uint64_t gfn) const {
        if (DirtyBitmap* log = dirty_log_.load(std::memory_order_acquire)) log->mark(gfn);
    }

    // Xen's reservation: tot_pages counts every page the domain holds, the
    // populated frames plus pages it was given with no frame (increase_
    // reservation for a translated guest, pages displaced by populate);
    // max_pages caps it (XEN_DOMCTL_max_mem; 32-bit in Xen, clamped so).
    std::uint64_t tot_pages() const { return populated_.load() + unmapped_.load(); }
    std::uint64_t max_pages() const { return max_pages_.load(); }
    void set_max_pages(std::uint64_t pages);
    // Xen's assign_pages check: may `n` more pages be charged?
    bool may_charge(std::uint64_t n) const;
    // Pages charged with no frame (increase_reservation, displaced pages).
    void charge_unmapped(std::uint64_t n) { unmapped_ += n; }

    // CPU time the hypervisor spent in reservation ops (memory_op
    // increase/decrease/populate) for this domain, and how many there were.
    void account_reservation_op(std::uint64_t cpu_ns) {
        reservation_cpu_ns_ += cpu_ns;
        ++reservation_ops_;
    }
    std::uint64_t reservation_cpu_ns() const { return reservation_cpu_ns_.load(); }
    std::uint64_t reservation_ops() const { return reservation_ops_.load(); }

    // Host memory actually backing this domain (allocated blocks of the
    // memfd: RAM, toolstack pages and hole pages), in bytes.
    std::uint64_t host_bytes() const;
    // Highest guest frame backed by anything (RAM, special or hole pages).
    std::uint64_t max_backed_gfn() const;

    // Backs a frame in unpopulated space (not RAM, not special) with a fresh
    // zeroed page. Returns the new region, to be registered with KVM, or an
    // error when the gfn is already backed or the per-domain limit is hit.
    Result<MemoryRegion> add_hole_page(std::uint64_t gfn);

private:
    GuestMemory() = default;

    UniqueFd memfd_;
    std::uint8_t* base_ = nullptr;
    std::uint64_t mapped_bytes_ = 0;
    std::uint64_t ram_bytes_ = 0;
    std::uint64_t physmap_bytes_ = 0;
    std::array<MemoryRegion, 3 + kMaxHolePages> regions_{};
    std::atomic<std::size_t> count_{0};
    unsigned hole_pages_ = 0;  // add_hole_page callers serialise (domain lock)
    // One bit per RAM page (by memfd page index) that has been released.
    std::optional<std::uint64_t> ram_page_index(std::uint64_t gfn) const;
    bool released(std::uint64_t index) const {
        return released_[index / 64] & (std::uint64_t{1} << (index % 64));
    }
    void set_released(std::uint64_t index, bool on);
    bool punch(std::uint64_t index, std::uint64_t count);
    std::vector<std::uint64_t> released_;  // written under frames_mu_ and the domain lock
    bool held_locked(std::uint64_t first, std::uint64_t count) const;
    mutable std::mutex frames_mu_;
    std::unordered_map<std::uint64_t, unsigned> holds_;  // memfd page index -> holds
    std::atomic<std::size_t> held_{0};                    // holds_.size()
    std::atomic<DirtyBitmap*> dirty_log_{nullptr};
    std::atomic<std::uint64_t> populated_{0};
    std::atomic<std::uint64_t> unmapped_{0};
    std::atomic<std::uint64_t> max_pages_{0};
    std::atomic<std::uint64_t> reservation_cpu_ns_{0};
    std::atomic<std::uint64_t> reservation_ops_{0};
};

// Which pages of a memfd were never written: SEEK_DATA/SEEK_HOLE, with the
// extent last found remembered, so a scan costs a syscall per extent, not
// per page. A page in a hole reads as zeros and holds no host memory.
// The owner calls forget() whenever the file may have changed under an
// extent it relies on. Only a hole is forgotten: a hole since written must
// not be taken for zeros, but a data extent since punched merely costs
// its callers a page copied or cleared that reads as zeros anyway, while
// finding a data extent's end again (SEEK_HOLE) walks the whole extent.
class MemfdHoles {
public:
    explicit MemfdHoles(int memfd) : fd_(memfd) {}
    bool never_written(std::uint64_t offset);
    void forget() {
        if (hole_) begin_ = end_ = 0;
    }

private:
    int fd_;
    std::uint64_t begin_ = 0, end_ = 0;  // empty: nothing known
    bool hole_ = false;
};

}  // namespace xenolith
