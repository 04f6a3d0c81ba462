// The provider over a xenolithd domain, without KVM: a real GrantTable and
// memfd-backed GuestMemory (the grant tests' TestDomain), real event-channel
// tables (the core tests' fakes), a LinkServer and an in-process client.
#include <poll.h>

#include <cstring>
#include <vector>

#include "backend/link/domain_link_provider.hpp"
#include "backend/link/link_client.hpp"
#include "fake_target.hpp"
#include "grant_fixture.hpp"
#include "link_fixture.hpp"

namespace xenolith::backend::link::test {
namespace {

using grant::test::kDataGfn;
constexpr domid_t kProviderGuest = 7;
constexpr domid_t kSelf = 0;

class DomainLinkTest : public ::testing::Test {
protected:
    grant::test::Domains domains;
    grant::test::TestDomain& guest = domains.add(kProviderGuest);
    xenolith::test::FakeTarget target{kProviderGuest};
    xenolith::test::FakeDomains evtchn_domains;
    std::shared_ptr<evtchn::EventChannels> host = evtchn_domains.add(0, nullptr);
    std::shared_ptr<evtchn::EventChannels> guest_ev = evtchn_domains.add(kProviderGuest, &target);
    std::unique_ptr<DomainLinkProvider> provider;
    std::unique_ptr<LinkServer> server;
    std::unique_ptr<ServerThread> loop;
    std::unique_ptr<LinkClient> client;
    SocketPair sp;

