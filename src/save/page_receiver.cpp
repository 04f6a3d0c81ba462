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
    destinations_.assign(pfns.size(), Destination{});
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
            destinations_[i] = Destination{p.pfn, *off};
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
    return ok_status();
}

// The pages go into the memfd with pwrite rather than being copied through
// the mapping: the kernel then fills each new page from the data instead of
// first faulting it in zeroed, and a host short of memory answers with an
// error rather than a SIGBUS.
Status PageReceiver::store_pages(std::span<const std::size_t> indexes, ByteSpan data) {
    if (data.size() != indexes.size() * kPageSize) {
        return make_error(fmt::format("{} bytes of page data for {} pages", data.size(), indexes.size()));
    }
    std::size_t i = 0;
    while (i < indexes.size()) {
        auto expected = [&](std::size_t index) {
            return index < destinations_.size() && destinations_[index].offset != Destination::kNone;
        };
        if (!expected(indexes[i])) return make_error(fmt::format("no page data expected at index {}", indexes[i]));
        // Pages whose frames are adjacent in the memfd go in one write.
        const Destination& first = destinations_[indexes[i]];
        std::size_t n = 1;
        while (i + n < indexes.size() && expected(indexes[i + n]) &&
               destinations_[indexes[i + n]].offset == first.offset + n * kPageSize)
            ++n;
        if (auto st = memory_.write_frames(first.offset, data.subspan(i * kPageSize, n * kPageSize)); !st) {
            return make_error(fmt::format("pfn {:#x}: {}", first.pfn, st.error().what));
        }
        i += n;
    }
    return ok_status();
}

Status PageReceiver::apply(const migration::PageDataView& page_data) {
    if (auto st = begin_pages(page_data.pfns); !st) return st;
    std::vector<std::size_t> indexes;
    for (std::size_t i = 0; i < page_data.pfns.size(); ++i) {
        if (migration::page_type_has_data(page_data.pfns[i].type)) indexes.push_back(i);
    }
    if (page_data.data.size() < indexes.size() * kPageSize) return make_error("page data shorter than its pfn list");
    return store_pages(indexes, page_data.data.first(indexes.size() * kPageSize));
}

}  // namespace xenolith::save
