#include "arch/x86/hypercall_page.hpp"

#include <gtest/gtest.h>

#include <array>
#include <vector>

namespace xenolith::x86 {
namespace {

std::array<std::uint8_t, kHypercallPageSize> make_page() {
    std::array<std::uint8_t, kHypercallPageSize> page{};
    page.fill(0x00);
    fill_hypercall_page(page);
    return page;
}

std::vector<std::uint8_t> slot(const std::array<std::uint8_t, kHypercallPageSize>& page,
                               std::size_t nr) {
    return {page.begin() + static_cast<std::ptrdiff_t>(nr * 32),
            page.begin() + static_cast<std::ptrdiff_t>(nr * 32 + 32)};
}

std::vector<std::uint8_t> padded(std::vector<std::uint8_t> head) {
    head.resize(32, 0xcc);
    return head;
}

TEST(HypercallPage, stub_zero_is_mov_out_ret_then_int3) {
    EXPECT_EQ(slot(make_page(), 0),
              padded({0xb8, 0x00, 0x00, 0x00, 0x00, 0xe7, 0x5a, 0xc3}));
}

TEST(HypercallPage, stub_encodes_number_little_endian) {
    const auto page = make_page();
    EXPECT_EQ(slot(page, 29), padded({0xb8, 29, 0, 0, 0, 0xe7, 0x5a, 0xc3}));   // sched_op
    EXPECT_EQ(slot(page, 127), padded({0xb8, 127, 0, 0, 0, 0xe7, 0x5a, 0xc3}));
}

TEST(HypercallPage, iret_slot_is_ud2) {
    EXPECT_EQ(slot(make_page(), 23), padded({0x0f, 0x0b}));
}

TEST(HypercallPage, every_slot_except_iret_has_its_number) {
    const auto page = make_page();
    for (std::size_t nr = 0; nr < kHypercallStubCount; ++nr) {
        if (nr == 23) continue;
        EXPECT_EQ(slot(page, nr),
                  padded({0xb8, static_cast<std::uint8_t>(nr), 0, 0, 0, 0xe7, 0x5a, 0xc3}))
            << "slot " << nr;
    }
}

}  // namespace
}  // namespace xenolith::x86
