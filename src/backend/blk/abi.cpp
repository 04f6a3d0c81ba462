#include "backend/blk/abi.hpp"

#include <cstddef>
#include <cstring>

#include <xen/io/protocols.h>

namespace xenolith::backend::blk {

#if !defined(__x86_64__)
#error "the native blkif ABI is decoded as x86_64: add this host's layout"
#endif

namespace {

// Field offsets of the two x86 layouts. Xen's public headers define only
// the native structures; the x86_32 ones differ by 64-bit fields being
// 4-byte aligned (as Linux's blkback common.h and QEMU's xen_blkif.h spell
// out). The x86_64 layout is checked against the native header below.
struct Layout {
    std::size_t id, sector, seg;                      // read/write/barrier/flush
    std::size_t discard_nr_sectors;                   // discard (id, sector shared)
    std::size_t ind_nr_segments, ind_handle, ind_grefs;  // indirect
    std::size_t request_size, response_size;
};

constexpr Layout kX86_64{8, 16, 24, 24, 2, 24, 28, 112, 16};
constexpr Layout kX86_32{4, 12, 20, 20, 2, 20, 24, 108, 12};

static_assert(offsetof(blkif_request, id) == kX86_64.id);
static_assert(offsetof(blkif_request, sector_number) == kX86_64.sector);
static_assert(offsetof(blkif_request, seg) == kX86_64.seg);
static_assert(sizeof(blkif_request) == kX86_64.request_size);
static_assert(offsetof(blkif_request_discard, id) == kX86_64.id);
static_assert(offsetof(blkif_request_discard, sector_number) == kX86_64.sector);
static_assert(offsetof(blkif_request_discard, nr_sectors) == kX86_64.discard_nr_sectors);
static_assert(offsetof(blkif_request_indirect, id) == kX86_64.id);
static_assert(offsetof(blkif_request_indirect, sector_number) == kX86_64.sector);
static_assert(offsetof(blkif_request_indirect, nr_segments) == kX86_64.ind_nr_segments);
static_assert(offsetof(blkif_request_indirect, handle) == kX86_64.ind_handle);
static_assert(offsetof(blkif_request_indirect, indirect_grefs) == kX86_64.ind_grefs);
static_assert(sizeof(blkif_response) == kX86_64.response_size);
static_assert(offsetof(blkif_response, operation) == 8);
static_assert(offsetof(blkif_response, status) == 10);
static_assert(sizeof(blkif_request_segment) == 8);
static_assert(offsetof(blkif_sring, ring) == kRingHeaderSize);
// Both layouts put the operation at 0 and share the response's offsets.

const Layout& layout(Abi abi) { return abi == Abi::x86_32 ? kX86_32 : kX86_64; }

template <class T>
T load(std::span<const std::byte> s, std::size_t off) {
    T v;
    std::memcpy(&v, s.data() + off, sizeof v);
    return v;
}
template <class T>
void store(std::span<std::byte> s, std::size_t off, T v) {
    std::memcpy(s.data() + off, &v, sizeof v);
}

Segment load_segment(std::span<const std::byte> s, std::size_t off) {
    return Segment{load<std::uint32_t>(s, off), load<std::uint8_t>(s, off + 4),
                   load<std::uint8_t>(s, off + 5)};
}
void store_segment(std::span<std::byte> s, std::size_t off, const Segment& seg) {
    store<std::uint32_t>(s, off, seg.gref);
    store<std::uint8_t>(s, off + 4, seg.first_sect);
    store<std::uint8_t>(s, off + 5, seg.last_sect);
    store<std::uint16_t>(s, off + 6, 0);
}

}  // namespace

std::optional<Abi> abi_from_protocol(std::string_view key) {
    if (key.empty()) return Abi::native;
    if (key == XEN_IO_PROTO_ABI_X86_32) return Abi::x86_32;
    if (key == XEN_IO_PROTO_ABI_X86_64) return Abi::x86_64;
    return std::nullopt;
}

std::size_t request_size(Abi abi) { return layout(abi).request_size; }
std::size_t response_size(Abi abi) { return layout(abi).response_size; }
std::size_t entry_size(Abi abi) {
    const Layout& l = layout(abi);
    return l.request_size > l.response_size ? l.request_size : l.response_size;
}

unsigned ring_entries(Abi abi, std::size_t pages) {
    std::size_t n = (pages * kXenPageSize - kRingHeaderSize) / entry_size(abi);
    unsigned p = 1;
    while (p * 2 <= n) p *= 2;
    return n == 0 ? 0 : p;
}

Request decode_request(Abi abi, std::span<const std::byte> slot) {
    const Layout& l = layout(abi);
    Request r;
    r.operation = load<std::uint8_t>(slot, 0);
    r.id = load<std::uint64_t>(slot, l.id);
    switch (r.operation) {
    case BLKIF_OP_READ:
    case BLKIF_OP_WRITE:
    case BLKIF_OP_WRITE_BARRIER:
    case BLKIF_OP_FLUSH_DISKCACHE:
        r.nr_segments = load<std::uint8_t>(slot, 1);
        r.handle = load<std::uint16_t>(slot, 2);
        r.sector_number = load<std::uint64_t>(slot, l.sector);
        for (unsigned i = 0; i < r.seg.size(); ++i)
            r.seg[i] = load_segment(slot, l.seg + i * sizeof(blkif_request_segment));
        break;
    case BLKIF_OP_DISCARD:
        r.discard_flag = load<std::uint8_t>(slot, 1);
        r.handle = load<std::uint16_t>(slot, 2);
        r.sector_number = load<std::uint64_t>(slot, l.sector);
        r.nr_sectors = load<std::uint64_t>(slot, l.discard_nr_sectors);
        break;
    case BLKIF_OP_INDIRECT:
        r.indirect_op = load<std::uint8_t>(slot, 1);
        r.nr_segments = load<std::uint16_t>(slot, l.ind_nr_segments);
        r.sector_number = load<std::uint64_t>(slot, l.sector);
        r.handle = load<std::uint16_t>(slot, l.ind_handle);
        for (unsigned i = 0; i < r.indirect_grefs.size(); ++i)
            r.indirect_grefs[i] = load<std::uint32_t>(slot, l.ind_grefs + i * 4);
        break;
    default:
        break;  // only id and operation: enough to refuse it
    }
    return r;
}

void encode_request(Abi abi, const Request& r, std::span<std::byte> slot) {
    const Layout& l = layout(abi);
    std::memset(slot.data(), 0, l.request_size);
    store<std::uint8_t>(slot, 0, r.operation);
    store<std::uint64_t>(slot, l.id, r.id);
    switch (r.operation) {
    case BLKIF_OP_DISCARD:
        store<std::uint8_t>(slot, 1, r.discard_flag);
        store<std::uint16_t>(slot, 2, r.handle);
        store<std::uint64_t>(slot, l.sector, r.sector_number);
        store<std::uint64_t>(slot, l.discard_nr_sectors, r.nr_sectors);
        break;
    case BLKIF_OP_INDIRECT:
        store<std::uint8_t>(slot, 1, r.indirect_op);
        store<std::uint16_t>(slot, l.ind_nr_segments, r.nr_segments);
        store<std::uint64_t>(slot, l.sector, r.sector_number);
        store<std::uint16_t>(slot, l.ind_handle, r.handle);
        for (unsigned i = 0; i < r.indirect_grefs.size(); ++i)
            store<std::uint32_t>(slot, l.ind_grefs + i * 4, r.indirect_grefs[i]);
        break;
    default:
        store<std::uint8_t>(slot, 1, static_cast<std::uint8_t>(r.nr_segments));
        store<std::uint16_t>(slot, 2, r.handle);
        store<std::uint64_t>(slot, l.sector, r.sector_number);
        for (unsigned i = 0; i < r.seg.size(); ++i)
            store_segment(slot, l.seg + i * sizeof(blkif_request_segment), r.seg[i]);
        break;
    }
}

void encode_response(Abi abi, std::span<std::byte> slot, std::uint64_t id, std::uint8_t operation,
                     std::int16_t status) {
    std::memset(slot.data(), 0, response_size(abi));
    store<std::uint64_t>(slot, 0, id);
    store<std::uint8_t>(slot, 8, operation);
    store<std::int16_t>(slot, 10, status);
}

Response decode_response(Abi, std::span<const std::byte> slot) {
    return Response{load<std::uint64_t>(slot, 0), load<std::uint8_t>(slot, 8),
                    load<std::int16_t>(slot, 10)};
}

Segment decode_indirect_segment(std::span<const std::byte> page, unsigned index) {
    return load_segment(page, index * sizeof(blkif_request_segment));
}

void encode_indirect_segment(std::span<std::byte> page, unsigned index, const Segment& seg) {
    store_segment(page, index * sizeof(blkif_request_segment), seg);
}

}  // namespace xenolith::backend::blk
