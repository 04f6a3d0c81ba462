#include "save/page_receiver.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace xenolith::save {

namespace {

namespace pf = migration::pfinfo;

bool is_special_gfn(std::uint64_t gfn) {
    const std::uint64_t first = kSpecialPagesBase >> kPageShift;
    return gfn >= first && gfn - first < kSpecialPageCount;
}

}  // namespace

std::uint64_t PageReceiver::max_pfn() const {
    return std::max(memory_.max_ram_gfn(), (kSpecialPagesBase >> kPageShift) + kSpecialPageCount - 1);
}

Status PageReceiver::populate(std::uint64_t gfn) {
    if (memory_.is_populated(gfn)) return ok_status();
    if (!memory_.may_charge(1)) {
        return make_error(fmt::format("pfn {:#x} would take the domain beyond its {} pages (max_pages)", gfn,
                                      memory_.max_pages()));
    }
    if (!memory_.populate_page(gfn)) return make_error(fmt::format("pfn {:#x} could not be populated", gfn));
    return ok_status();
}

Status PageReceiver::begin_pages(std::span<const migration::PageDataPfn> pfns) {
    ++counts_.records;
    destinations_.assign(pfns.size(), nullptr);
    for (std::size_t i = 0; i < pfns.size(); ++i) {
        const migration::PageDataPfn& p = pfns[i];
        const bool ram = memory_.is_ram_gfn(p.pfn);
        const bool special = is_special_gfn(p.pfn);
        if (!ram && !special) {
            return make_error(fmt::format("pfn {:#x} is not RAM or a toolstack page of this domain", p.pfn));
        }
        switch (p.type) {
        case pf::kNotab: {
            if (ram) {
                if (auto st = populate(p.pfn); !st) return st;
            }
            auto off = memory_.frame_offset(p.pfn);
            if (!off) return make_error(fmt::format("pfn {:#x} has no page to write", p.pfn));
            destinations_[i] = memory_.page_at_offset(*off);
            holes_.forget();
            ++counts_.pages_written;
            break;
        }
        case pf::kXtab:
            if (special) {
                return make_error(fmt::format("pfn {:#x} is a toolstack page (xenstore/console rings) and cannot "
                                              "be absent",
                                              p.pfn));
            }
            if (memory_.is_populated(p.pfn)) {
                if (!memory_.remove_page(p.pfn))
                    return make_error(fmt::format("pfn {:#x} could not be released", p.pfn));
                holes_.forget();
                ++counts_.pages_released;
            }
            break;
        case pf::kXalloc:
            if (ram) {
                if (auto st = populate(p.pfn); !st) return st;
            }
            if (auto off = memory_.frame_offset(p.pfn); off && !holes_.never_written(*off))
                std::memset(memory_.page_at_offset(*off), 0, kPageSize);
            ++counts_.pages_zeroed;
            break;
        case pf::kBroken:
            return make_error(fmt::format("pfn {:#x} is marked broken by the sender; xenolith cannot give a guest "
                                          "a frame that faults",
                                          p.pfn));
        default:
            return make_error(fmt::format("pfn {:#x} has page type {:#x}, which an HVM/PVH image never carries",
                                          p.pfn, p.type));
        }
    }
    // The frames about to be filled, faulted in a run at a time rather
    // than a page fault per page as the data is read into them.
    for (std::size_t i = 0; i < destinations_.size();) {
        if (!destinations_[i]) {
            ++i;
            continue;
        }
        std::uint8_t* start = destinations_[i];
        std::size_t n = 1;
        while (i + n < destinations_.size() && destinations_[i + n] == start + n * kPageSize) ++n;
        (void)GuestMemory::prefault(start, n * kPageSize);
        i += n;
    }
    return ok_status();
}

Result<std::uint8_t*> PageReceiver::page_destination(std::size_t index) {
    if (index >= destinations_.size() || destinations_[index] == nullptr) {
        return make_error(fmt::format("no page data expected at index {}", index));
    }
    return destinations_[index];
}

Status PageReceiver::apply(const migration::PageDataView& page_data) {
    if (auto st = begin_pages(page_data.pfns); !st) return st;
    std::size_t next_page = 0;
    for (std::size_t i = 0; i < page_data.pfns.size(); ++i) {
        if (!migration::page_type_has_data(page_data.pfns[i].type)) continue;
        if ((next_page + 1) * kPageSize > page_data.data.size()) return make_error("page data shorter than its pfn list");
        auto dest = page_destination(i);
        if (!dest) return dest.error();
        std::memcpy(*dest, page_data.data.data() + next_page * kPageSize, kPageSize);
        ++next_page;
    }
    return ok_status();
}

}  // namespace xenolith::save
