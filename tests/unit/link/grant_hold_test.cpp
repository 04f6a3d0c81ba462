// GrantHolder over the link and in-process: spans with offsets across
// several grants read into with readv and written out with writev, Xen's
// per-span codes (a bad span in the middle fails alone), GTF_reading /
// GTF_writing while held and gone after release, one round trip per batch.
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "backend/link/link_client.hpp"
#include "backend/link/local_link_provider.hpp"
#include "link_fixture.hpp"

namespace xenolith::backend::link::test {
namespace grant_hold_test {

constexpr DomId kHoldGuest = 6;

class GrantHoldTest : public ::testing::Test {
protected:
    LocalGrantTable table{kHoldGuest, 0, 64, 64};
    LocalLinkProvider provider{table};
    SocketPair sp;
    LinkServer server{sp.server, provider};
    ServerThread loop{server};
    std::unique_ptr<LinkClient> client;

    void SetUp() override {
        auto c = LinkClient::connect(sp.client);
        ASSERT_TRUE(c.ok()) << c.error().what;
        client = std::move(*c);
        loop.with([&] {
            table.grant(1, 3, false);
            table.grant(2, 7, false);
            table.grant(3, 9, false);
            table.grant(4, 11, true);
            return 0;
        });
    }
    std::size_t pins() { return loop.with([&] { return table.pins_held(); }); }
    std::uint16_t flags(GrantRef ref) { return loop.with([&] { return table.flags(ref); }); }
    bool released() { return loop.until([&] { return table.pins_held() == 0; }); }
};

std::vector<HeldSpan> spans_of(std::initializer_list<HeldSpan> l) { return std::vector<HeldSpan>(l); }

TEST_F(GrantHoldTest, writable_spans_with_offsets_when_readv_then_bytes_land_in_each_grant) {
    auto spans = spans_of({{1, 100, 50}, {2, 0, 4096}, {3, 4000, 96}});
    GrantHold hold;
    const auto trips = client->round_trips();
    client->holder().hold(kHoldGuest, spans, true, hold);
    EXPECT_EQ(client->round_trips() - trips, 1u);
    for (auto& s : spans) ASSERT_EQ(s.status, GNTST_okay);
    EXPECT_EQ(pins(), 3u);
    EXPECT_EQ(flags(2), GTF_permit_access | GTF_reading | GTF_writing);
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    std::vector<std::byte> msg(50 + 4096 + 96);
    for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = std::byte(i * 13 + 1);
    ASSERT_EQ(::write(sv[0], msg.data(), msg.size()), static_cast<ssize_t>(msg.size()));
    iovec iov[3];
    for (int i = 0; i < 3; ++i) iov[i] = iovec{spans[static_cast<std::size_t>(i)].data, spans[static_cast<std::size_t>(i)].len};
    ASSERT_EQ(::readv(sv[1], iov, 3), static_cast<ssize_t>(msg.size()));
    ::close(sv[0]);
    ::close(sv[1]);
    EXPECT_EQ(std::memcmp(table.page(3) + 100, msg.data(), 50), 0);
    EXPECT_EQ(std::memcmp(table.page(7), msg.data() + 50, 4096), 0);
    EXPECT_EQ(std::memcmp(table.page(9) + 4000, msg.data() + 50 + 4096, 96), 0);
    hold.release();
    ASSERT_TRUE(released());
    EXPECT_EQ(flags(2), GTF_permit_access);
}

TEST_F(GrantHoldTest, readable_spans_when_writev_then_guest_bytes_go_out_and_reading_marked) {
    std::memset(table.page(3), 0x5a, kXenPageSize);
    std::memset(table.page(11), 0xa5, kXenPageSize);
    auto spans = spans_of({{1, 10, 20}, {4, 4090, 6}});  // a read-only grant may be read
    GrantHold hold;
    client->holder().hold(kHoldGuest, spans, false, hold);
    ASSERT_EQ(spans[0].status, GNTST_okay);
    ASSERT_EQ(spans[1].status, GNTST_okay);
    EXPECT_EQ(flags(4), GTF_permit_access | GTF_readonly | GTF_reading);
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    iovec iov[2] = {{spans[0].data, 20}, {spans[1].data, 6}};
    ASSERT_EQ(::writev(sv[0], iov, 2), 26);
    std::byte got[64];
    ASSERT_EQ(::read(sv[1], got, sizeof got), 26);
    ::close(sv[0]);
    ::close(sv[1]);
    EXPECT_EQ(got[0], std::byte{0x5a});
    EXPECT_EQ(got[25], std::byte{0xa5});
    hold.release();
    ASSERT_TRUE(released());
    EXPECT_EQ(flags(4), GTF_permit_access | GTF_readonly);
}

TEST_F(GrantHoldTest, bad_spans_in_the_middle_fail_alone_with_xens_codes_same_as_in_process) {
    auto make = [] {
        return spans_of({{1, 0, 8},       // fine
                         {4, 0, 8},       // read-only, held for writing
                         {20, 0, 8},      // never granted
                         {500, 0, 8},     // past the table
                         {2, 4090, 16},   // past the page
                         {3, 0, 8}});     // fine
    };
    auto spans = make();
    GrantHold hold;
    client->holder().hold(kHoldGuest, spans, true, hold);
    const std::int16_t want[] = {GNTST_okay,      GNTST_general_error, GNTST_general_error,
                                 GNTST_bad_gntref, GNTST_bad_copy_arg, GNTST_okay};
    for (std::size_t i = 0; i < spans.size(); ++i) {
        EXPECT_EQ(spans[i].status, want[i]) << i;
        EXPECT_EQ(spans[i].data == nullptr, want[i] != GNTST_okay) << i;
    }
    EXPECT_EQ(pins(), 2u);
    hold.release();
    ASSERT_TRUE(released());
    // The in-process table judges alike.
    auto local = make();
    GrantHold local_hold;
    loop.with([&] {
        table.hold(kHoldGuest, local, true, local_hold);
        return 0;
    });
    for (std::size_t i = 0; i < local.size(); ++i) EXPECT_EQ(local[i].status, want[i]) << i;
    loop.with([&] {
        local_hold.release();
        return 0;
    });
    EXPECT_EQ(pins(), 0u);
}

TEST_F(GrantHoldTest, another_domain_then_bad_domain_nothing_held) {
    auto spans = spans_of({{1, 0, 8}, {2, 0, 8}});
    GrantHold hold;
    client->holder().hold(kHoldGuest + 1, spans, false, hold);
    EXPECT_EQ(spans[0].status, GNTST_bad_domain);
    EXPECT_EQ(spans[1].status, GNTST_bad_domain);
    EXPECT_TRUE(hold.empty());
    EXPECT_EQ(pins(), 0u);
}

TEST_F(GrantHoldTest, more_spans_than_one_message_then_split_and_all_given_back) {
    std::vector<HeldSpan> spans(kMaxCopyBatch + 44);
    for (std::size_t i = 0; i < spans.size(); ++i) spans[i] = HeldSpan{1 + static_cast<GrantRef>(i % 3), 0, 64};
    GrantHold hold;
    const auto trips = client->round_trips();
    client->holder().hold(kHoldGuest, spans, false, hold);
    EXPECT_EQ(client->round_trips() - trips, 2u);
    for (auto& s : spans) ASSERT_EQ(s.status, GNTST_okay);
    EXPECT_EQ(pins(), spans.size());
    hold.release();
    EXPECT_TRUE(released());
}

}  // namespace grant_hold_test
}  // namespace xenolith::backend::link::test
