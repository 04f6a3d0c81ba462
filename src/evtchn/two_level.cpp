#include <cstdint>
#include "evtchn/two_level.hpp"

namespace xenolith::evtchn {
namespace {

constexpr unsigned kBitsPerWord = sizeof(xen_ulong_t) * 8;

// The bitmaps live in guest memory that the guest changes concurrently, so
// every read-modify-write is atomic, as the guest's own are.
bool test_and_set(xen_ulong_t* words, unsigned bit) {
    const xen_ulong_t m = xen_ulong_t{1} << (bit % kBitsPerWord);
    return __atomic_fetch_or(&words[bit / kBitsPerWord], m, __ATOMIC_SEQ_CST) & m;
}
bool test_and_clear(xen_ulong_t* words, unsigned bit) {
    const xen_ulong_t m = xen_ulong_t{1} << (bit % kBitsPerWord);
    return __atomic_fetch_and(&words[bit / kBitsPerWord], ~m, __ATOMIC_SEQ_CST) & m;
}
bool test(const xen_ulong_t* words, unsigned bit) {
    const xen_ulong_t m = xen_ulong_t{1} << (bit % kBitsPerWord);
    return __atomic_load_n(&words[bit / kBitsPerWord], __ATOMIC_SEQ_CST) & m;
}

// Sets the selector bit for `port`'s word and, on the first pending word,
// evtchn_upcall_pending; the 0 -> 1 transition raises the upcall.
void mark_vcpu_pending(EventTarget& t, Port port, unsigned vcpu) {
    vcpu_info_t* vi = t.vcpu_info(vcpu);
    if (!vi) return;  // no vcpu_info: the event stays pending in shared_info
    if (test_and_set(&vi->evtchn_pending_sel, port / kBitsPerWord)) return;
    if (__atomic_exchange_n(&vi->evtchn_upcall_pending, 1, __ATOMIC_SEQ_CST) == 0)
        t.raise_upcall(vcpu);
}

}  // namespace

unsigned TwoLevelDelivery::port_limit() const { return kBitsPerWord * kBitsPerWord; }

void TwoLevelDelivery::set_pending(EventTarget& t, Port port, unsigned vcpu) {
    shared_info_t* s = t.shared_info();
    if (test_and_set(s->evtchn_pending, port)) return;
    if (!test(s->evtchn_mask, port)) mark_vcpu_pending(t, port, vcpu);
    t.notify_pollers(port);  // SCHEDOP_poll wakes even for masked ports
}

void TwoLevelDelivery::clear_pending(EventTarget& t, Port port) {
    test_and_clear(t.shared_info()->evtchn_pending, port);
}

// Both may run without the table's lock, for any port number.
bool TwoLevelDelivery::is_pending(EventTarget& t, Port port) {
    return port < port_limit() && test(t.shared_info()->evtchn_pending, port);
}

bool TwoLevelDelivery::is_masked(EventTarget& t, Port port) {
    return port >= port_limit() || test(t.shared_info()->evtchn_mask, port);
}

void TwoLevelDelivery::unmask(EventTarget& t, Port port, unsigned vcpu) {
    shared_info_t* s = t.shared_info();
    if (test_and_clear(s->evtchn_mask, port) && test(s->evtchn_pending, port))
        mark_vcpu_pending(t, port, vcpu);
}

}  // namespace xenolith::evtchn
