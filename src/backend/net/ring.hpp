// The two netif rings of one queue (xen/io/netif.h): tx carries the guest's
// packets to the host, rx the guest's empty buffers that the host fills.
// Both are io/ring.h shared rings over memory the front end may rewrite at
// any moment, so the back end copies each slot out once before looking at
// it, and a request producer more than a ring ahead of the responses breaks
// the ring for good (Linux's netback calls that "Impossible number of
// requests" and disables the vif). The netif layouts have no 32/64-bit
// variants: every field is at most 32 bits wide.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "backend/services.hpp"

extern "C" {
#include <xen/io/netif.h>
}

namespace xenolith::backend::net {

inline constexpr std::size_t kRingHeaderSize = 64;

namespace ring_detail {
enum Index : std::size_t { kReqProd = 0, kReqEvent = 4, kRspProd = 8, kRspEvent = 12 };

inline std::atomic_ref<std::uint32_t> index_at(std::byte* shared, Index which) {
    return std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(shared + which));
}

// io/ring.h's __RING_SIZE for one page: the largest power of two of
// entries that fits after the header.
constexpr unsigned entries(std::size_t entry) {
    std::size_t n = (kXenPageSize - kRingHeaderSize) / entry;
    unsigned p = 1;
    while (p * 2 <= n) p *= 2;
    return p;
}

// Publishes `new_prod` and reports whether the peer's event index lies in
// the range just published (RING_PUSH_*_AND_CHECK_NOTIFY).
bool publish_and_check_notify(std::byte* shared, Index prod_at, Index event_at, std::uint32_t new_prod);
}  // namespace ring_detail

// The back end's side of a one-page ring of `Req` requests; responses are
// any slot-sized value (an rx ring answers some slots with extra info).
template <class Req, class Entry>
class BackRing {
public:
    static constexpr unsigned kSize = ring_detail::entries(sizeof(Entry));

    explicit BackRing(std::byte* shared) : shared_(shared) {}

    unsigned size() const { return kSize; }
    bool broken() const { return broken_; }
    std::uint32_t req_cons() const { return req_cons_; }

    // Requests published and not yet taken, bounded by the free response
    // slots; 0 once broken. A producer that claims more than a ring's worth
    // ahead of the responses breaks the ring.
    unsigned unconsumed() {
        if (broken_) return 0;
        std::uint32_t prod = ring_detail::index_at(shared_, ring_detail::kReqProd).load(std::memory_order_acquire);
        if (prod - rsp_prod_pvt_ > kSize) {
            broken_ = true;
            return 0;
        }
        std::uint32_t req = prod - req_cons_;
        std::uint32_t room = kSize - (req_cons_ - rsp_prod_pvt_);
        return req < room ? req : room;
    }
    // A private copy of the request `k` slots past req_cons; the caller
    // has seen k < unconsumed().
    Req peek(unsigned k) const {
        Req r;
        std::memcpy(&r, slot(req_cons_ + k), sizeof r);
        // The compiler must not re-read the shared slot in place of the copy.
        std::atomic_signal_fence(std::memory_order_seq_cst);
        return r;
    }
    void consume(unsigned n) { req_cons_ += n; }

    // Queues `rsp` in the next response slot (private until pushed).
    template <class Rsp>
    void respond(const Rsp& rsp) {
        static_assert(sizeof(Rsp) <= sizeof(Entry) && std::is_trivially_copyable_v<Rsp>);
        std::memcpy(slot(rsp_prod_pvt_), &rsp, sizeof rsp);
        ++rsp_prod_pvt_;
    }
    bool push_responses() {
        return ring_detail::publish_and_check_notify(shared_, ring_detail::kRspProd, ring_detail::kRspEvent,
                                                     rsp_prod_pvt_);
    }
    // RING_FINAL_CHECK_FOR_REQUESTS: asks to be notified of the next
    // request, then reports whether some arrived meanwhile.
    bool final_check_for_requests() {
        if (unconsumed() != 0) return true;
        if (broken_) return false;
        ring_detail::index_at(shared_, ring_detail::kReqEvent).store(req_cons_ + 1, std::memory_order_seq_cst);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        return unconsumed() != 0;
    }

