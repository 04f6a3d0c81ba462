#include <gtest/gtest.h>

#include "backend/net/xenbus_keys.hpp"
#include "fake_xenstore.hpp"

using namespace xenolith::backend;
using namespace xenolith::backend::net;
using xenolith::backend::testing::FakeXenstore;

namespace {
const std::string kFe = "/local/domain/7/device/vif/0";
const std::string kBe = "/local/domain/0/backend/vif/7/0";

void linux_front_end(FakeXenstore& xs) {
    xs.nodes[kFe + "/tx-ring-ref"] = "8";
    xs.nodes[kFe + "/rx-ring-ref"] = "9";
    xs.nodes[kFe + "/event-channel"] = "17";
    xs.nodes[kFe + "/request-rx-copy"] = "1";
    xs.nodes[kFe + "/feature-rx-notify"] = "1";
    xs.nodes[kFe + "/feature-sg"] = "1";
    xs.nodes[kFe + "/feature-gso-tcpv4"] = "1";
    xs.nodes[kFe + "/feature-gso-tcpv6"] = "1";
    xs.nodes[kFe + "/feature-ipv6-csum-offload"] = "1";
}
}  // namespace

TEST(NetXenbusKeys, offer_when_written_then_feature_keys_present) {
    FakeXenstore xs;
    ASSERT_EQ(write_offer(xs, 0, kBe, Offer{}), 0);
    EXPECT_EQ(xs.nodes[kBe + "/feature-sg"], "1");
    EXPECT_EQ(xs.nodes[kBe + "/feature-gso-tcpv4"], "1");
    EXPECT_EQ(xs.nodes[kBe + "/feature-gso-tcpv6"], "1");
    EXPECT_EQ(xs.nodes[kBe + "/feature-ipv6-csum-offload"], "1");
    EXPECT_EQ(xs.nodes[kBe + "/feature-no-csum-offload"], "0");
    EXPECT_EQ(xs.nodes[kBe + "/feature-rx-copy"], "1");
    EXPECT_EQ(xs.nodes[kBe + "/feature-rx-flip"], "0");
    EXPECT_EQ(xs.nodes[kBe + "/feature-multicast-control"], "0");
    EXPECT_EQ(xs.nodes[kBe + "/feature-split-event-channels"], "1");
    EXPECT_EQ(xs.nodes[kBe + "/multi-queue-max-queues"], "8");
}

TEST(NetXenbusKeys, offer_without_csum_offload_then_no_csum_and_no_gso) {
    FakeXenstore xs;
    Offer o;
    o.csum_offload = false;
    ASSERT_EQ(write_offer(xs, 0, kBe, o), 0);
    EXPECT_EQ(xs.nodes[kBe + "/feature-no-csum-offload"], "1");
    EXPECT_EQ(xs.nodes[kBe + "/feature-gso-tcpv4"], "0");
    EXPECT_EQ(xs.nodes[kBe + "/feature-ipv6-csum-offload"], "0");
}

TEST(NetXenbusKeys, linux_single_queue_front_end_then_rings_and_features) {
    FakeXenstore xs;
    linux_front_end(xs);
    auto n = read_frontend(xs, kFe, Offer{});
    ASSERT_TRUE(n) << n.error().what;
    ASSERT_EQ(n->queues.size(), 1u);
    EXPECT_EQ(n->queues[0].tx_ring_ref, 8u);
    EXPECT_EQ(n->queues[0].rx_ring_ref, 9u);
    EXPECT_EQ(n->queues[0].tx_event_channel, 17u);
    EXPECT_EQ(n->queues[0].rx_event_channel, 17u);
    EXPECT_FALSE(n->queues[0].split);
    EXPECT_TRUE(n->features.sg && n->features.gso_tcpv4 && n->features.gso_tcpv6);
    EXPECT_TRUE(n->features.csum && n->features.ipv6_csum);
}

