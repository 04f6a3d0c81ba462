#include "backend/local_grants.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace xenolith::backend {

LocalGrantTable::LocalGrantTable(DomId granter, DomId grantee, std::size_t pages, std::size_t entries)
    : granter_(granter), grantee_(grantee), pages_(pages), table_(entries), pins_(entries) {
    memfd_.reset(::memfd_create("guest-ram", MFD_CLOEXEC));
    if (!memfd_.valid() || ::ftruncate(memfd_.get(), static_cast<off_t>(pages * kXenPageSize)) != 0)
        throw std::runtime_error("memfd for guest memory");
    void* m = ::mmap(nullptr, pages * kXenPageSize, PROT_READ | PROT_WRITE, MAP_SHARED, memfd_.get(), 0);
    if (m == MAP_FAILED) throw std::runtime_error("mmap guest memory");
    memory_ = static_cast<std::byte*>(m);
}

LocalGrantTable::~LocalGrantTable() { ::munmap(memory_, pages_ * kXenPageSize); }

void LocalGrantTable::grant(GrantRef ref, std::size_t frame, bool readonly) {
    grant_to(ref, frame, grantee_, static_cast<std::uint16_t>(GTF_permit_access | (readonly ? GTF_readonly : 0)));
}

void LocalGrantTable::grant_to(GrantRef ref, std::size_t frame, DomId domid, std::uint16_t flags) {
    grant_entry_v1_t& e = table_.at(ref);
    e.frame = static_cast<std::uint32_t>(frame);
    e.domid = domid;
    e.flags = flags;
}

std::int16_t LocalGrantTable::acquire(GrantRef ref, bool writable, std::size_t* frame) {
    if (pins_held_ >= pin_limit_) return GNTST_no_space;
    if (std::int16_t st = check(granter_, ref, writable, *frame); st != GNTST_okay) return st;
    Pins& p = pins_[ref];
    (writable ? p.writers : p.readers)++;
    ++pins_held_;
    table_[ref].flags = static_cast<std::uint16_t>(table_[ref].flags | GTF_reading | (writable ? GTF_writing : 0));
    return GNTST_okay;
}

void LocalGrantTable::release(GrantRef ref, bool writable) {
    if (ref >= pins_.size()) return;
    Pins& p = pins_[ref];
    std::uint32_t& n = writable ? p.writers : p.readers;
    if (n == 0) return;
    --n;
    --pins_held_;
    std::uint16_t& f = table_[ref].flags;
    if (p.writers == 0) f = static_cast<std::uint16_t>(f & ~GTF_writing);
    if (p.writers == 0 && p.readers == 0) f = static_cast<std::uint16_t>(f & ~GTF_reading);
}

void LocalGrantTable::revoke(GrantRef ref) { table_.at(ref).flags = 0; }

std::int16_t LocalGrantTable::check(DomId domid, GrantRef ref, bool writable, std::size_t& frame) const {
    if (domid != granter_) return GNTST_bad_domain;
    if (ref >= table_.size()) return GNTST_bad_gntref;
    const grant_entry_v1_t& e = table_[ref];
    // Xen's _set_status_v1: the entry must permit access to exactly us, and
    // a read-only grant cannot be pinned for writing.
    if ((e.flags & GTF_type_mask) != GTF_permit_access || e.domid != grantee_) return GNTST_general_error;
    if (writable && (e.flags & GTF_readonly)) return GNTST_general_error;
    if (e.frame >= pages_) return GNTST_bad_page;
    frame = e.frame;
    return GNTST_okay;
}

std::pair<GrantMapping, std::int16_t> LocalGrantTable::map(DomId domid, std::span<const GrantRef> refs,
                                                           bool writable) {
    if (refs.empty()) return {GrantMapping(), GNTST_general_error};
    std::vector<std::size_t> frames(refs.size());
    for (std::size_t i = 0; i < refs.size(); ++i) {
        std::int16_t st = check(domid, refs[i], writable, frames[i]);
        if (st != GNTST_okay) return {GrantMapping(), st};
    }
    std::size_t len = refs.size() * kXenPageSize;
    int prot = PROT_READ | (writable ? PROT_WRITE : 0);
    // Reserve the range, then map each run of consecutive frames with one
    // call (a batch, as one gntdev ioctl maps many refs).
    void* base = ::mmap(nullptr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return {GrantMapping(), GNTST_no_device_space};
    for (std::size_t i = 0; i < refs.size();) {
        std::size_t run = 1;
        while (i + run < refs.size() && frames[i + run] == frames[i] + run) ++run;
        void* at = static_cast<std::byte*>(base) + i * kXenPageSize;
        if (::mmap(at, run * kXenPageSize, prot, MAP_SHARED | MAP_FIXED, memfd_.get(),
                   static_cast<off_t>(frames[i] * kXenPageSize)) == MAP_FAILED) {
            ::munmap(base, len);
            return {GrantMapping(), GNTST_no_device_space};
        }
        i += run;
    }
    mapped_ += refs.size();
    return {GrantMapping(this, static_cast<std::byte*>(base), refs.size(), 0), GNTST_okay};
}

void LocalGrantTable::unmap(std::byte* addr, std::size_t pages, std::uintptr_t) {
    ::munmap(addr, pages * kXenPageSize);
    mapped_ -= pages;
}

std::byte* LocalGrantTable::place(const CopyPlace& p, bool writable, std::int16_t& status) const {
    if (!p.foreign) return p.local;
    std::size_t frame = 0;
    status = check(p.domid, p.ref, writable, frame);
    return status == GNTST_okay ? page(frame) + p.offset : nullptr;
}

void LocalGrantTable::copy(std::span<CopyOp> ops) {
    ++copy_calls_;
    for (CopyOp& op : ops) {
        // GNTTABOP_copy: neither side may cross its frame.
        if ((op.source.foreign && op.source.offset + op.len > kXenPageSize) ||
            (op.dest.foreign && op.dest.offset + op.len > kXenPageSize)) {
            op.status = GNTST_bad_copy_arg;
            continue;
        }
        std::int16_t st = GNTST_okay;
        std::byte* src = place(op.source, false, st);
        if (st != GNTST_okay) { op.status = st; continue; }
        std::byte* dst = place(op.dest, true, st);
        if (st != GNTST_okay) { op.status = st; continue; }
        std::memmove(dst, src, op.len);
        op.status = GNTST_okay;
    }
}

void LocalGrantTable::hold(DomId domid, std::span<link::HeldSpan> spans, bool writable, link::GrantHold& into) {
    ++hold_calls_;
    for (link::HeldSpan& s : spans) {
        s.data = nullptr;
        std::size_t frame = 0;
        s.status = domid != granter_ ? std::int16_t{GNTST_bad_domain} : acquire(s.ref, writable, &frame);
        if (s.status != GNTST_okay) continue;
        if (s.offset + std::size_t{s.len} > kXenPageSize) {
            release(s.ref, writable);
            s.status = GNTST_bad_copy_arg;
            continue;
        }
        into.add(this, (std::uint64_t{s.ref} << 1) | (writable ? 1 : 0));
        s.data = page(frame) + s.offset;
    }
}

void LocalGrantTable::release_held(std::span<const std::uint64_t> cookies) {
    for (std::uint64_t c : cookies) release(static_cast<GrantRef>(c >> 1), (c & 1) != 0);
}

}  // namespace xenolith::backend