    // Asks to be notified once `needed` requests are published past
    // req_cons (feature-rx-notify), then reports whether they already are.
    bool wait_for_requests(unsigned needed) {
        if (unconsumed() >= needed) return true;
        if (broken_) return false;
        ring_detail::index_at(shared_, ring_detail::kReqEvent).store(req_cons_ + needed, std::memory_order_seq_cst);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        return unconsumed() >= needed;
    }

private:
    std::byte* slot(std::uint32_t idx) const {
        return shared_ + kRingHeaderSize + (idx & (kSize - 1)) * sizeof(Entry);
    }
    std::byte* shared_;
    std::uint32_t req_cons_ = 0;
    std::uint32_t rsp_prod_pvt_ = 0;
    bool broken_ = false;
};

// The front end's side, for test harnesses and the fuzz target.
template <class Req, class Rsp, class Entry>
class FrontRing {
public:
    static constexpr unsigned kSize = ring_detail::entries(sizeof(Entry));

    explicit FrontRing(std::byte* shared) : shared_(shared) {  // SHARED_RING_INIT
        std::memset(shared_, 0, kRingHeaderSize);
        ring_detail::index_at(shared_, ring_detail::kReqEvent).store(1);
        ring_detail::index_at(shared_, ring_detail::kRspEvent).store(1);
    }
    unsigned free_slots() const { return kSize - (req_prod_pvt_ - rsp_cons_); }
    template <class T>
    void queue(const T& req) {
        static_assert(sizeof(T) <= sizeof(Entry));
        std::memcpy(slot(req_prod_pvt_), &req, sizeof req);
        ++req_prod_pvt_;
    }
    bool push_requests() {
        return ring_detail::publish_and_check_notify(shared_, ring_detail::kReqProd, ring_detail::kReqEvent,
                                                     req_prod_pvt_);
    }
    // Writes a raw req_prod (a lying front end).
    void set_req_prod(std::uint32_t v) { ring_detail::index_at(shared_, ring_detail::kReqProd).store(v); }
    std::uint32_t req_event() const { return ring_detail::index_at(shared_, ring_detail::kReqEvent).load(); }
    bool has_response() const {
        return ring_detail::index_at(shared_, ring_detail::kRspProd).load(std::memory_order_acquire) != rsp_cons_;
    }
    // RING_FINAL_CHECK_FOR_RESPONSES: asks to be notified of the next
    // response, then reports whether one arrived meanwhile.
    bool final_check_for_responses() {
        if (has_response()) return true;
        ring_detail::index_at(shared_, ring_detail::kRspEvent).store(rsp_cons_ + 1, std::memory_order_seq_cst);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        return has_response();
    }
    // The next response as a `T` (an rx ring's extra-info slot is read as
    // netif_extra_info).
    template <class T = Rsp>
    T next_response() {
        T r;
        std::memcpy(&r, slot(rsp_cons_), sizeof r);
        ++rsp_cons_;
        return r;
    }

private:
    std::byte* slot(std::uint32_t idx) const {
        return shared_ + kRingHeaderSize + (idx & (kSize - 1)) * sizeof(Entry);
    }
    std::byte* shared_;
    std::uint32_t req_prod_pvt_ = 0;
    std::uint32_t rsp_cons_ = 0;
};

using TxBackRing = BackRing<netif_tx_request, union netif_tx_sring_entry>;
using RxBackRing = BackRing<netif_rx_request, union netif_rx_sring_entry>;
using TxFrontRing = FrontRing<netif_tx_request, netif_tx_response, union netif_tx_sring_entry>;
using RxFrontRing = FrontRing<netif_rx_request, netif_rx_response, union netif_rx_sring_entry>;

static_assert(sizeof(netif_tx_request) == 12 && sizeof(netif_extra_info) == 8);
static_assert(sizeof(netif_rx_response) == 8 && sizeof(netif_rx_request) == 8);
static_assert(TxBackRing::kSize == 256 && RxBackRing::kSize == 256);  // NET_TX/RX_RING_SIZE

}  // namespace xenolith::backend::net
