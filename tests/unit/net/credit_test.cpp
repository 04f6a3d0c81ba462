// The vif rate limiter (credit.hpp) on a fake clock, and its hook in
// Netback's tx path: a refused packet stays on the ring until the window.
#include <gtest/gtest.h>

#include <thread>

#include "backend/net/credit.hpp"
#include "net_front.hpp"

using namespace xenolith::backend;
using namespace xenolith::backend::net;
using namespace xenolith::backend::net::testing;
using namespace std::chrono_literals;

namespace {
const CreditLimiter::Clock::time_point t0{};
}

TEST(ParseRate, libxl_form_then_bytes_and_window) {
    auto r = parse_rate("125000,20000");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->bytes, 125000u);
    EXPECT_EQ(r->window, 20000us);
}

TEST(ParseRate, malformed_then_none) {
    for (const char* bad : {"", ",", "1,", ",1", "0,100", "100,0", "-1,5", "1 ,5", "1,5,", "a,b", "1,4294967296",
                            "99999999999999999999999,1", "+1,1"})
        EXPECT_FALSE(parse_rate(bad)) << bad;
}

TEST(CreditLimiter, within_credit_then_sent_beyond_then_waits_for_window) {
    CreditLimiter c({1000, 10ms}, t0);
    EXPECT_TRUE(c.take(600, t0));
    EXPECT_TRUE(c.take(400, t0 + 1ms));
    EXPECT_FALSE(c.take(1, t0 + 2ms));
    EXPECT_EQ(c.wait_ms(t0 + 2ms), 8);
    EXPECT_FALSE(c.take(1, t0 + 9ms));
    EXPECT_TRUE(c.take(1000, t0 + 10ms));
    EXPECT_EQ(c.refused(), 2u);
}

TEST(CreditLimiter, idle_windows_then_credit_not_saved_up) {
    CreditLimiter c({1000, 10ms}, t0);
    EXPECT_TRUE(c.take(1000, t0 + 100ms));
    EXPECT_FALSE(c.take(1000, t0 + 101ms));
}

TEST(CreditLimiter, packet_larger_than_window_then_once_per_window_on_full_credit) {
    CreditLimiter c({1000, 10ms}, t0);
    EXPECT_TRUE(c.take(5000, t0));        // full credit in hand
    EXPECT_FALSE(c.take(5000, t0 + 1ms));  // no more this window
    EXPECT_FALSE(c.take(1, t0 + 1ms));
    EXPECT_TRUE(c.take(5000, t0 + 10ms));
    // Partly used window: the big one waits for a fresh one.
    EXPECT_TRUE(c.take(10, t0 + 20ms));
    EXPECT_FALSE(c.take(5000, t0 + 21ms));
    EXPECT_TRUE(c.take(5000, t0 + 30ms));
}

TEST(CreditLimiter, long_run_then_average_holds) {
    CreditLimiter c({10000, 10ms}, t0);
    std::uint64_t sent = 0;
    for (int us = 0; us < 1'000'000; us += 100)
        while (c.take(1500, t0 + std::chrono::microseconds(us))) sent += 1500;
    // 1 s at 1 MB/s, plus at most the first window's credit.
    EXPECT_LE(sent, 1'000'000u + 10000u);
    EXPECT_GE(sent, 900'000u);
}

TEST(NetbackRate, refused_packet_when_credit_spent_then_left_on_ring_until_window) {
    NetFront g;
    CreditLimiter credit({100, 50ms}, CreditLimiter::Clock::now());
    g.start();
    // Restart the queue with the limiter (start() has no parameter for it).
    QueueConfig cfg;
    cfg.frontend = kFront;
    cfg.tx_ring_ref = kTxRingRef;
    cfg.rx_ring_ref = kRxRingRef;
    cfg.tx_port = cfg.rx_port = 1;
    cfg.tap_fd = g.back_end.get();
    cfg.tx_credit = &credit;
    g.netback.reset();
    auto n = Netback::create(cfg, g.gt, g.gt, g.be);
    ASSERT_TRUE(n);
    g.netback = std::move(*n);
    auto f = make_frame(false, false, 40);  // 82 bytes
    g.put(2, 0, f);
    g.put(3, 0, f);
    g.send({NetFront::req(2, 0, static_cast<std::uint16_t>(f.size()), 1),
            NetFront::req(3, 0, static_cast<std::uint16_t>(f.size()), 2)});
    EXPECT_TRUE(g.host_read());
    EXPECT_FALSE(g.host_read());
    EXPECT_EQ(g.tx_responses().size(), 1u);
    EXPECT_GE(g.netback->tx_deadline_ms(), 0);
    EXPECT_EQ(g.netback->stats().tx_rate_waits, 1u);
    auto start = std::chrono::steady_clock::now();
    while (!g.host_read()) {
        ASSERT_LT(std::chrono::steady_clock::now() - start, 2s);
        g.netback->poll_once(100);
    }
    EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
    EXPECT_EQ(g.tx_responses().size(), 1u);
    EXPECT_EQ(g.netback->tx_deadline_ms(), -1);
}

// Not the limiter's, but found with it: a queue that stops exactly at its
// budget with nothing left must still re-arm the ring's event index, or the
// front end's next request notifies no one and the queue stalls.
TEST(NetbackBudget, exactly_budget_packets_when_served_then_next_request_notifies) {
    NetFront g;
    g.start({}, -1, 2);
    auto f = make_frame(false, false, 32);
    for (std::size_t frame : {2, 3, 4}) g.put(frame, 0, f);
    const auto len = static_cast<std::uint16_t>(f.size());
    g.send({NetFront::req(2, 0, len, 1), NetFront::req(3, 0, len, 2)});
    EXPECT_EQ(g.netback->stats().tx_packets, 2u);
    EXPECT_FALSE(g.netback->more_work());
    g.tx->queue(NetFront::req(4, 0, len, 3));
    EXPECT_TRUE(g.tx->push_requests()) << "the front end's next request must notify";
    // rx: exactly a budget of buffers used up, then new ones posted notify.
    g.post_rx(2, 20);
    std::vector<std::byte> wire(kVnetHeaderSize, std::byte{0});
    wire.insert(wire.end(), f.begin(), f.end());
    for (int i = 0; i < 2; ++i) ASSERT_EQ(::send(g.host.get(), wire.data(), wire.size(), 0), static_cast<ssize_t>(wire.size()));
    g.netback->on_tap();
    EXPECT_EQ(g.netback->stats().rx_packets, 2u);
    netif_rx_request r{};
    r.id = 50;
    r.gref = 30;
    g.rx->queue(r);
    EXPECT_TRUE(g.rx->push_requests()) << "buffers posted next must notify";
}
