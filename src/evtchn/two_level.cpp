#include <cstdint>
#include "evtchn/two_level.hpp"

namespace xenolith::evtchn {
namespace {

// One 2-level bitmap of `Word`s. The bitmaps live in guest memory that the
// guest changes concurrently, so every read-modify-write is atomic, as the
// guest's own are, and of the guest's word size.
template <class Word>
struct Bitmap {
    static constexpr unsigned kBits = sizeof(Word) * 8;
    Word* words;

    static Word bit(unsigned n) { return Word{1} << (n % kBits); }
    bool test_and_set(unsigned n) const {
        return __atomic_fetch_or(&words[n / kBits], bit(n), __ATOMIC_SEQ_CST) & bit(n);
    }
    bool test_and_clear(unsigned n) const {
        return __atomic_fetch_and(&words[n / kBits], static_cast<Word>(~bit(n)),
                                  __ATOMIC_SEQ_CST) &
               bit(n);
    }
    bool test(unsigned n) const {
        return __atomic_load_n(&words[n / kBits], __ATOMIC_SEQ_CST) & bit(n);
    }
};

// Where one layout keeps the 2-level state: the shared_info and
// vcpu_info types whose fields name the bitmaps and the selector.
template <class SharedInfo, class VcpuInfo, class Word>
struct Layout {
    static constexpr unsigned kPorts = Bitmap<Word>::kBits * Bitmap<Word>::kBits;

    static Bitmap<Word> pending(EventTarget& t) {
        return {reinterpret_cast<SharedInfo*>(t.shared_info())->evtchn_pending};
    }
    static Bitmap<Word> mask(EventTarget& t) {
        return {reinterpret_cast<SharedInfo*>(t.shared_info())->evtchn_mask};
    }

    // Sets the selector bit for `port`'s word and, on the first pending
    // word, evtchn_upcall_pending; the 0 -> 1 transition raises the upcall.
    static void mark_vcpu_pending(EventTarget& t, Port port, unsigned vcpu) {
        auto* vi = reinterpret_cast<VcpuInfo*>(t.vcpu_info(vcpu));
        if (!vi) return;  // no vcpu_info: the event stays pending in shared_info
        if (Bitmap<Word>{&vi->evtchn_pending_sel}.test_and_set(port / Bitmap<Word>::kBits))
            return;
        if (__atomic_exchange_n(&vi->evtchn_upcall_pending, 1, __ATOMIC_SEQ_CST) == 0)
            t.raise_upcall(vcpu);
    }

    // A port beyond the layout's bitmaps (bound before the domain latched
    // the compat layout) has nowhere to be recorded: its events are
    // dropped, where Xen would set a bit past the array.
    static void set_pending(EventTarget& t, Port port, unsigned vcpu) {
        if (port >= kPorts) return;
        if (pending(t).test_and_set(port)) return;
        if (!mask(t).test(port)) mark_vcpu_pending(t, port, vcpu);
        t.notify_pollers(port);  // SCHEDOP_poll wakes even for masked ports
    }
    static void clear_pending(EventTarget& t, Port port) {
        if (port < kPorts) pending(t).test_and_clear(port);
    }
    static bool is_pending(EventTarget& t, Port port) {
        return port < kPorts && pending(t).test(port);
    }
    static bool is_masked(EventTarget& t, Port port) {
        return port >= kPorts || mask(t).test(port);
    }
    static void unmask(EventTarget& t, Port port, unsigned vcpu) {
        if (port >= kPorts) return;
        if (mask(t).test_and_clear(port) && pending(t).test(port))
            mark_vcpu_pending(t, port, vcpu);
    }
};

using Native = Layout<shared_info_t, vcpu_info_t, xen_ulong_t>;
using Compat = Layout<compat::SharedInfo, compat::VcpuInfo, std::uint32_t>;
static_assert(Native::kPorts == two_level_ports(SharedInfoLayout::native64));
static_assert(Compat::kPorts == two_level_ports(SharedInfoLayout::compat32));

bool is_compat(EventTarget& t) { return t.shared_info_layout() == SharedInfoLayout::compat32; }

}  // namespace

unsigned TwoLevelDelivery::port_limit(EventTarget& t) const {
    return two_level_ports(t.shared_info_layout());
}

void TwoLevelDelivery::set_pending(EventTarget& t, Port port, unsigned vcpu) {
    is_compat(t) ? Compat::set_pending(t, port, vcpu) : Native::set_pending(t, port, vcpu);
}

void TwoLevelDelivery::clear_pending(EventTarget& t, Port port) {
    is_compat(t) ? Compat::clear_pending(t, port) : Native::clear_pending(t, port);
}

// Both may run without the table's lock, for any port number; a layout
// latched meanwhile makes the answer stale, never out of bounds.
bool TwoLevelDelivery::is_pending(EventTarget& t, Port port) {
    return is_compat(t) ? Compat::is_pending(t, port) : Native::is_pending(t, port);
}

bool TwoLevelDelivery::is_masked(EventTarget& t, Port port) {
    return is_compat(t) ? Compat::is_masked(t, port) : Native::is_masked(t, port);
}

void TwoLevelDelivery::unmask(EventTarget& t, Port port, unsigned vcpu) {
    is_compat(t) ? Compat::unmask(t, port, vcpu) : Native::unmask(t, port, vcpu);
}

}  // namespace xenolith::evtchn
