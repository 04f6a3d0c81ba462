// PAGE_DATA records into a new domain's memory, as Xen's restorer applies
// them, trusting nothing in them: every frame must be RAM or a toolstack
// page of the domain being built, and the stream cannot make the domain
// hold more pages than its max_pages.
//
//   NOTAB   the page's 4 KiB are written (an absent RAM frame is
//           populated first, charged against max_pages)
//   XTAB    the frame was absent on the sender: a populated RAM frame is
//           released, so the balloon is as it was
//   XALLOC  populated, contents zero (a frame never written here is left
//           unbacked: it reads as zeros already)
//   BROKEN  refused: the sender lost that page, and xenolith has no way to
//           give a guest a frame that faults on access
// Page-table types only x86 PV streams carry are refused by the decoder.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.hpp"
#include "memory/guest_memory.hpp"
#include "migration/libxc_stream.hpp"

namespace xenolith::save {

struct PageReceiveCounts {
    std::uint64_t records = 0;
    std::uint64_t pages_written = 0;
    std::uint64_t pages_released = 0;
    std::uint64_t pages_zeroed = 0;
};

class PageReceiver final : public migration::PageDataSink {
public:
    // The domain is built and not running; nothing else changes its
    // memory while records are applied.
    explicit PageReceiver(GuestMemory& memory) : memory_(memory) {}

    // The reader's bound: the highest frame this domain can receive.
    std::uint64_t max_pfn() const;

    // Applies one decoded record. On error the domain is to be destroyed:
    // frames before the bad one may have been written.
    Status apply(const migration::PageDataView& page_data);

    // The same, as a stream reader's sink: the pages go from the reader's
    // buffer into their frames (LibxcStreamReader::set_page_sink).
    Status begin_pages(std::span<const migration::PageDataPfn> pfns) override;
    Status store_pages(std::span<const std::size_t> indexes, ByteSpan data) override;

    const PageReceiveCounts& counts() const { return counts_; }

private:
    Status populate(std::uint64_t gfn);

    GuestMemory& memory_;
    // Where the current record's data pages go, by pfn index: the frame's
    // memfd offset, or kNone for a pfn that carries no data.
    struct Destination {
        static constexpr std::uint64_t kNone = ~std::uint64_t{0};
        std::uint64_t pfn = 0;
        std::uint64_t offset = kNone;
    };
    std::vector<Destination> destinations_;
    // Which frames were never written here, for XALLOC; forgotten whenever
    // a record writes or releases frames.
    MemfdHoles holes_{memory_.memfd()};
    PageReceiveCounts counts_;
};

}  // namespace xenolith::save
