#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "backend/blk/ring.hpp"

using namespace xenolith::backend;
using namespace xenolith::backend::blk;

namespace {
struct Page {
    alignas(4096) std::byte bytes[4096 * 2];
};
std::uint32_t& req_prod(Page& p) { return *reinterpret_cast<std::uint32_t*>(p.bytes); }
}  // namespace

TEST(BlkifRing, requests_when_pushed_then_taken_in_order_and_answered) {
    Page page{};
    FrontRing front(page.bytes, 1, Abi::native);
    BackRing back(page.bytes, 1, Abi::native);
    for (std::uint64_t i = 0; i < 3; ++i) {
        Request r;
        r.operation = BLKIF_OP_READ;
        r.id = i;
        front.queue(r);
    }
    EXPECT_TRUE(front.push_requests());  // req_event was 1: the back end wants a kick
    for (std::uint64_t i = 0; i < 3; ++i) {
        auto r = back.next();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->id, i);
        back.respond(r->id, r->operation, BLKIF_RSP_OKAY);
    }
    EXPECT_FALSE(back.next());
    EXPECT_FALSE(back.final_check_for_requests());
    EXPECT_TRUE(back.push_responses());
    for (std::uint64_t i = 0; i < 3; ++i) EXPECT_EQ(front.next_response()->id, i);
    EXPECT_FALSE(front.final_check_for_responses());
}

TEST(BlkifRing, notification_when_back_end_did_not_ask_then_suppressed) {
    Page page{};
    FrontRing front(page.bytes, 1, Abi::native);
    BackRing back(page.bytes, 1, Abi::native);
    Request r;
    front.queue(r);
    EXPECT_TRUE(front.push_requests());
    ASSERT_TRUE(back.next());
    // The back end has not re-armed req_event: a second request needs no kick.
    front.queue(r);
    EXPECT_FALSE(front.push_requests());
}

TEST(BlkifRing, req_prod_when_more_than_a_ring_ahead_then_ring_broken_for_good) {
    Page page{};
    FrontRing front(page.bytes, 1, Abi::native);
    BackRing back(page.bytes, 1, Abi::native);
    req_prod(page) = 33;
    EXPECT_FALSE(back.next());
    EXPECT_TRUE(back.broken());
    req_prod(page) = 1;  // lying back does not revive it
    EXPECT_FALSE(back.next());
    EXPECT_FALSE(back.final_check_for_requests());
}

TEST(BlkifRing, req_prod_when_wrapped_below_consumer_then_ring_broken) {
    Page page{};
    FrontRing front(page.bytes, 1, Abi::native);
    BackRing back(page.bytes, 1, Abi::native);
    req_prod(page) = 0xffffffffu;  // "behind" the consumer: a huge distance
    EXPECT_FALSE(back.next());
    EXPECT_TRUE(back.broken());
}

TEST(BlkifRing, ring_when_full_of_unanswered_requests_then_nothing_more_taken) {
    Page page{};
    FrontRing front(page.bytes, 1, Abi::native);
    BackRing back(page.bytes, 1, Abi::native);
    req_prod(page) = 32;
    for (int i = 0; i < 32; ++i) ASSERT_TRUE(back.next());
    EXPECT_FALSE(back.next());
    EXPECT_FALSE(back.broken());
    EXPECT_EQ(back.outstanding(), 32u);
    back.respond(0, 0, 0);
    back.push_responses();
    req_prod(page) = 33;
    EXPECT_TRUE(back.next());
}

TEST(BlkifRing, two_page_ring_when_x86_32_then_64_slots_of_108_bytes) {
    Page page{};
    FrontRing front(page.bytes, 2, Abi::x86_32);
    BackRing back(page.bytes, 2, Abi::x86_32);
    EXPECT_EQ(back.size(), 64u);
    for (std::uint64_t i = 0; i < 64; ++i) {
        Request r;
        r.operation = BLKIF_OP_WRITE;
        r.id = i * 3;
        front.queue(r);
    }
    front.push_requests();
    for (std::uint64_t i = 0; i < 64; ++i) EXPECT_EQ(back.next()->id, i * 3);
}
