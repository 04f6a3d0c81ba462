// Guest memory onto a libxc stream: PAGE_DATA records, as Xen's saver
// writes them for an HVM domain.
//
// What a saved image holds of a xenolith domain:
//   - every RAM frame of its physmap: populated ones as NOTAB with their
//     4 KiB, unpopulated ones (ballooned out, or never grown into) as XTAB
//     with no data, so the receiver reproduces the balloon exactly;
//     populated frames the guest never wrote (their memfd range is still a
//     hole, so they read as zeros) as XALLOC: allocated, no data, as Xen's
//     stream allows — most of an idle guest's memory costs 8 bytes, not 4 KiB
//     read, faulted in on this side and copied;
//   - the toolstack's special pages (xenstore and console rings), with
//     data: the rings' contents and indexes must survive.
// Frames a guest mapped into unpopulated space (shared_info, grant
// frames) are the hypervisor's, not the guest's: they are not sent, and a
// guest maps them again on resume as Xen's resume convention has it.
//
// Pages go out straight from guest memory (a gathered write), never
// through a frame buffer.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.hpp"
#include "memory/guest_memory.hpp"
#include "migration/byte_stream.hpp"
#include "migration/libxc_stream.hpp"

namespace xenolith::save {

struct PageSendCounts {
    std::uint64_t records = 0;
    std::uint64_t pages_with_data = 0;  // NOTAB
    std::uint64_t pages_absent = 0;     // XTAB
    std::uint64_t pages_unwritten = 0;  // XALLOC: never written, zero
    std::uint64_t bytes = 0;            // record bytes written, framing included
};

class PageSender {
public:
    // Xen's saver puts at most 1024 pages in one record (MAX_BATCH_SIZE),
    // and its restorer's limit is the same.
    static constexpr std::size_t kBatchPages = 1024;

    PageSender(const GuestMemory& memory, migration::ByteSink& out) : memory_(memory), out_(out) {}

    // Sends the frames named, in the order given, skipping those a saved
    // image does not hold (see above). Duplicates are sent twice.
    Status send(std::span<const std::uint64_t> gfns);
    // The same for frames a dirty log says were written since they were
    // last sent: each goes with its data, without asking the memfd whether
    // it was ever written. That question costs a walk of the page's whole
    // data extent, ~15 ms per pre-copy round of a full 4 GiB guest, most of
    // its paused time; a frame the log names that is still a hole (a
    // balloon repopulated it) merely goes as 4 KiB of zeros.
    Status send_written(std::span<const std::uint64_t> gfns);
    // Sends every frame the image holds, in increasing order.
    Status send_all();

    // One past the highest frame send_all() covers: the size of a dirty
    // bitmap for this domain.
    std::uint64_t frame_limit() const;

    const PageSendCounts& counts() const { return counts_; }

private:
    // Adds one frame to the batch; writes the batch when full. Frames in
    // a hole go as XALLOC unless `written` says they cannot be.
    Status add(std::uint64_t gfn, bool written = false);
    Status flush();

    const GuestMemory& memory_;
    migration::ByteSink& out_;
    std::vector<std::uint8_t> pfns_;      // count, reserved, then the pfn entries
    std::vector<ByteSpan> data_;          // the pages, runs of adjacent ones merged
    std::uint32_t batched_ = 0;
    const std::uint8_t* run_end_ = nullptr;  // end of data_.back() when it can grow
    PageSendCounts counts_;
    // Forgotten at each send: a page written after its extent was looked
    // up is in the next round's dirty set, and is looked up again then.
    MemfdHoles holes_{memory_.memfd()};
};

}  // namespace xenolith::save
