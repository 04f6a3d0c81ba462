#include "memory/guest_memory.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace xenolith {

Result<std::unique_ptr<GuestMemory>> GuestMemory::create(std::uint64_t ram_bytes,
                                                         const std::string& name) {
    constexpr std::uint64_t kTwoMiB = 2ull << 20;
    if (ram_bytes < 2 * kTwoMiB || ram_bytes % kTwoMiB != 0)
        return make_error(fmt::format("memory size {} is not a multiple of 2 MiB >= 4 MiB",
                                      ram_bytes));
    std::unique_ptr<GuestMemory> m(new GuestMemory());
    m->ram_bytes_ = ram_bytes;

    const std::uint64_t low = std::min(ram_bytes, kLowRamLimit);
    const std::uint64_t high = ram_bytes - low;
    const std::uint64_t special = kSpecialPageCount * kPageSize;
    const std::uint64_t holes = kMaxHolePages * kPageSize;
    std::size_t n = 0;
    m->regions_[n++] = {0, low, 0, true};
    if (high) m->regions_[n++] = {kHighRamBase, high, low, true};
    m->regions_[n++] = {kSpecialPagesBase, special, ram_bytes, false};
    m->count_.store(n, std::memory_order_release);
    m->mapped_bytes_ = ram_bytes + special + holes;

    m->memfd_.reset(memfd_create(name.c_str(), MFD_CLOEXEC));
    if (!m->memfd_.valid())
        return make_error(fmt::format("memfd_create: {}", std::strerror(errno)));
    if (ftruncate(m->memfd_.get(), static_cast<off_t>(m->mapped_bytes_)) < 0)
        return make_error(fmt::format("cannot size guest memory to {} bytes: {}",
                                      m->mapped_bytes_, std::strerror(errno)));
    void* p = mmap(nullptr, m->mapped_bytes_, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_NORESERVE, m->memfd_.get(), 0);
    if (p == MAP_FAILED)
        return make_error(fmt::format("cannot map guest memory: {}", std::strerror(errno)));
    m->base_ = static_cast<std::uint8_t*>(p);
    m->released_.assign((ram_bytes / kPageSize + 63) / 64, 0);
    m->populated_ = ram_bytes / kPageSize;
    return m;
}

GuestMemory::~GuestMemory() {
    if (base_) munmap(base_, mapped_bytes_);
}

std::uint8_t* GuestMemory::host_ptr(std::uint64_t gpa, std::uint64_t len) const {
    for (const auto& r : regions()) {
        if (gpa >= r.gpa && gpa - r.gpa < r.size && len <= r.size - (gpa - r.gpa))
            return base_ + r.memfd_offset + (gpa - r.gpa);
    }
    return nullptr;
}

bool GuestMemory::is_ram_gfn(std::uint64_t gfn) const {
    const std::uint64_t gpa = gfn << kPageShift;
    for (const auto& r : regions())
        if (r.is_ram && gpa >= r.gpa && gpa - r.gpa < r.size) return true;
    return false;
}

std::uint64_t GuestMemory::max_ram_gfn() const {
    std::uint64_t top = 0;
    for (const auto& r : regions())
        if (r.is_ram) top = std::max(top, (r.gpa + r.size) >> kPageShift);
    return top - 1;
}

std::optional<std::uint64_t> GuestMemory::ram_page_index(std::uint64_t gfn) const {
    if (gfn > (std::uint64_t{1} << 40)) return std::nullopt;
    const std::uint64_t gpa = gfn << kPageShift;
    for (const auto& r : regions())
        if (r.is_ram && gpa >= r.gpa && gpa - r.gpa < r.size)
            return (r.memfd_offset + (gpa - r.gpa)) / kPageSize;
    return std::nullopt;
}

bool GuestMemory::is_populated(std::uint64_t gfn) const {
    auto i = ram_page_index(gfn);
    return i && !(released_[*i / 64] & (std::uint64_t{1} << (*i % 64)));
}

bool GuestMemory::remove_page(std::uint64_t gfn) {
    auto i = ram_page_index(gfn);
    if (!i || (released_[*i / 64] & (std::uint64_t{1} << (*i % 64)))) return false;
    if (fallocate(memfd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  static_cast<off_t>(*i * kPageSize), static_cast<off_t>(kPageSize)) < 0)
        return false;
    released_[*i / 64] |= std::uint64_t{1} << (*i % 64);
    --populated_;
    return true;
}

bool GuestMemory::populate_page(std::uint64_t gfn) {
    auto i = ram_page_index(gfn);
    if (!i) return false;
    if (released_[*i / 64] & (std::uint64_t{1} << (*i % 64))) {
        released_[*i / 64] &= ~(std::uint64_t{1} << (*i % 64));
        ++populated_;
    }
    return true;
}

std::uint64_t GuestMemory::max_backed_gfn() const {
    std::uint64_t top = 0;
    for (const auto& r : regions()) top = std::max(top, (r.gpa + r.size) >> kPageShift);
    return top - 1;
}

Result<MemoryRegion> GuestMemory::add_hole_page(std::uint64_t gfn) {
    if (gfn > (1ull << 40)) return make_error("gfn beyond the guest-physical address width");
    if (host_ptr(gfn << kPageShift, kPageSize)) return make_error("gfn is already backed");
    if (hole_pages_ >= kMaxHolePages) return make_error("too many frames in unpopulated space");
    const std::uint64_t off = ram_bytes_ + kSpecialPageCount * kPageSize + hole_pages_ * kPageSize;
    ++hole_pages_;
    std::memset(base_ + off, 0, kPageSize);
    MemoryRegion r{gfn << kPageShift, kPageSize, off, false};
    const std::size_t n = count_.load(std::memory_order_relaxed);
    regions_[n] = r;
    count_.store(n + 1, std::memory_order_release);
    return r;
}

}  // namespace xenolith
