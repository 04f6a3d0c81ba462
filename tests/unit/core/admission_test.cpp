#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "daemon/admission.hpp"

namespace xenolith::daemon {
namespace {

constexpr std::uint64_t kGiB = 1024 * 1024;  // in KiB

TEST(MemoryAdmission, a_guest_larger_than_the_host_is_refused_with_the_figures) {
    MemoryAdmission a(24 * kGiB);
    auto t = a.admit("huge", 1024 * kGiB, 0);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.error().what,
              "cannot allocate memory for domain 'huge': it needs 1050880 MiB (maxmem and "
              "KVM's metadata), and 24576 MiB of the host's 24576 MiB are not promised to "
              "other domains");
}

TEST(MemoryAdmission, memory_promised_to_existing_domains_counts) {
    MemoryAdmission a(24 * kGiB);
    EXPECT_TRUE(a.admit("a", 14 * kGiB, 0).ok());
    EXPECT_FALSE(a.admit("b", 14 * kGiB, promised_kib(14 * kGiB)).ok());
    EXPECT_TRUE(a.admit("b", 9 * kGiB, promised_kib(14 * kGiB)).ok());
}

TEST(MemoryAdmission, creates_in_progress_hold_their_share_until_done) {
    MemoryAdmission a(24 * kGiB);
    {
        auto first = a.admit("a", 14 * kGiB, 0);
        ASSERT_TRUE(first.ok());
        EXPECT_FALSE(a.admit("b", 14 * kGiB, 0).ok());  // racing the first
        EXPECT_EQ(a.in_flight_kib(), promised_kib(14 * kGiB));
    }
    EXPECT_EQ(a.in_flight_kib(), 0u);
    EXPECT_TRUE(a.admit("b", 14 * kGiB, 0).ok());
}

TEST(MemoryAdmission, parallel_creates_never_overcommit) {
    MemoryAdmission a(16 * kGiB);
    std::atomic<int> admitted{0};
    std::vector<std::thread> threads;
    std::vector<MemoryAdmission::Ticket> held(8);
    std::mutex mu;
    for (int i = 0; i < 8; ++i)
        threads.emplace_back([&] {
            auto t = a.admit("p", 3 * kGiB, 0);
            if (!t.ok()) return;
            ++admitted;
            std::lock_guard lock(mu);
            held.push_back(std::move(*t));
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(admitted.load(), 5);  // 5 x (3 GiB + metadata) <= 16 GiB < 6 x
}

TEST(MemoryAdmission, slot_metadata_is_counted) {
    EXPECT_EQ(promised_kib(1024 * kGiB), 1024 * kGiB + 2304 * 1024);  // +2.25 GiB per TiB
}

}  // namespace
}  // namespace xenolith::daemon
