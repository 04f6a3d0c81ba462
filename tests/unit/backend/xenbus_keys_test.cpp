#include <gtest/gtest.h>

#include "backend/blk/xenbus_keys.hpp"
#include "fake_xenstore.hpp"

using namespace xenolith::backend;
using namespace xenolith::backend::blk;
using xenolith::backend::testing::FakeXenstore;

namespace {
const std::string kFe = "/local/domain/5/device/vbd/51712";
const std::string kBe = "/local/domain/0/backend/vbd/5/51712";
}  // namespace

TEST(BlkXenbusKeys, offer_when_written_then_linux_feature_keys_present) {
    FakeXenstore xs;
    ASSERT_EQ(write_offer(xs, 0, kBe, Offer{}), 0);
    EXPECT_EQ(xs.nodes[kBe + "/feature-flush-cache"], "1");
    EXPECT_EQ(xs.nodes[kBe + "/feature-barrier"], "1");
    EXPECT_EQ(xs.nodes[kBe + "/feature-discard"], "1");
    EXPECT_EQ(xs.nodes[kBe + "/discard-secure"], "0");
    EXPECT_EQ(xs.nodes[kBe + "/feature-max-indirect-segments"], "256");
    EXPECT_EQ(xs.nodes[kBe + "/feature-persistent"], "1");
    EXPECT_EQ(xs.nodes[kBe + "/max-ring-page-order"], "4");
    EXPECT_FALSE(xs.nodes.contains(kBe + "/multi-queue-max-queues"));  // one queue: not offered
    Offer four;
    four.max_queues = 4;
    ASSERT_EQ(write_offer(xs, 0, kBe, four), 0);
    EXPECT_EQ(xs.nodes[kBe + "/multi-queue-max-queues"], "4");
}

TEST(BlkXenbusKeys, default_max_queues_when_asked_then_cpus_capped_at_four) {
    unsigned n = default_max_queues();
    EXPECT_GE(n, 1u);
    EXPECT_LE(n, 4u);
}

TEST(BlkXenbusKeys, multi_queue_front_end_when_read_then_per_queue_refs_and_ports) {
    FakeXenstore xs;
    xs.nodes[kFe + "/multi-queue-num-queues"] = "3";
    xs.nodes[kFe + "/ring-page-order"] = "1";
    for (int q = 0; q < 3; ++q) {
        std::string dir = kFe + "/queue-" + std::to_string(q);
        xs.nodes[dir + "/ring-ref0"] = std::to_string(10 * q);
        xs.nodes[dir + "/ring-ref1"] = std::to_string(10 * q + 1);
        xs.nodes[dir + "/event-channel"] = std::to_string(20 + q);
    }
    Offer offer;
    offer.max_queues = 4;
    auto r = read_frontend_ring(xs, kFe, offer);
    ASSERT_TRUE(r) << r.error().what;
    ASSERT_EQ(r->queues.size(), 3u);
    for (unsigned q = 0; q < 3; ++q) {
        EXPECT_EQ(r->queues[q].ring_refs, (std::vector<GrantRef>{10 * q, 10 * q + 1}));
        EXPECT_EQ(r->queues[q].event_channel, 20 + q);
    }
}

TEST(BlkXenbusKeys, one_queue_asked_when_read_then_flat_keys) {
    FakeXenstore xs;
    xs.nodes[kFe + "/multi-queue-num-queues"] = "1";
    xs.nodes[kFe + "/ring-ref"] = "8";
    xs.nodes[kFe + "/event-channel"] = "17";
    xs.nodes[kFe + "/queue-0/ring-ref"] = "99";  // ignored with one queue, as Linux
    Offer offer;
    offer.max_queues = 4;
    auto r = read_frontend_ring(xs, kFe, offer);
    ASSERT_TRUE(r) << r.error().what;
    ASSERT_EQ(r->queues.size(), 1u);
    EXPECT_EQ(r->queues[0].ring_refs, std::vector<GrantRef>{8});
}