    void SetUp() override { start(1); }
    void TearDown() override {
        client.reset();
        if (loop) loop->until([&] { return !server->connected(); });
        loop.reset();
    }
    void start(unsigned maptrack_frames) {
        auto p = DomainLinkProvider::create(kSelf, kProviderGuest, domains.lookup(), maptrack_frames, *host, guest_ev);
        ASSERT_TRUE(p.ok()) << p.error().what;
        provider = std::move(*p);
        server = std::make_unique<LinkServer>(sp.server, *provider);
        loop = std::make_unique<ServerThread>(*server);
        auto c = LinkClient::connect(sp.client);
        ASSERT_TRUE(c.ok()) << c.error().what;
        client = std::move(*c);
    }
    std::uint16_t flags(grant_ref_t r) { return loop->with([&] { return guest.flags(r); }); }
    bool unpinned() { return loop->until([&] { return !guest.table.any_pinned(); }); }
};

TEST_F(DomainLinkTest, unknown_front_end_is_refused) {
    auto p = DomainLinkProvider::create(kSelf, 99, domains.lookup(), 1, *host, guest_ev);
    EXPECT_FALSE(p.ok());
}

TEST_F(DomainLinkTest, maps_the_guests_page_with_xens_flags) {
    guest.grant(10, kSelf, kDataGfn, GTF_permit_access | GTF_readonly);
    guest.grant(11, kSelf, kDataGfn + 1, GTF_permit_access);
    std::memset(guest.page(kDataGfn), 0x5a, kXenPageSize);
    EXPECT_EQ(client->frontend(), kProviderGuest);
    {
        auto [m, st] = client->grants().map(kProviderGuest, std::vector<GrantRef>{10, 11}, false);
        ASSERT_EQ(st, GNTST_okay);
        EXPECT_EQ(m.data()[5], std::byte{0x5a});
        EXPECT_EQ(flags(10), GTF_permit_access | GTF_readonly | GTF_reading);
        EXPECT_EQ(flags(11), GTF_permit_access | GTF_reading);
        EXPECT_EQ(loop->with([&] { return guest.mem->frame_holds(kDataGfn); }), 1u);
        EXPECT_FALSE(guest.end_access(11)) << "mapped: the guest cannot take it back";
    }
    ASSERT_TRUE(unpinned());
    EXPECT_EQ(flags(10), GTF_permit_access | GTF_readonly);
    EXPECT_EQ(loop->with([&] { return provider->nr_mapped(); }), 0u);
    {
        auto [m, st] = client->grants().map(kProviderGuest, std::vector<GrantRef>{11}, true);
        ASSERT_EQ(st, GNTST_okay);
        m.data()[3] = std::byte{0x42};
        EXPECT_EQ(guest.page(kDataGfn + 1)[3], 0x42);
        EXPECT_EQ(flags(11), GTF_permit_access | GTF_reading | GTF_writing);
    }
    ASSERT_TRUE(unpinned());
    EXPECT_TRUE(guest.end_access(11));
}

TEST_F(DomainLinkTest, failures_are_xens_and_all_or_nothing) {
    guest.grant(10, kSelf, kDataGfn, GTF_permit_access);
    guest.grant(11, kSelf, kDataGfn, GTF_permit_access | GTF_readonly);
    guest.grant(12, kSelf + 1, kDataGfn, GTF_permit_access);
    auto code = [&](DomId d, std::vector<GrantRef> refs, bool w) {
        return client->grants().map(d, refs, w).second;
    };
    EXPECT_EQ(code(kProviderGuest, {10, 11}, true), GNTST_general_error);
    EXPECT_EQ(code(kProviderGuest, {10, 12}, false), GNTST_general_error);
    EXPECT_EQ(code(kProviderGuest, {10, 100000}, false), GNTST_bad_gntref);
    EXPECT_EQ(code(kProviderGuest + 1, {10}, false), GNTST_bad_domain);
    EXPECT_FALSE(loop->with([&] { return guest.table.any_pinned(); }));
    EXPECT_EQ(flags(10), GTF_permit_access);
}

TEST_F(DomainLinkTest, maptrack_limit_bounds_the_back_end) {
    // One maptrack frame: 256 handles.
    // (Distinct refs: one entry's pin counter stops at 127, as Xen's.)
    std::vector<GrantRef> refs;
    for (grant_ref_t r = 10; r < 10 + 256; ++r) {
        guest.grant(r, kSelf, kDataGfn + r % 8, GTF_permit_access);
        refs.push_back(r);
    }
    auto [m, st] = client->grants().map(kProviderGuest, refs, false);
    ASSERT_EQ(st, GNTST_okay);
    EXPECT_EQ(client->grants().map(kProviderGuest, std::vector<GrantRef>{10}, false).second, GNTST_no_space);
    m.reset();
    ASSERT_TRUE(unpinned());
    EXPECT_EQ(client->grants().map(kProviderGuest, std::vector<GrantRef>{10}, false).second, GNTST_okay);
}

TEST_F(DomainLinkTest, copies_follow_acquire_grant_for_copy) {
    guest.use_v2();
    guest.grant(10, kSelf, kDataGfn, GTF_permit_access);
    guest.grant(11, kSelf, kDataGfn + 1, GTF_permit_access | GTF_readonly);
    guest.grant_sub_page(12, kSelf, kDataGfn + 2, 100, 50, GTF_permit_access);
    std::memset(guest.page(kDataGfn + 2), 0x1c, kXenPageSize);
    std::byte buf[64]{};
    std::byte src[8];
    std::memset(src, 0x7e, sizeof src);
    CopyOp ops[5];
    ops[0].source = {false, 0, 0, 0, src};
    ops[0].dest = {true, kProviderGuest, 10, 8, nullptr};
    ops[0].len = 8;
    ops[1].source = {false, 0, 0, 0, src};
    ops[1].dest = {true, kProviderGuest, 11, 0, nullptr};  // read-only grant
    ops[1].len = 8;
    ops[2].source = {true, kProviderGuest, 12, 110, nullptr};  // inside the sub-page
    ops[2].dest = {false, 0, 0, 0, buf};
    ops[2].len = 20;
    ops[3].source = {true, kProviderGuest, 12, 140, nullptr};  // past its end
    ops[3].dest = {false, 0, 0, 0, buf};
    ops[3].len = 20;
    ops[4].source = {true, kProviderGuest, 10, 4095, nullptr};
    ops[4].dest = {false, 0, 0, 0, buf};
    ops[4].len = 2;
    client->grants().copy(ops);
    EXPECT_EQ(ops[0].status, GNTST_okay);
    EXPECT_EQ(guest.page(kDataGfn)[8], 0x7e);
    EXPECT_EQ(ops[1].status, GNTST_general_error);
    EXPECT_EQ(ops[2].status, GNTST_okay);
    EXPECT_EQ(buf[19], std::byte{0x1c});
    EXPECT_EQ(ops[3].status, GNTST_general_error);
    EXPECT_EQ(ops[4].status, GNTST_bad_copy_arg);
    ASSERT_TRUE(unpinned());
    EXPECT_EQ(loop->with([&] { return guest.status_flags(10); }), 0);
}

TEST_F(DomainLinkTest, destroyed_front_end_refuses_new_maps_and_copies_but_keeps_mapped_memory) {
    guest.grant(10, kSelf, kDataGfn, GTF_permit_access);
    auto [m, st] = client->grants().map(kProviderGuest, std::vector<GrantRef>{10}, true);
    ASSERT_EQ(st, GNTST_okay);
    loop->with([&] { return domains.forget(kProviderGuest); });
    EXPECT_EQ(client->grants().map(kProviderGuest, std::vector<GrantRef>{10}, false).second, GNTST_bad_domain);
    std::byte buf[4];
    CopyOp op;
    op.source = {true, kProviderGuest, 10, 0, nullptr};
    op.dest = {false, 0, 0, 0, buf};
    op.len = 4;
    client->grants().copy(std::span<CopyOp>(&op, 1));
    EXPECT_EQ(op.status, GNTST_bad_domain);
    m.data()[0] = std::byte{1};  // still the (dead) guest's memory, still mapped
    m.reset();
    EXPECT_TRUE(unpinned());
}

TEST_F(DomainLinkTest, events_go_through_bind_host) {
    Port gp = 0;
    ASSERT_EQ(guest_ev->alloc_unbound(kSelf, &gp), 0);
    EventChannels& ev = client->evtchn();
    EXPECT_EQ(ev.bind_interdomain(kProviderGuest + 1, gp).second, -ESRCH);
    EXPECT_EQ(ev.bind_interdomain(kProviderGuest, gp + 1).second, -EINVAL);
    auto [port, rc] = ev.bind_interdomain(kProviderGuest, gp);
    ASSERT_EQ(rc, 0);
    // Guest -> back-end: the guest's EVTCHNOP_send runs the host handler.
    EXPECT_EQ(guest_ev->send(gp), 0);
    pollfd p{ev.fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 2000), 1);
    EXPECT_EQ(ev.pending(), port);
    // Back-end -> guest: pending in the guest's shared_info.
    EXPECT_EQ(ev.notify(port), 0);
    ASSERT_TRUE(loop->until([&] { return target.pending(gp); }));
    // Unbinding puts the guest's port back to unbound.
    ev.unbind(port);
    ASSERT_TRUE(loop->until([&] {
        evtchn_status_t st{};
        st.dom = DOMID_SELF;
        st.port = gp;
        return guest_ev->status(st) == 0 && st.status == EVTCHNSTAT_unbound;
    }));
}

TEST_F(DomainLinkTest, losing_the_back_end_releases_grants_and_ports) {
    guest.grant(10, kSelf, kDataGfn, GTF_permit_access);
    Port gp = 0;
    ASSERT_EQ(guest_ev->alloc_unbound(kSelf, &gp), 0);
    ASSERT_EQ(client->evtchn().bind_interdomain(kProviderGuest, gp).second, 0);
    auto [m, st] = client->grants().map(kProviderGuest, std::vector<GrantRef>{10}, true);
    ASSERT_EQ(st, GNTST_okay);
    ::shutdown(sp.client, SHUT_RDWR);
    ASSERT_TRUE(loop->until([&] { return !server->connected(); }));
    EXPECT_FALSE(loop->with([&] { return guest.table.any_pinned(); }));
    EXPECT_EQ(flags(10), GTF_permit_access);
    EXPECT_EQ(loop->with([&] { return guest.mem->frame_holds(kDataGfn); }), 0u);
    evtchn_status_t s{};
    s.dom = DOMID_SELF;
    s.port = gp;
    ASSERT_EQ(guest_ev->status(s), 0);
    EXPECT_EQ(s.status, EVTCHNSTAT_unbound);
    EXPECT_TRUE(guest.end_access(10));
}

}  // namespace
}  // namespace xenolith::backend::link::test
