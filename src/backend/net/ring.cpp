#include "backend/net/ring.hpp"

namespace xenolith::backend::net::ring_detail {

static_assert(offsetof(struct netif_tx_sring, ring) == kRingHeaderSize);
static_assert(offsetof(struct netif_rx_sring, ring) == kRingHeaderSize);

bool publish_and_check_notify(std::byte* shared, Index prod_at, Index event_at, std::uint32_t new_prod) {
    auto prod = index_at(shared, prod_at);
    const std::uint32_t old_prod = prod.load(std::memory_order_relaxed);
    prod.store(new_prod, std::memory_order_release);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const std::uint32_t event = index_at(shared, event_at).load(std::memory_order_relaxed);
    return static_cast<std::uint32_t>(new_prod - event) < static_cast<std::uint32_t>(new_prod - old_prod);
}

}  // namespace xenolith::backend::net::ring_detail