TEST(NetXenbusKeys, multi_queue_split_channels_then_queue_dirs_read) {
    FakeXenstore xs;
    linux_front_end(xs);
    xs.nodes[kFe + "/multi-queue-num-queues"] = "2";
    for (int q = 0; q < 2; ++q) {
        std::string d = kFe + "/queue-" + std::to_string(q);
        xs.nodes[d + "/tx-ring-ref"] = std::to_string(10 + q);
        xs.nodes[d + "/rx-ring-ref"] = std::to_string(20 + q);
        xs.nodes[d + "/event-channel-tx"] = std::to_string(30 + q);
        xs.nodes[d + "/event-channel-rx"] = std::to_string(40 + q);
    }
    auto n = read_frontend(xs, kFe, Offer{});
    ASSERT_TRUE(n) << n.error().what;
    ASSERT_EQ(n->queues.size(), 2u);
    EXPECT_EQ(n->queues[1].tx_ring_ref, 11u);
    EXPECT_EQ(n->queues[1].rx_ring_ref, 21u);
    EXPECT_EQ(n->queues[1].tx_event_channel, 31u);
    EXPECT_EQ(n->queues[1].rx_event_channel, 41u);
    EXPECT_TRUE(n->queues[1].split);
}

TEST(NetXenbusKeys, one_queue_asked_for_then_top_level_keys) {
    FakeXenstore xs;
    linux_front_end(xs);
    xs.nodes[kFe + "/multi-queue-num-queues"] = "1";
    auto n = read_frontend(xs, kFe, Offer{});
    ASSERT_TRUE(n) << n.error().what;
    EXPECT_EQ(n->queues.at(0).tx_ring_ref, 8u);
}

TEST(NetXenbusKeys, no_csum_offload_and_no_sg_then_gso_off) {
    FakeXenstore xs;
    linux_front_end(xs);
    xs.nodes[kFe + "/feature-sg"] = "0";
    xs.nodes[kFe + "/feature-no-csum-offload"] = "1";
    xs.nodes[kFe + "/feature-ipv6-csum-offload"] = "yes";  // malformed: 0
    auto n = read_frontend(xs, kFe, Offer{});
    ASSERT_TRUE(n);
    EXPECT_FALSE(n->features.gso_tcpv4 || n->features.gso_tcpv6 || n->features.csum || n->features.ipv6_csum);
}

// Each bad answer is refused with a message naming its key.
TEST(NetXenbusKeys, hostile_answers_then_error_names_key) {
    struct Case { std::string key, value, named; };
    std::vector<Case> cases = {
        {"tx-ring-ref", "", "tx-ring-ref"},
        {"rx-ring-ref", "-1", "rx-ring-ref"},
        {"event-channel", "17 ", "event-channel"},
        {"tx-ring-ref", "99999999999", "tx-ring-ref"},
        {"request-rx-copy", "0", "request-rx-copy"},
        {"feature-rx-notify", "0", "feature-rx-notify"},
        {"multi-queue-num-queues", "9", "multi-queue-num-queues"},
        {"multi-queue-num-queues", "0", "multi-queue-num-queues"},
        {"multi-queue-num-queues", "x", "multi-queue-num-queues"},
        {"multi-queue-num-queues", "2", "queue-0/tx-ring-ref"},
        {"event-channel-tx", "5", "event-channel-rx"},
    };
    for (const Case& c : cases) {
        FakeXenstore xs;
        linux_front_end(xs);
        xs.nodes[kFe + "/" + c.key] = c.value;
        auto n = read_frontend(xs, kFe, Offer{});
        ASSERT_FALSE(n) << c.key << "=" << c.value;
        EXPECT_NE(n.error().what.find(c.named), std::string::npos) << n.error().what;
    }
    FakeXenstore xs;
    linux_front_end(xs);
    xs.nodes.erase(kFe + "/request-rx-copy");
    auto n = read_frontend(xs, kFe, Offer{});
    ASSERT_FALSE(n);
    EXPECT_NE(n.error().what.find("request-rx-copy"), std::string::npos);
}

TEST(NetXenbusKeys, split_channels_not_offered_then_single_channel_used) {
    FakeXenstore xs;
    linux_front_end(xs);
    xs.nodes[kFe + "/event-channel-tx"] = "5";
    xs.nodes[kFe + "/event-channel-rx"] = "6";
    Offer o;
    o.split_event_channels = false;
    auto n = read_frontend(xs, kFe, o);
    ASSERT_TRUE(n);
    EXPECT_EQ(n->queues[0].tx_event_channel, 17u);
    EXPECT_FALSE(n->queues[0].split);
}
