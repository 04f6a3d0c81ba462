#include "backend/blk/ring.hpp"

#include <array>
#include <atomic>
#include <cstring>

namespace xenolith::backend::blk {

namespace {

// struct blkif_sring's header: the four indexes, then padding to 64 bytes.
enum Index : std::size_t { kReqProd = 0, kReqEvent = 4, kRspProd = 8, kRspEvent = 12 };

std::atomic_ref<std::uint32_t> index_at(std::byte* shared, Index which) {
    return std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(shared + which));
}


// RING_PUSH_{REQUESTS,RESPONSES}_AND_CHECK_NOTIFY: publishes `new_prod` at
// `prod_at`, then notifies only if the peer's event index (`event_at`) lies
// in the range just published.
bool publish_and_check_notify(std::byte* shared, Index prod_at, Index event_at,
                              std::uint32_t new_prod) {
    auto prod = index_at(shared, prod_at);
    const std::uint32_t old_prod = prod.load(std::memory_order_relaxed);
    prod.store(new_prod, std::memory_order_release);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const std::uint32_t event = index_at(shared, event_at).load(std::memory_order_relaxed);
    return static_cast<std::uint32_t>(new_prod - event) <
           static_cast<std::uint32_t>(new_prod - old_prod);
}
}  // namespace

BackRing::BackRing(std::byte* shared, std::size_t pages, Abi abi)
    : shared_(shared), abi_(abi), size_(ring_entries(abi, pages)), entry_(entry_size(abi)) {
    // BACK_RING_INIT: both private indexes start at 0 whatever the shared
    // page says, as in Linux and QEMU.
}

std::uint32_t BackRing::load_req_prod() const {
    return index_at(shared_, kReqProd).load(std::memory_order_acquire);
}

std::byte* BackRing::slot(std::uint32_t idx) const {
    return shared_ + kRingHeaderSize + (idx & (size_ - 1)) * entry_;
}

std::optional<Request> BackRing::next() {
    if (broken_) return std::nullopt;
    std::uint32_t prod = load_req_prod();
    // RING_REQUEST_PROD_OVERFLOW: more requests than the ring can hold.
    if (prod - rsp_prod_pvt_ > size_) {
        broken_ = true;
        return std::nullopt;
    }
    if (prod == req_cons_) return std::nullopt;
    // RING_REQUEST_CONS_OVERFLOW: every slot holds an unanswered request.
    if (req_cons_ - rsp_prod_pvt_ >= size_) return std::nullopt;
    std::array<std::byte, 112> copy;
    static_assert(sizeof copy >= 112);
    std::memcpy(copy.data(), slot(req_cons_), request_size(abi_));
    // The compiler must not re-read the shared slot in place of the copy.
    std::atomic_signal_fence(std::memory_order_seq_cst);
    ++req_cons_;
    return decode_request(abi_, std::span<const std::byte>(copy.data(), request_size(abi_)));
}

bool BackRing::final_check_for_requests() {
    if (broken_) return false;
    auto has_unconsumed = [this] {
        std::uint32_t req = load_req_prod() - req_cons_;
        std::uint32_t rsp = size_ - (req_cons_ - rsp_prod_pvt_);
        return (req < rsp ? req : rsp) != 0;
    };
    if (has_unconsumed()) return true;
    index_at(shared_, kReqEvent).store(req_cons_ + 1, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return has_unconsumed();
}

void BackRing::respond(std::uint64_t id, std::uint8_t operation, std::int16_t status) {
    encode_response(abi_, std::span<std::byte>(slot(rsp_prod_pvt_), entry_), id, operation, status);
    ++rsp_prod_pvt_;
}

bool BackRing::push_responses() {
    return publish_and_check_notify(shared_, kRspProd, kRspEvent, rsp_prod_pvt_);
}

FrontRing::FrontRing(std::byte* shared, std::size_t pages, Abi abi)
    : shared_(shared), abi_(abi), size_(ring_entries(abi, pages)), entry_(entry_size(abi)) {
    std::memset(shared_, 0, kRingHeaderSize);
    index_at(shared_, kReqEvent).store(1);
    index_at(shared_, kRspEvent).store(1);
}

std::byte* FrontRing::slot(std::uint32_t idx) const {
    return shared_ + kRingHeaderSize + (idx & (size_ - 1)) * entry_;
}

void FrontRing::queue(const Request& req) {
    encode_request(abi_, req, std::span<std::byte>(slot(req_prod_pvt_), entry_));
    ++req_prod_pvt_;
}

bool FrontRing::push_requests() {
    return publish_and_check_notify(shared_, kReqProd, kReqEvent, req_prod_pvt_);
}

std::optional<Response> FrontRing::next_response() {
    std::uint32_t prod = index_at(shared_, kRspProd).load(std::memory_order_acquire);
    if (prod == rsp_cons_) return std::nullopt;
    Response r = decode_response(abi_, std::span<const std::byte>(slot(rsp_cons_), entry_));
    ++rsp_cons_;
    return r;
}

bool FrontRing::final_check_for_responses() {
    auto pending = [this] { return index_at(shared_, kRspProd).load(std::memory_order_acquire) != rsp_cons_; };
    if (pending()) return true;
    index_at(shared_, kRspEvent).store(rsp_cons_ + 1, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return pending();
}

}  // namespace xenolith::backend::blk
