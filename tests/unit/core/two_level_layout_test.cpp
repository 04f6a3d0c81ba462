// 2-level event channels in both shared_info layouts. Every bit is checked
// at a byte offset worked out by hand from the x86-64 and i386 rules (never
// through evtchn/shared_info_layout.hpp), in the fake's shared_info page:
//
//   native: vcpu_info[v] at 64 v, evtchn_pending_sel a 64-bit word at +8;
//           evtchn_pending at 2048, evtchn_mask at 2560 (64 x 8 bytes each)
//   compat: vcpu_info[v] at 64 v, evtchn_pending_sel a 32-bit word at +4;
//           evtchn_pending at 2048, evtchn_mask at 2176 (32 x 4 bytes each)
//
// Port n is bit n % 8 of byte n / 8 of a bitmap in either (little endian).
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include <gtest/gtest.h>

extern "C" {
#include <xen/errno.h>
}

#include "evtchn/event_channels.hpp"
#include "fake_target.hpp"

namespace xenolith::evtchn {
namespace {

using test::FakeTarget;

struct Offsets {
    std::size_t pending, mask, selector;  // selector: within vcpu_info
    unsigned word_bits;
};
constexpr Offsets kNative{2048, 2560, 8, 64};
constexpr Offsets kCompat{2048, 2176, 4, 32};

class TwoLevelLayout : public ::testing::TestWithParam<bool> {
protected:
    bool compat() const { return GetParam(); }
    const Offsets& at() const { return compat() ? kCompat : kNative; }

    void SetUp() override {
        if (compat()) t.layout = SharedInfoLayout::compat32;
        table = reg.add(1, &t, 4096);
    }

    bool bit(std::size_t byte_off, unsigned n) const {
        return (t.page()[byte_off + n / 8] >> (n % 8)) & 1;
    }
    void set_bit(std::size_t byte_off, unsigned n) {
        t.page()[byte_off + n / 8] |= static_cast<std::uint8_t>(1u << (n % 8));
    }
    // The selector word of vCPU `v`, read at its width only.
    std::uint64_t selector(unsigned v) const {
        std::uint64_t w = 0;
        std::memcpy(&w, t.page() + 64 * v + at().selector, at().word_bits / 8);
        return w;
    }
    std::uint8_t upcall_pending(unsigned v) const { return t.page()[64 * v]; }

    // An IPI port with number `want` on `vcpu` (lower ports bound as IPIs too).
    Port ipi_port(Port want, unsigned vcpu = 0) {
        Port p = 0;
        do {
            EXPECT_EQ(table->bind_ipi(vcpu, &p), 0);
        } while (p < want);
        EXPECT_EQ(p, want);
        return p;
    }

