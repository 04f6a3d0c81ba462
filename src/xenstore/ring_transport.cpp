#include "xenstore/ring_transport.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>

namespace xenolith::xenstore {

namespace {

constexpr XENSTORE_RING_IDX kRingSize = XENSTORE_RING_SIZE;

// The guest writes these concurrently: every access is one atomic 32-bit
// load or store, acquire/release around the payload bytes.
XENSTORE_RING_IDX load(XENSTORE_RING_IDX& field) {
    return std::atomic_ref<XENSTORE_RING_IDX>(field).load(std::memory_order_acquire);
}
void store(XENSTORE_RING_IDX& field, XENSTORE_RING_IDX value) {
    std::atomic_ref<XENSTORE_RING_IDX>(field).store(value, std::memory_order_release);
}
std::uint32_t load32(std::uint32_t& field) {
    return std::atomic_ref<std::uint32_t>(field).load(std::memory_order_acquire);
}
void store32(std::uint32_t& field, std::uint32_t value) {
    std::atomic_ref<std::uint32_t>(field).store(value, std::memory_order_release);
}

}  // namespace

void RingTransport::attach() {
    req_cons_ = load(page_->req_cons);
    rsp_prod_ = load(page_->rsp_prod);
    failed_ = false;
    store32(page_->error, XENSTORE_ERROR_NONE);
    // Advertised before any data moves, as xenstore-ring.txt requires.
    store32(page_->server_features, load32(page_->server_features) |
                                        XENSTORE_SERVER_FEATURE_RECONNECTION |
                                        XENSTORE_SERVER_FEATURE_ERROR);
}

RingTransport::Io RingTransport::read(MessageReader& reader, std::size_t* consumed) {
    *consumed = 0;
    const XENSTORE_RING_IDX prod = load(page_->req_prod);
    XENSTORE_RING_IDX avail = prod - req_cons_;
    if (avail > kRingSize) return Io::bad_index;
    Io result = Io::ok;
    while (avail > 0 && !reader.ready()) {
        const XENSTORE_RING_IDX off = MASK_XENSTORE_IDX(req_cons_);
        const XENSTORE_RING_IDX chunk = std::min(avail, kRingSize - off);
        // Copied out first: the guest may rewrite the ring while we parse.
        std::uint8_t buf[XENSTORE_RING_SIZE];
        std::memcpy(buf, page_->req + off, chunk);
        auto fed = reader.feed(ByteSpan(buf, chunk));
        if (!fed) {
            result = Io::protocol;
            break;
        }
        const auto n = static_cast<XENSTORE_RING_IDX>(*fed);
        req_cons_ += n;
        avail -= n;
        *consumed += n;
        if (n < chunk) break;  // a message is complete
    }
    if (*consumed) store(page_->req_cons, req_cons_);
    return result;
}

std::size_t RingTransport::write_space() const {
    const XENSTORE_RING_IDX used = rsp_prod_ - load(page_->rsp_cons);
    return used > kRingSize ? 0 : kRingSize - used;
}

RingTransport::Io RingTransport::write(ByteSpan data, std::size_t* written) {
    *written = 0;
    const XENSTORE_RING_IDX used = rsp_prod_ - load(page_->rsp_cons);
    if (used > kRingSize) return Io::bad_index;
    std::size_t room = kRingSize - used;
    while (room > 0 && *written < data.size()) {
        const XENSTORE_RING_IDX off = MASK_XENSTORE_IDX(rsp_prod_);
        const std::size_t chunk =
            std::min({room, data.size() - *written, static_cast<std::size_t>(kRingSize - off)});
        std::memcpy(page_->rsp + off, data.data() + *written, chunk);
        rsp_prod_ += static_cast<XENSTORE_RING_IDX>(chunk);
        *written += chunk;
        room -= chunk;
    }
    if (*written) store(page_->rsp_prod, rsp_prod_);  // release: bytes before index
    return Io::ok;
}

bool RingTransport::reconnect_requested() const {
    return load32(page_->connection) == XENSTORE_RECONNECT;
}

void RingTransport::reconnect() {
    req_cons_ = 0;
    rsp_prod_ = 0;
    store(page_->req_cons, 0);
    store(page_->req_prod, 0);
    store(page_->rsp_cons, 0);
    store(page_->rsp_prod, 0);
    store32(page_->error, XENSTORE_ERROR_NONE);
    failed_ = false;
    // Last: the guest ignores everything else until it sees this.
    store32(page_->connection, XENSTORE_CONNECTED);
}

void RingTransport::fail(std::uint32_t error) {
    failed_ = true;
    store32(page_->error, error);
}

}  // namespace xenolith::xenstore
