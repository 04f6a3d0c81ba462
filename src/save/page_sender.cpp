#include "save/page_sender.hpp"

#include <algorithm>

namespace xenolith::save {

namespace {

bool is_special_gfn(std::uint64_t gfn) {
    const std::uint64_t first = kSpecialPagesBase >> kPageShift;
    return gfn >= first && gfn - first < kSpecialPageCount;
}

}  // namespace

std::uint64_t PageSender::frame_limit() const {
    return std::max(memory_.max_ram_gfn() + 1, (kSpecialPagesBase >> kPageShift) + kSpecialPageCount);
}

Status PageSender::add(std::uint64_t gfn, bool written) {
    std::uint8_t type = 0;
    const std::uint8_t* page = nullptr;
    if (memory_.is_ram_gfn(gfn) && !memory_.is_populated(gfn)) {
        type = migration::pfinfo::kXtab;
    } else if (memory_.is_ram_gfn(gfn) || is_special_gfn(gfn)) {
        auto off = memory_.frame_offset(gfn);
        if (!off) {
            // Released between the two looks (a balloon racing a live
            // round): absent now, and the balloon marked it dirty.
            type = migration::pfinfo::kXtab;
        } else if (!written && memory_.is_ram_gfn(gfn) && holes_.never_written(*off)) {
            type = migration::pfinfo::kXalloc;
        } else {
            type = migration::pfinfo::kNotab;
            page = memory_.page_at_offset(*off);
        }
    } else {
        return ok_status();  // MMIO hole, hole pages, beyond memory: not the guest's
    }

    if (batched_ == 0) {
        pfns_.assign(8, 0);
        data_.clear();
        run_end_ = nullptr;
    }
    migration::put_le64(pfns_, (std::uint64_t{type} << 60) | gfn);
    ++batched_;
    if (page) {
        if (page == run_end_) {
            data_.back() = ByteSpan(data_.back().data(), data_.back().size() + kPageSize);
        } else {
            data_.emplace_back(page, kPageSize);
        }
        run_end_ = page + kPageSize;
        ++counts_.pages_with_data;
    } else if (type == migration::pfinfo::kXalloc) {
        ++counts_.pages_unwritten;
    } else {
        ++counts_.pages_absent;
    }
    if (batched_ == kBatchPages) return flush();
    return ok_status();
}

Status PageSender::flush() {
    if (batched_ == 0) return ok_status();
    pfns_[0] = static_cast<std::uint8_t>(batched_);
    pfns_[1] = static_cast<std::uint8_t>(batched_ >> 8);
    std::vector<ByteSpan> body;
    body.reserve(data_.size() + 1);
    body.push_back(pfns_);
    body.insert(body.end(), data_.begin(), data_.end());
    std::uint64_t length = 0;
    for (ByteSpan b : body) length += b.size();
    batched_ = 0;
    ++counts_.records;
    counts_.bytes += 8 + length + migration::record_padding(length);
    return migration::write_record_gather(out_, migration::libxc_rec::kPageData, body);
}

Status PageSender::send(std::span<const std::uint64_t> gfns) {
    holes_.forget();
    for (std::uint64_t gfn : gfns) {
        if (auto st = add(gfn); !st) return st;
    }
    return flush();
}

Status PageSender::send_written(std::span<const std::uint64_t> gfns) {
    for (std::uint64_t gfn : gfns) {
        if (auto st = add(gfn, true); !st) return st;
    }
    return flush();
}

Status PageSender::send_all() {
    holes_.forget();
    std::vector<MemoryRegion> regions(memory_.regions().begin(), memory_.regions().end());
    std::sort(regions.begin(), regions.end(), [](const auto& a, const auto& b) { return a.gpa < b.gpa; });
    for (const MemoryRegion& r : regions) {
        const std::uint64_t first = r.gpa >> kPageShift;
        const std::uint64_t count = r.size >> kPageShift;
        if (!r.is_ram && !is_special_gfn(first)) continue;
        for (std::uint64_t gfn = first; gfn < first + count; ++gfn) {
            if (auto st = add(gfn); !st) return st;
        }
    }
    return flush();
}

}  // namespace xenolith::save
