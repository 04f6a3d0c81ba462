// Grants held for the back-end's own I/O: one side of a grant copy whose
// copying the back-end does itself, with readv()/writev() on a device
// straight from and into the granted pages, so no byte goes through a
// buffer of its own. A hold is judged exactly as GNTTABOP_copy judges that
// side (the domain, the grant entry, the range inside the frame and inside
// the granted part; the same GNTST codes, per span) and pins the grant as
// the copy would (GTF_reading, and GTF_writing for a destination) until the
// hold is released, which must happen before the front end is told the
// pages are done with. Implemented by LinkClient (the sandboxed back-end's
// grant service: one round trip per batch, the pages read through its view
// of the front end's memory) and LocalGrantTable (in-process tests).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "backend/services.hpp"

namespace xenolith::backend::link {

// A byte range of one granted frame.
struct HeldSpan {
    GrantRef ref = 0;
    std::uint16_t offset = 0;  // inside the granted frame
    std::uint16_t len = 0;
    std::int16_t status = GNTST_okay;  // what GNTTABOP_copy would answer for this side
    std::byte* data = nullptr;         // the range while held; null unless okay
};

// What one holder holds for a caller, given back together by release() or
// the destructor. Reused across batches: release() keeps the capacity.
class GrantHold {
public:
    class Owner {
    public:
        virtual void release_held(std::span<const std::uint64_t> cookies) = 0;
    protected:
        ~Owner() = default;
    };

    GrantHold() = default;
    GrantHold(const GrantHold&) = delete;
    GrantHold& operator=(const GrantHold&) = delete;
    ~GrantHold() { release(); }

    void release() {
        if (owner_ && !cookies_.empty()) owner_->release_held(cookies_);
        cookies_.clear();
    }
    bool empty() const { return cookies_.empty(); }
    void reserve(std::size_t n) { cookies_.reserve(n); }
    // For holders: `cookie` is given back to `owner` at release. One hold
    // serves one owner; another owner's cookies are released first.
    void add(Owner* owner, std::uint64_t cookie) {
        if (owner_ != owner) release();
        owner_ = owner;
        cookies_.push_back(cookie);
    }

private:
    Owner* owner_ = nullptr;
    std::vector<std::uint64_t> cookies_;
};

class GrantHolder {
public:
    // Holds each span of `domid`'s grants for reading (a copy's source) or,
    // when `writable`, for writing (its destination), until `into` is
    // released. A span that fails holds nothing and says why.
    virtual void hold(DomId domid, std::span<HeldSpan> spans, bool writable, GrantHold& into) = 0;

protected:
    ~GrantHolder() = default;
};

}  // namespace xenolith::backend::link
