#include <gtest/gtest.h>

#include <array>
#include <cstring>

#include "backend/blk/abi.hpp"

using namespace xenolith::backend;
using namespace xenolith::backend::blk;

TEST(BlkifAbi, protocol_key_when_known_names_abi_and_unknown_refused) {
    EXPECT_EQ(abi_from_protocol(""), Abi::native);
    EXPECT_EQ(abi_from_protocol("x86_32-abi"), Abi::x86_32);
    EXPECT_EQ(abi_from_protocol("x86_64-abi"), Abi::x86_64);
    EXPECT_EQ(abi_from_protocol("arm-abi"), std::nullopt);
    EXPECT_EQ(abi_from_protocol("x86_64-abi "), std::nullopt);
}

TEST(BlkifAbi, ring_entries_when_pages_grow_then_power_of_two_that_fits) {
    EXPECT_EQ(ring_entries(Abi::native, 1), 32u);  // __CONST_RING_SIZE(blkif, 4096)
    EXPECT_EQ(ring_entries(Abi::x86_32, 1), 32u);
    EXPECT_EQ(ring_entries(Abi::x86_64, 2), 64u);
    EXPECT_EQ(ring_entries(Abi::x86_64, 16), 512u);
    EXPECT_EQ(entry_size(Abi::x86_32), 108u);
    EXPECT_EQ(entry_size(Abi::x86_64), 112u);
}

TEST(BlkifAbi, native_request_when_built_from_xen_header_then_decoded_field_for_field) {
    blkif_request_t r{};
    r.operation = BLKIF_OP_WRITE;
    r.nr_segments = 3;
    r.handle = 0x51;
    r.id = 0x1122334455667788ull;
    r.sector_number = 0xabcdef012345ull;
    r.seg[2].gref = 77;
    r.seg[2].first_sect = 1;
    r.seg[2].last_sect = 6;
    std::array<std::byte, 112> slot;
    std::memcpy(slot.data(), &r, sizeof r);
    Request d = decode_request(Abi::native, slot);
    EXPECT_EQ(d.operation, BLKIF_OP_WRITE);
    EXPECT_EQ(d.nr_segments, 3);
    EXPECT_EQ(d.handle, 0x51);
    EXPECT_EQ(d.id, 0x1122334455667788ull);
    EXPECT_EQ(d.sector_number, 0xabcdef012345ull);
    EXPECT_EQ(d.seg[2].gref, 77u);
    EXPECT_EQ(d.seg[2].first_sect, 1);
    EXPECT_EQ(d.seg[2].last_sect, 6);
}

TEST(BlkifAbi, x86_32_request_when_packed_at_4_then_id_and_sector_found) {
    std::array<std::byte, 108> slot{};
    slot[0] = std::byte{BLKIF_OP_READ};
    slot[1] = std::byte{1};
    std::uint64_t id = 0x0102030405060708ull, sector = 99;
    std::memcpy(slot.data() + 4, &id, 8);
    std::memcpy(slot.data() + 12, &sector, 8);
    std::uint32_t gref = 12;
    std::memcpy(slot.data() + 20, &gref, 4);
    slot[25] = std::byte{7};
    Request d = decode_request(Abi::x86_32, slot);
    EXPECT_EQ(d.id, id);
    EXPECT_EQ(d.sector_number, sector);
    EXPECT_EQ(d.seg[0].gref, 12u);
    EXPECT_EQ(d.seg[0].last_sect, 7);
}

TEST(BlkifAbi, every_operation_when_encoded_then_decodes_the_same_in_each_abi) {
    for (Abi abi : {Abi::native, Abi::x86_32, Abi::x86_64}) {
        Request in;
        in.id = 42;
        in.sector_number = 1234;
        in.handle = 3;
        in.operation = BLKIF_OP_DISCARD;
        in.discard_flag = BLKIF_DISCARD_SECURE;
        in.nr_sectors = 1ull << 40;
        std::array<std::byte, 112> slot{};
        encode_request(abi, in, slot);
        Request out = decode_request(abi, slot);
        EXPECT_EQ(out.id, 42u);
        EXPECT_EQ(out.nr_sectors, 1ull << 40);
        EXPECT_EQ(out.discard_flag, BLKIF_DISCARD_SECURE);

        Request ind;
        ind.operation = BLKIF_OP_INDIRECT;
        ind.indirect_op = BLKIF_OP_WRITE;
        ind.nr_segments = 300;
        ind.id = 7;
        ind.sector_number = 8;
        ind.handle = 9;
        ind.indirect_grefs = {1, 2, 3, 4, 5, 6, 7, 8};
        encode_request(abi, ind, slot);
        out = decode_request(abi, slot);
        EXPECT_EQ(out.indirect_op, BLKIF_OP_WRITE);
        EXPECT_EQ(out.nr_segments, 300);
        EXPECT_EQ(out.handle, 9);
        EXPECT_EQ(out.indirect_grefs[7], 8u);
        EXPECT_EQ(out.sector_number, 8u);
    }
}

TEST(BlkifAbi, unknown_operation_when_decoded_then_only_id_and_operation) {
    std::array<std::byte, 112> slot;
    slot.fill(std::byte{0xff});
    slot[0] = std::byte{200};
    Request d = decode_request(Abi::x86_64, slot);
    EXPECT_EQ(d.operation, 200);
    EXPECT_EQ(d.id, ~0ull);
    EXPECT_EQ(d.nr_segments, 0);
}

TEST(BlkifAbi, response_when_encoded_x86_32_then_12_bytes_touched) {
    std::array<std::byte, 16> slot;
    slot.fill(std::byte{0xee});
    encode_response(Abi::x86_32, slot, 5, BLKIF_OP_READ, BLKIF_RSP_EOPNOTSUPP);
    EXPECT_EQ(slot[12], std::byte{0xee});
    Response r = decode_response(Abi::x86_32, slot);
    EXPECT_EQ(r.id, 5u);
    EXPECT_EQ(r.status, BLKIF_RSP_EOPNOTSUPP);
}
