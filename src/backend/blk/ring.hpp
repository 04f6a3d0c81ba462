// The two ends of a blkif shared ring (io/ring.h) over memory that the
// other end can rewrite at any moment. The back end never trusts req_prod:
// a producer index more than a ring ahead of the responses breaks the ring
// for good (Linux's blkback halts it the same way), and requests are copied
// out of their slot once before anything looks at them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "backend/blk/abi.hpp"

namespace xenolith::backend::blk {

class BackRing {
public:
    // `shared` is the mapped ring, `pages` pages long (1 << ring-page-order).
    BackRing(std::byte* shared, std::size_t pages, Abi abi);

    unsigned size() const { return size_; }
    Abi abi() const { return abi_; }
    // The producer lied about its index; nothing more is consumed.
    bool broken() const { return broken_; }
    std::uint32_t req_cons() const { return req_cons_; }
    // Requests taken but not yet answered.
    unsigned outstanding() const { return req_cons_ - rsp_prod_pvt_; }

    // The next request, or nothing when none is published, the ring is
    // full of unanswered requests, or the ring is broken.
    std::optional<Request> next();
    // RING_FINAL_CHECK_FOR_REQUESTS: re-arms req_event and reports whether
    // requests arrived meanwhile.
    bool final_check_for_requests();
    // Queues a response in the next response slot (private until pushed).
    void respond(std::uint64_t id, std::uint8_t operation, std::int16_t status);
    // RING_PUSH_RESPONSES_AND_CHECK_NOTIFY: publishes queued responses;
    // true when the front end asked to be notified.
    bool push_responses();

private:
    std::uint32_t load_req_prod() const;
    std::byte* slot(std::uint32_t idx) const;

    std::byte* shared_;
    Abi abi_;
    unsigned size_;
    std::size_t entry_;
    std::uint32_t req_cons_ = 0;
    std::uint32_t rsp_prod_pvt_ = 0;
    bool broken_ = false;
};

// The front end's side, for test harnesses and the bench: it initialises
// the shared page, publishes requests and collects responses.
class FrontRing {
public:
    FrontRing(std::byte* shared, std::size_t pages, Abi abi);  // SHARED_RING_INIT + FRONT_RING_INIT
    unsigned size() const { return size_; }
    unsigned free_slots() const { return size_ - (req_prod_pvt_ - rsp_cons_); }
    void queue(const Request& req);
    // RING_PUSH_REQUESTS_AND_CHECK_NOTIFY.
    bool push_requests();
    std::optional<Response> next_response();
    // RING_FINAL_CHECK_FOR_RESPONSES.
    bool final_check_for_responses();

private:
    std::byte* slot(std::uint32_t idx) const;
    std::byte* shared_;
    Abi abi_;
    unsigned size_;
    std::size_t entry_;
    std::uint32_t req_prod_pvt_ = 0;
    std::uint32_t rsp_cons_ = 0;
};

}  // namespace xenolith::backend::blk
