// The request stream of the block benches (blkback_bench, blkproc_bench):
// QD slots after a ring of `ring_pages`, each slot one indirect page and
// BS/4 KiB buffer pages (grant ref = guest frame), random or sequential
// blocks of BS bytes, read or write, indirect above 11 segments.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "backend/blk/abi.hpp"

namespace xenolith::bench {

struct BlkWorkload {
    unsigned ring_pages = 1;
    unsigned bs = 4096;
    bool write = false;
    bool random = true;
    std::uint64_t disk_blocks = 1;  // disk size in BS blocks

    unsigned segs() const { return bs / 4096; }
    bool indirect() const { return segs() > BLKIF_MAX_SEGMENTS_PER_REQUEST; }
    std::size_t per_slot() const { return 1 + segs(); }
    std::size_t pages(unsigned qd) const { return ring_pages + qd * per_slot(); }
    backend::GrantRef slot_base(unsigned s) const {
        return static_cast<backend::GrantRef>(ring_pages + s * per_slot());
    }

    // Fills each slot's buffers and its indirect page once; `page(frame)`
    // is the guest's view of a frame.
    template <class PageOf>
    void prepare(unsigned qd, PageOf page) const {
        for (unsigned s = 0; s < qd; ++s) {
            auto base = slot_base(s);
            std::memset(page(base + 1), 0x5a, segs() * backend::kXenPageSize);
            for (unsigned i = 0; i < segs() && indirect(); ++i)
                backend::blk::encode_indirect_segment(
                    std::span<std::byte>(page(base), backend::kXenPageSize), i,
                    backend::blk::Segment{base + 1 + i, 0, 7});
        }
    }

    // The next request for slot `s` (its id is the slot).
    backend::blk::Request make(unsigned s) {
        std::uint64_t block;
        if (random) {
            rng_ ^= rng_ << 13; rng_ ^= rng_ >> 7; rng_ ^= rng_ << 17;
            block = rng_ % disk_blocks;
        } else {
            block = next_block_++ % disk_blocks;
        }
        auto base = slot_base(s);
        backend::blk::Request r;
        r.id = s;
        r.sector_number = block * (bs / 512);
        r.nr_segments = static_cast<std::uint16_t>(segs());
        if (indirect()) {
            r.operation = BLKIF_OP_INDIRECT;
            r.indirect_op = write ? BLKIF_OP_WRITE : BLKIF_OP_READ;
            r.indirect_grefs[0] = base;
        } else {
            r.operation = write ? BLKIF_OP_WRITE : BLKIF_OP_READ;
            for (unsigned i = 0; i < segs(); ++i) r.seg[i] = backend::blk::Segment{base + 1 + i, 0, 7};
        }
        return r;
    }

private:
    std::uint64_t rng_ = 0x9e3779b97f4a7c15ull;
    std::uint64_t next_block_ = 0;
};

}  // namespace xenolith::bench
