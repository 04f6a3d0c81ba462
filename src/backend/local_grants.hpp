// A grant service over memory this process owns: a stand-in guest whose
// RAM is a memfd and whose version-1 grant table is an array the test or
// bench front end fills in. map() checks each entry as Xen's
// map_grant_ref does (range, GTF_permit_access, the grantee domid,
// GTF_readonly against a writable map) and maps the frames with mmap, so a
// read-only mapping really is read-only and the back end sees real shared
// memory. This is what unit tests and bench/blkback drive the back-end
// through; xenolithd's own grant tables implement the same interface.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "backend/link/grant_hold.hpp"
#include "backend/services.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::backend {

class LocalGrantTable final : public Grants,
                              public link::GrantHolder,
                              private GrantMapping::Owner,
                              private link::GrantHold::Owner {
public:
    // A guest `granter` with `pages` pages of RAM and `entries` grant
    // entries, granting to back-end domain `grantee`.
    LocalGrantTable(DomId granter, DomId grantee, std::size_t pages, std::size_t entries);
    ~LocalGrantTable() override;
    LocalGrantTable(const LocalGrantTable&) = delete;
    LocalGrantTable& operator=(const LocalGrantTable&) = delete;

    // The guest's view of its own memory.
    std::byte* page(std::size_t frame) const { return memory_ + frame * kXenPageSize; }
    std::size_t pages() const { return pages_; }
    // The front end's side: grant `frame` to the back end (GTF_permit_access).
    void grant(GrantRef ref, std::size_t frame, bool readonly);
    void grant_to(GrantRef ref, std::size_t frame, DomId domid, std::uint16_t flags);
    void revoke(GrantRef ref);
    // Frames currently mapped through this table.
    std::size_t mapped_pages() const { return mapped_; }

    // The granting side for a back-end in another process (link/): the
    // guest's memory file, and pins as Xen's active entries keep them. A pin
    // checks the entry as map() does and sets GTF_reading (GTF_writing when
    // writable) in the guest-visible flags; the last release of a kind
    // clears its flag. At most `pin_limit` pins at once (the maptrack
    // stand-in): GNTST_no_space beyond.
    int memfd() const { return memfd_.get(); }
    DomId granter() const { return granter_; }
    DomId grantee() const { return grantee_; }
    std::int16_t acquire(GrantRef ref, bool writable, std::size_t* frame);
    void release(GrantRef ref, bool writable);
    std::uint16_t flags(GrantRef ref) const { return table_.at(ref).flags; }
    std::size_t pins_held() const { return pins_held_; }
    void set_pin_limit(std::size_t limit) { pin_limit_ = limit; }
    // GNTTABOP_copy calls made so far (each a hypercall, or a link round
    // trip, on the real thing): what batching is measured by.
    std::size_t copy_calls() const { return copy_calls_; }

    std::pair<GrantMapping, std::int16_t> map(DomId domid, std::span<const GrantRef> refs,
                                              bool writable) override;
    void copy(std::span<CopyOp> ops) override;
    // Pins each span as acquire() does (a copy side's checks, in the
    // link server's order: domain, entry, page bounds); GrantHolder calls
    // made so far, as copy_calls() counts copies.
    void hold(DomId domid, std::span<link::HeldSpan> spans, bool writable, link::GrantHold& into) override;
    std::size_t hold_calls() const { return hold_calls_; }

private:
    void release_held(std::span<const std::uint64_t> cookies) override;
    void unmap(std::byte* addr, std::size_t pages, std::uintptr_t cookie) override;
    // The frame behind `ref` if `domid` may use it as asked, else a GNTST code.
    std::int16_t check(DomId domid, GrantRef ref, bool writable, std::size_t& frame) const;
    std::byte* place(const CopyPlace& p, bool writable, std::int16_t& status) const;

    DomId granter_, grantee_;
    std::size_t pages_;
    UniqueFd memfd_;
    std::byte* memory_ = nullptr;
    std::vector<grant_entry_v1_t> table_;
    std::size_t mapped_ = 0;
    struct Pins {
        std::uint32_t readers = 0, writers = 0;
    };
    std::vector<Pins> pins_;
    std::size_t pins_held_ = 0;
    std::size_t pin_limit_ = 1024 * 256;
    std::size_t copy_calls_ = 0;
    std::size_t hold_calls_ = 0;
};

}  // namespace xenolith::backend
