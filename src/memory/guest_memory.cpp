#include "memory/guest_memory.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <system_error>
#include <thread>

#include <fmt/format.h>

namespace xenolith {

Result<std::unique_ptr<GuestMemory>> GuestMemory::create(std::uint64_t ram_bytes,
                                                         const std::string& name,
                                                         std::uint64_t physmap_bytes) {
    constexpr std::uint64_t kTwoMiB = 2ull << 20;
    if (ram_bytes < 2 * kTwoMiB || ram_bytes % kTwoMiB != 0)
        return make_error(fmt::format("memory size {} is not a multiple of 2 MiB >= 4 MiB",
                                      ram_bytes));
    if (physmap_bytes > (std::uint64_t{1} << 40))
        return make_error(fmt::format("maximum memory {} is above 1 TiB", physmap_bytes));
    physmap_bytes = std::max(ram_bytes, (physmap_bytes + kTwoMiB - 1) / kTwoMiB * kTwoMiB);
    std::unique_ptr<GuestMemory> m(new GuestMemory());
    m->ram_bytes_ = ram_bytes;
    m->physmap_bytes_ = physmap_bytes;

    // RAM frames are laid out for the whole physmap; memfd offsets follow
    // guest-physical order, so the frames beyond ram_bytes are its tail.
    const std::uint64_t low = std::min(physmap_bytes, kLowRamLimit);
    const std::uint64_t high = physmap_bytes - low;
    const std::uint64_t special = kSpecialPageCount * kPageSize;
    const std::uint64_t holes = kMaxHolePages * kPageSize;
    std::size_t n = 0;
    m->regions_[n++] = {0, low, 0, true};
    if (high) m->regions_[n++] = {kHighRamBase, high, low, true};
    m->regions_[n++] = {kSpecialPagesBase, special, physmap_bytes, false};
    m->count_.store(n, std::memory_order_release);
    m->mapped_bytes_ = physmap_bytes + special + holes;

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
    const std::uint64_t ram_pages = ram_bytes / kPageSize;
    const std::uint64_t physmap_pages = physmap_bytes / kPageSize;
    m->released_.assign((physmap_pages + 63) / 64, 0);
    // Frames beyond ram_bytes start unpopulated (whole words at a time).
    std::uint64_t i = ram_pages;
    for (; i < physmap_pages && i % 64; ++i) m->set_released(i, true);
    for (; i + 64 <= physmap_pages; i += 64) m->released_[i / 64] = ~std::uint64_t{0};
    for (; i < physmap_pages; ++i) m->set_released(i, true);
    m->populated_ = ram_pages;
    m->max_pages_ = ram_pages;
    return m;
}

namespace {

// Giving a guest's memory back to the host takes about 0.1 s per GiB here
// (its page tables, then the memfd's pages). From this much on it is done
// on a thread of its own, so that destroy, and the end of a migration, do
// not wait for it; the host sees the memory free a moment later, as Xen's
// freed pages become free once scrubbed.
constexpr std::uint64_t kReleaseInBackgroundBytes = 64ull << 20;

void release_mapping(std::uint8_t* base, std::uint64_t mapped_bytes, UniqueFd memfd, std::uint64_t backed_bytes) {
    if (!base) return;
    if (backed_bytes >= kReleaseInBackgroundBytes) {
        try {
            std::thread([base, mapped_bytes, fd = std::move(memfd)]() mutable {
                ::munmap(base, mapped_bytes);
                fd.reset();
            }).detach();
            return;
        } catch (const std::system_error&) {
            // No thread to be had: the memory is given back here and now.
        }
    }
    ::munmap(base, mapped_bytes);
}

}  // namespace

GuestMemory::~GuestMemory() {
    const std::uint64_t backed = host_bytes();
    release_mapping(base_, mapped_bytes_, std::move(memfd_), backed);
}

std::uint8_t* GuestMemory::host_ptr(std::uint64_t gpa, std::uint64_t len) const {
    for (const auto& r : regions()) {
        if (gpa >= r.gpa && gpa - r.gpa < r.size && len <= r.size - (gpa - r.gpa))
            return base_ + r.memfd_offset + (gpa - r.gpa);
    }
    return nullptr;
}

std::uint8_t* GuestMemory::initial_ram_ptr(std::uint64_t gpa, std::uint64_t len) const {
    for (const auto& r : regions()) {
        if (r.is_ram && gpa >= r.gpa && gpa - r.gpa < r.size && len <= r.size - (gpa - r.gpa) &&
            r.memfd_offset + (gpa - r.gpa) + len <= ram_bytes_)
            return base_ + r.memfd_offset + (gpa - r.gpa);
    }
    return nullptr;
}

bool GuestMemory::is_ram_gfn(std::uint64_t gfn) const { return ram_page_index(gfn).has_value(); }

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

void GuestMemory::set_released(std::uint64_t index, bool on) {
    const std::uint64_t bit = std::uint64_t{1} << (index % 64);
    if (on) released_[index / 64] |= bit;
    else released_[index / 64] &= ~bit;
}

bool GuestMemory::punch(std::uint64_t index, std::uint64_t count) {
    return fallocate(memfd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                     static_cast<off_t>(index * kPageSize),
                     static_cast<off_t>(count * kPageSize)) == 0;
}

bool GuestMemory::is_populated(std::uint64_t gfn) const {
    auto i = ram_page_index(gfn);
    return i && !released(*i);
}

namespace {
#ifdef MADV_POPULATE_WRITE
constexpr int kPopulateWrite = MADV_POPULATE_WRITE;
#else
constexpr int kPopulateWrite = 23;  // Linux 5.14's value; older kernels say EINVAL
#endif

// False when the kernel cannot (EINVAL).
bool prefault(std::uint8_t* host, std::uint64_t bytes) {
    return bytes == 0 || ::madvise(host, bytes, kPopulateWrite) == 0 || errno != EINVAL;
}
}  // namespace

Status GuestMemory::write_frames(std::uint64_t offset, std::span<const std::uint8_t> bytes) {
    if (offset > mapped_bytes_ || bytes.size() > mapped_bytes_ - offset) {
        return make_error(fmt::format("{} bytes at offset {:#x} are outside guest memory", bytes.size(), offset));
    }
    while (!bytes.empty()) {
        const ssize_t n = ::pwrite(memfd_.get(), bytes.data(), bytes.size(), static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return make_error(fmt::format("writing guest memory: {}", std::strerror(n < 0 ? errno : EIO)));
        bytes = bytes.subspan(static_cast<std::size_t>(n));
        offset += static_cast<std::uint64_t>(n);
    }
    return ok_status();
}

bool MemfdHoles::never_written(std::uint64_t offset) {
    if (offset >= begin_ && offset < end_) return hole_;
    const off_t at = static_cast<off_t>(offset);
    const off_t data = ::lseek(fd_, at, SEEK_DATA);
    begin_ = offset;
    if (data < 0) {
        // ENXIO: no data from here to the end. Anything else (a file that
        // cannot tell): the page counts as written, which is never wrong.
        hole_ = errno == ENXIO;
        end_ = hole_ ? std::numeric_limits<std::uint64_t>::max() : offset + kPageSize;
        return hole_;
    }
    if (data > at) {
        hole_ = true;
        end_ = static_cast<std::uint64_t>(data);
        return true;
    }
    const off_t hole = ::lseek(fd_, at, SEEK_HOLE);
    hole_ = false;
    end_ = hole > at ? static_cast<std::uint64_t>(hole) : offset + kPageSize;
    return false;
}

void GuestMemory::prefault_populated() {
    const std::uint64_t last = max_ram_gfn();
    for (std::uint64_t gfn = 0; gfn <= last;) {
        if (!is_populated(gfn)) {
            ++gfn;
            continue;
        }
        // A run of populated frames within one region: contiguous memory.
        const std::uint64_t first = gfn;
        std::uint8_t* start = host_ptr(first << kPageShift, kPageSize);
        while (gfn <= last && is_populated(gfn) && host_ptr(gfn << kPageShift, kPageSize) == start + ((gfn - first) << kPageShift))
            ++gfn;
        if (!prefault(start, (gfn - first) << kPageShift)) return;
    }
}

bool GuestMemory::remove_page(std::uint64_t gfn) { return remove_range(gfn, 1); }

bool GuestMemory::remove_range(std::uint64_t gfn, std::uint64_t count) {
    if (count == 0) return true;
    auto first = ram_page_index(gfn);
    auto last = ram_page_index(gfn + count - 1);
    // One region: the memfd indexes are then contiguous too.
    if (!first || !last || *last - *first != count - 1) return false;
    std::lock_guard lock(frames_mu_);
    if (held_locked(*first, count)) return false;
    for (std::uint64_t i = *first; i <= *last; ++i)
        if (released(i)) return false;
    if (!punch(*first, count)) return false;
    for (std::uint64_t i = *first; i <= *last; ++i) set_released(i, true);
    populated_ -= count;
    if (DirtyBitmap* log = dirty_log_.load(std::memory_order_acquire)) log->mark_range(gfn, count);
    return true;
}

bool GuestMemory::populate_page(std::uint64_t gfn) {
    auto i = ram_page_index(gfn);
    if (!i) return false;
    std::lock_guard lock(frames_mu_);
    if (released(*i)) {
        set_released(*i, false);
        ++populated_;
        mark_dirty(gfn);
    }
    return true;
}

bool GuestMemory::replace_page(std::uint64_t gfn) {
    auto i = ram_page_index(gfn);
    if (!i) return false;
    if (released(*i)) return populate_page(gfn);
    // A fresh page over a populated frame: it reads as zero again, and the
    // page it displaces stays charged. Not under a back-end's mapping.
    std::lock_guard lock(frames_mu_);
    if (held_locked(*i, 1)) return false;
    if (!punch(*i, 1)) return false;
    ++unmapped_;
    mark_dirty(gfn);
    return true;
}

bool GuestMemory::held_locked(std::uint64_t first, std::uint64_t count) const {
    if (holds_.empty()) return false;
    if (count > holds_.size()) {
        for (const auto& [index, n] : holds_)
            if (index >= first && index - first < count) return true;
        return false;
    }
    for (std::uint64_t i = first; i < first + count; ++i)
        if (holds_.count(i)) return true;
    return false;
}

std::optional<std::uint64_t> GuestMemory::frame_offset(std::uint64_t gfn) const {
    if (auto i = ram_page_index(gfn)) {
        if (released(*i)) return std::nullopt;
        return *i * kPageSize;
    }
    const std::uint64_t special = physmap_bytes_ / kPageSize;
    if (gfn >= (kSpecialPagesBase >> kPageShift) &&
        gfn - (kSpecialPagesBase >> kPageShift) < kSpecialPageCount)
        return (special + gfn - (kSpecialPagesBase >> kPageShift)) * kPageSize;
    return std::nullopt;
}

bool GuestMemory::hold_frame(std::uint64_t gfn) {
    std::lock_guard lock(frames_mu_);
    auto off = frame_offset(gfn);
    if (!off) return false;
    ++holds_[*off / kPageSize];
    held_.store(holds_.size(), std::memory_order_release);
    return true;
}

void GuestMemory::release_frame(std::uint64_t gfn) {
    std::lock_guard lock(frames_mu_);
    auto off = frame_offset(gfn);
    if (!off) return;
    auto it = holds_.find(*off / kPageSize);
    if (it != holds_.end() && --it->second == 0) holds_.erase(it);
    held_.store(holds_.size(), std::memory_order_release);
}

unsigned GuestMemory::frame_holds(std::uint64_t gfn) const {
    std::lock_guard lock(frames_mu_);
    auto off = frame_offset(gfn);
    if (!off) return 0;
    auto it = holds_.find(*off / kPageSize);
    return it == holds_.end() ? 0 : it->second;
}

void GuestMemory::set_max_pages(std::uint64_t pages) {
    max_pages_ = std::min<std::uint64_t>(pages, std::numeric_limits<std::uint32_t>::max());
}

bool GuestMemory::may_charge(std::uint64_t n) const {
    const std::uint64_t tot = tot_pages();
    const std::uint64_t max = max_pages();
    return tot <= max && n <= max - tot;
}

std::uint64_t GuestMemory::host_bytes() const {
    struct stat st {};
    if (fstat(memfd_.get(), &st) < 0) return 0;
    return static_cast<std::uint64_t>(st.st_blocks) * 512;
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
    const std::uint64_t off = physmap_bytes_ + kSpecialPageCount * kPageSize + hole_pages_ * kPageSize;
    ++hole_pages_;
    std::memset(base_ + off, 0, kPageSize);
    MemoryRegion r{gfn << kPageShift, kPageSize, off, false};
    const std::size_t n = count_.load(std::memory_order_relaxed);
    regions_[n] = r;
    count_.store(n + 1, std::memory_order_release);
    return r;
}

}  // namespace xenolith
