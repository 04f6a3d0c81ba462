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
#include <optional>
#include <vector>
#include <span>
#include <string>

#include "base/result.hpp"
#include "base/unique_fd.hpp"

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
    // `ram_bytes` must be a multiple of 2 MiB and at least 4 MiB.
    static Result<std::unique_ptr<GuestMemory>> create(std::uint64_t ram_bytes,
                                                       const std::string& name);
    ~GuestMemory();
    GuestMemory(const GuestMemory&) = delete;
    GuestMemory& operator=(const GuestMemory&) = delete;

    std::uint64_t ram_bytes() const { return ram_bytes_; }
    // Regions are only ever appended (hole pages), so readers on vCPU threads
    // see a consistent prefix without taking a lock.
    std::span<const MemoryRegion> regions() const {
        return {regions_.data(), count_.load(std::memory_order_acquire)};
    }
    int memfd() const { return memfd_.get(); }

    // Host address of guest-physical [gpa, gpa+len), or nullptr when any part
    // is outside a backed region. Never spans two regions.
    std::uint8_t* host_ptr(std::uint64_t gpa, std::uint64_t len) const;
    // Host address of the region's start (for KVM slots).
    std::uint8_t* region_host(const MemoryRegion& r) const { return base_ + r.memfd_offset; }

    bool is_ram_gfn(std::uint64_t gfn) const;
    std::uint64_t max_ram_gfn() const;  // highest RAM frame number
    std::uint64_t special_page_gpa(unsigned index) const {
        return kSpecialPagesBase + index * kPageSize;
    }

    // Ballooning. A RAM frame is either populated (backed by the memfd) or
    // not (its memfd range is a hole: host memory really freed). Reading an
    // unpopulated frame reads zeros, so populate() hands back zeroed pages.
    bool is_populated(std::uint64_t gfn) const;
    // Releases a populated RAM frame to the host; false if it is not one.
    bool remove_page(std::uint64_t gfn);
    // Repopulates an unpopulated RAM frame; false if it is not RAM.
    bool populate_page(std::uint64_t gfn);
    std::uint64_t populated_pages() const { return populated_.load(); }
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
    std::array<MemoryRegion, 3 + kMaxHolePages> regions_{};
    std::atomic<std::size_t> count_{0};
    unsigned hole_pages_ = 0;  // add_hole_page callers serialise (domain lock)
    // One bit per RAM page (by memfd page index) that has been released.
    std::optional<std::uint64_t> ram_page_index(std::uint64_t gfn) const;
    std::vector<std::uint64_t> released_;  // guarded by the caller (domain lock)
    std::atomic<std::uint64_t> populated_{0};
};

}  // namespace xenolith
