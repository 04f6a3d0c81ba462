// The blkif request and response layouts of the three ABIs a front-end may
// name in its `protocol` key (xen/io/protocols.h): this host's native one,
// x86_32 (a 32-bit guest: 64-bit fields aligned to 4) and x86_64. Requests
// are decoded from a private copy of the ring slot into one ABI-neutral
// Request; nothing is read from shared memory twice.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "backend/services.hpp"

extern "C" {
#include <xen/io/blkif.h>
}

namespace xenolith::backend::blk {

enum class Abi { native, x86_32, x86_64 };

// The `protocol` key: absent or empty means native; an unknown name is
// refused (nullopt), as Linux's blkback fails the connection.
std::optional<Abi> abi_from_protocol(std::string_view key);

// Bytes of one ring entry (the union of request and response).
std::size_t entry_size(Abi abi);
std::size_t request_size(Abi abi);
std::size_t response_size(Abi abi);

// Entries in a shared ring of `pages` pages: io/ring.h's __RING_SIZE, the
// largest power of two that fits after the 64-byte header.
unsigned ring_entries(Abi abi, std::size_t pages);

inline constexpr std::size_t kRingHeaderSize = 64;
inline constexpr unsigned kSectorsPerPage = kXenPageSize / 512;
// Segment descriptors held by one indirect page.
inline constexpr unsigned kSegmentsPerIndirectPage =
    kXenPageSize / sizeof(struct blkif_request_segment);

struct Segment {
    GrantRef gref = 0;
    std::uint8_t first_sect = 0;
    std::uint8_t last_sect = 0;
};

// A request, whichever ABI it came in. Fields an operation does not carry
// stay zero; `id` and `operation` are always decoded so any request can be
// answered.
struct Request {
    std::uint8_t operation = 0;
    std::uint64_t id = 0;
    std::uint16_t handle = 0;
    std::uint64_t sector_number = 0;
    // read, write, write-barrier, flush-diskcache; and indirect's count.
    std::uint16_t nr_segments = 0;
    std::array<Segment, BLKIF_MAX_SEGMENTS_PER_REQUEST> seg{};
    // discard
    std::uint8_t discard_flag = 0;
    std::uint64_t nr_sectors = 0;
    // indirect
    std::uint8_t indirect_op = 0;
    std::array<GrantRef, BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST> indirect_grefs{};
};

// `slot` holds at least request_size(abi) bytes.
Request decode_request(Abi abi, std::span<const std::byte> slot);
// Encodes a request (for front-ends: tests and the bench harness).
void encode_request(Abi abi, const Request& req, std::span<std::byte> slot);
// `slot` holds at least response_size(abi) bytes.
void encode_response(Abi abi, std::span<std::byte> slot, std::uint64_t id, std::uint8_t operation,
                     std::int16_t status);
struct Response {
    std::uint64_t id;
    std::uint8_t operation;
    std::int16_t status;
};
Response decode_response(Abi abi, std::span<const std::byte> slot);

// Segment descriptors as laid out in an indirect page (the same in every ABI).
Segment decode_indirect_segment(std::span<const std::byte> page, unsigned index);
void encode_indirect_segment(std::span<std::byte> page, unsigned index, const Segment& seg);

}  // namespace xenolith::backend::blk