TEST(BlkXenbusKeys, hostile_num_queues_when_read_then_refused_naming_the_key) {
    Offer offer;
    offer.max_queues = 4;
    auto refused = [&](std::map<std::string, std::string> keys, const std::string& key) {
        FakeXenstore xs;
        for (auto& [k, v] : keys) xs.nodes[kFe + "/" + k] = v;
        auto r = read_frontend_ring(xs, kFe, offer);
        if (r) return ::testing::AssertionFailure() << "accepted";
        if (r.error().what.find(key) == std::string::npos)
            return ::testing::AssertionFailure() << r.error().what;
        return ::testing::AssertionSuccess();
    };
    for (const char* bad : {"0", "5", "4294967295", "x", "", "-1", " 2", "2 "})
        EXPECT_TRUE(refused({{"multi-queue-num-queues", bad}, {"ring-ref", "8"}, {"event-channel", "1"}},
                            "multi-queue-num-queues")) << bad;
    // Two queues: the flat keys do not count, each queue's own are needed.
    EXPECT_TRUE(refused({{"multi-queue-num-queues", "2"}, {"ring-ref", "8"}, {"event-channel", "1"}},
                        "queue-0/ring-ref"));
    EXPECT_TRUE(refused({{"multi-queue-num-queues", "2"},
                         {"queue-0/ring-ref", "8"}, {"queue-0/event-channel", "1"},
                         {"queue-1/ring-ref", "9"}},
                        "queue-1/event-channel"));
    EXPECT_TRUE(refused({{"multi-queue-num-queues", "2"}, {"ring-page-order", "1"},
                         {"queue-0/ring-ref0", "8"}, {"queue-0/ring-ref1", "9"}, {"queue-0/event-channel", "1"},
                         {"queue-1/ring-ref0", "10"}, {"queue-1/event-channel", "2"}},
                        "queue-1/ring-ref1"));
    // Without an offer above one, any num-queues above one is refused.
    FakeXenstore xs;
    xs.nodes[kFe + "/multi-queue-num-queues"] = "2";
    EXPECT_FALSE(read_frontend_ring(xs, kFe, Offer{}));
}

TEST(BlkXenbusKeys, single_page_front_end_when_read_then_ring_ref_port_and_native) {
    FakeXenstore xs;
    xs.nodes[kFe + "/ring-ref"] = "8";
    xs.nodes[kFe + "/event-channel"] = "17";
    auto r = read_frontend_ring(xs, kFe, Offer{});
    ASSERT_TRUE(r) << r.error().what;
    ASSERT_EQ(r->queues.size(), 1u);
    EXPECT_EQ(r->queues[0].ring_refs, std::vector<GrantRef>{8});
    EXPECT_EQ(r->queues[0].event_channel, 17u);
    EXPECT_EQ(r->abi, Abi::native);
    EXPECT_FALSE(r->persistent);
}

TEST(BlkXenbusKeys, multi_page_x86_32_front_end_when_read_then_every_ring_ref) {
    FakeXenstore xs;
    xs.nodes[kFe + "/ring-page-order"] = "2";
    for (int i = 0; i < 4; ++i) xs.nodes[kFe + "/ring-ref" + std::to_string(i)] = std::to_string(100 + i);
    xs.nodes[kFe + "/event-channel"] = "3";
    xs.nodes[kFe + "/protocol"] = "x86_32-abi";
    xs.nodes[kFe + "/feature-persistent"] = "1";
    auto r = read_frontend_ring(xs, kFe, Offer{});
    ASSERT_TRUE(r) << r.error().what;
    EXPECT_EQ(r->queues[0].ring_refs, (std::vector<GrantRef>{100, 101, 102, 103}));
    EXPECT_EQ(r->abi, Abi::x86_32);
    EXPECT_TRUE(r->persistent);
    Offer no_persistent;
    no_persistent.persistent = false;
    EXPECT_FALSE(read_frontend_ring(xs, kFe, no_persistent)->persistent);
}

TEST(BlkXenbusKeys, hostile_front_end_keys_when_read_then_refused_naming_the_key) {
    auto refused = [](std::map<std::string, std::string> keys, const std::string& key) {
        FakeXenstore xs;
        for (auto& [k, v] : keys) xs.nodes[kFe + "/" + k] = v;
        auto r = read_frontend_ring(xs, kFe, Offer{});
        if (r) return ::testing::AssertionFailure() << "accepted";
        if (r.error().what.find(key) == std::string::npos)
            return ::testing::AssertionFailure() << r.error().what;
        return ::testing::AssertionSuccess();
    };
    EXPECT_TRUE(refused({{"event-channel", "1"}}, "ring-ref"));
    EXPECT_TRUE(refused({{"ring-ref", "-1"}, {"event-channel", "1"}}, "ring-ref"));
    EXPECT_TRUE(refused({{"ring-ref", " 8"}, {"event-channel", "1"}}, "ring-ref"));
    EXPECT_TRUE(refused({{"ring-ref", "4294967296"}, {"event-channel", "1"}}, "ring-ref"));
    EXPECT_TRUE(refused({{"ring-ref", "8"}}, "event-channel"));
    EXPECT_TRUE(refused({{"ring-ref", "8"}, {"event-channel", "0x10"}}, "event-channel"));
    EXPECT_TRUE(refused({{"ring-page-order", "5"}, {"event-channel", "1"}}, "ring-page-order"));
    EXPECT_TRUE(refused({{"ring-page-order", "1"}, {"ring-ref0", "1"}, {"event-channel", "1"}}, "ring-ref1"));
    EXPECT_TRUE(refused({{"ring-ref", "8"}, {"event-channel", "1"}, {"protocol", "arm-abi"}}, "protocol"));
}