    test::FakeDomains reg;
    FakeTarget t{1};
    std::shared_ptr<EventChannels> table;
};

TEST_P(TwoLevelLayout, send_when_unmasked_then_pending_selector_and_upcall_at_layout_offsets) {
    const Port p = ipi_port(70);
    ASSERT_EQ(table->send(p), 0);
    EXPECT_TRUE(bit(at().pending, p));
    // Word 70 / 64 = 1 natively, 70 / 32 = 2 in compat.
    EXPECT_EQ(selector(0), std::uint64_t{1} << (p / at().word_bits));
    EXPECT_EQ(upcall_pending(0), 1);
    EXPECT_EQ(t.upcalls[0], 1u);
    // Nothing in the other layout's selector word.
    const std::size_t other = compat() ? 8 : 4;
    for (std::size_t i = other; i < other + 4; ++i) {
        if (i < at().selector || i >= at().selector + at().word_bits / 8) {
            EXPECT_EQ(t.page()[i], 0) << "vcpu_info byte " << i;
        }
    }
}

TEST_P(TwoLevelLayout, send_when_masked_then_only_pending_until_unmask) {
    const Port p = ipi_port(40, 1);
    set_bit(at().mask, p);
    ASSERT_EQ(table->send(p), 0);
    EXPECT_TRUE(bit(at().pending, p));
    EXPECT_EQ(selector(1), 0u);
    EXPECT_EQ(upcall_pending(1), 0);
    ASSERT_EQ(table->unmask(p), 0);
    EXPECT_FALSE(bit(at().mask, p));
    EXPECT_EQ(selector(1), std::uint64_t{1} << (p / at().word_bits));
    EXPECT_EQ(upcall_pending(1), 1);
    EXPECT_EQ(t.upcalls[1], 1u);
}

TEST_P(TwoLevelLayout, the_other_layouts_mask_bit_does_not_mask) {
    const Port p = ipi_port(5);
    set_bit(compat() ? kNative.mask : kCompat.mask, p);
    ASSERT_EQ(table->send(p), 0);
    EXPECT_EQ(upcall_pending(0), 1);
}

TEST_P(TwoLevelLayout, close_clears_the_pending_bit_and_poll_reads_it) {
    const Port p = ipi_port(33);
    set_bit(at().mask, p);
    EXPECT_FALSE(table->poll_pending(p));
    ASSERT_EQ(table->send(p), 0);
    EXPECT_TRUE(table->poll_pending(p));  // SCHEDOP_poll: masked or not
    ASSERT_EQ(table->close(p), 0);
    EXPECT_FALSE(bit(at().pending, p));
    EXPECT_FALSE(table->poll_pending(p));
}

// Xen's max_evtchns: BITS_PER_EVTCHN_WORD(d) squared, 64 * 64 or 32 * 32;
// past it every bind gets -ENOSPC (evtchn_allocate_port).
TEST_P(TwoLevelLayout, ports_end_at_the_square_of_the_word_size) {
    const unsigned limit = compat() ? 1024 : 4096;
    EXPECT_EQ(table->max_ports(), limit);
    Port p = 0;
    for (unsigned i = 1; i < limit; ++i) ASSERT_EQ(table->alloc_unbound(0, &p), 0);
    EXPECT_EQ(p, limit - 1);
    EXPECT_EQ(table->alloc_unbound(0, &p), -XEN_ENOSPC);
    EXPECT_EQ(table->bind_ipi(0, &p), -XEN_ENOSPC);
    EXPECT_EQ(table->bind_virq(VIRQ_TIMER, 0, &p), -XEN_ENOSPC);
    ASSERT_EQ(table->close(limit - 1), 0);
    ASSERT_EQ(table->bind_ipi(0, &p), 0);
    EXPECT_EQ(p, limit - 1);
    // The last port's bits are the last bits of the layout's bitmaps.
    set_bit(at().mask, p);
    ASSERT_EQ(table->send(p), 0);
    EXPECT_EQ(t.page()[at().pending + limit / 8 - 1], 0x80);
    EXPECT_EQ(upcall_pending(0), 0);
}

std::string layout_name(const ::testing::TestParamInfo<bool>& param) {
    return param.param ? "compat32" : "native64";
}

INSTANTIATE_TEST_SUITE_P(Layout, TwoLevelLayout, ::testing::Bool(), layout_name);

class LayoutLatch : public ::testing::Test {
protected:
    test::FakeDomains reg;
    FakeTarget t{1};
    std::shared_ptr<EventChannels> table = reg.add(1, &t, 4096);
};

// The latch only switches the layout (hvm_latch_shinfo_size): ports bound
// beyond the new limit stay bound, nothing new is handed out there, and
// their events have no bit to go to.
TEST_F(LayoutLatch, ports_past_1024_when_latched_to_compat_then_kept_but_inert) {
    Port p = 0;
    for (unsigned i = 1; i <= 1100; ++i) ASSERT_EQ(table->bind_ipi(0, &p), 0);
    ASSERT_EQ(p, 1100u);
    ASSERT_EQ(table->close(5), 0);
    t.layout = SharedInfoLayout::compat32;
    EXPECT_EQ(table->max_ports(), 1024u);

    evtchn_status_t st{};
    st.dom = DOMID_SELF;
    st.port = 1100;
    EXPECT_EQ(table->status(st), 0);
    EXPECT_EQ(st.status, EVTCHNSTAT_ipi);

    std::uint8_t before[4096];
    std::memcpy(before, t.page(), sizeof before);
    EXPECT_EQ(table->send(1100), 0);
    EXPECT_EQ(std::memcmp(before, t.page(), sizeof before), 0);  // nothing written
    EXPECT_FALSE(table->poll_pending(1100));
    EXPECT_EQ(t.upcalls[0], 0u);

    // A free port below the limit is still handed out; above it, none.
    ASSERT_EQ(table->alloc_unbound(0, &p), 0);
    EXPECT_EQ(p, 5u);
    for (unsigned i = 1; i < 1024; ++i) ASSERT_EQ(table->close(i), 0);
    ASSERT_EQ(table->close(1023), -XEN_EINVAL);  // closed above, now free
    for (unsigned i = 1; i < 1024; ++i) ASSERT_EQ(table->alloc_unbound(0, &p), 0);
    EXPECT_EQ(table->alloc_unbound(0, &p), -XEN_ENOSPC);
    EXPECT_EQ(table->close(1050), 0);  // still bound, still closable
}

TEST_F(LayoutLatch, latched_back_to_native_then_the_limit_grows_again) {
    t.layout = SharedInfoLayout::compat32;
    EXPECT_EQ(table->max_ports(), 1024u);
    t.layout = SharedInfoLayout::native64;
    EXPECT_EQ(table->max_ports(), 4096u);
}

// FIFO keeps its own pages; the layout changes nothing there.
TEST_F(LayoutLatch, fifo_when_compat_then_its_limit_and_delivery_are_unchanged) {
    t.layout = SharedInfoLayout::compat32;
    auto big = reg.add(2, &t, 8000);
    std::uint8_t bits = 0;
    ASSERT_EQ(big->init_control(FakeTarget::kFirstGfn, 0, 0, &bits), 0);
    EXPECT_EQ(big->max_ports(), 8000u);
    ASSERT_EQ(big->expand_array(FakeTarget::kFirstGfn + 1), 0);
    Port p = 0;
    ASSERT_EQ(big->bind_ipi(0, &p), 0);
    ASSERT_EQ(big->send(p), 0);
    EXPECT_EQ(t.page()[0], 1);  // evtchn_upcall_pending, +0 in both
    EXPECT_EQ(t.page()[4], 0);  // no 2-level selector
}

}  // namespace
}  // namespace xenolith::evtchn
