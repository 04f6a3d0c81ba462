// Domains for grant-operation tests: real memfd-backed guest memory and a
// grant table whose frames are mapped into it, written from the test as the
// guest would write them.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>

#include <gtest/gtest.h>

extern "C" {
#include <xen/grant_table.h>
#include <xen/errno.h>
#include <xen/memory.h>
}

#include "grant/foreign_domain.hpp"
#include "grant/grant_table.hpp"
#include "memory/guest_memory.hpp"

namespace xenolith::grant::test {

inline constexpr std::uint64_t kMiB = 1 << 20;
inline constexpr std::uint64_t kTableGfn = 0x10;   // grant frame 0
inline constexpr std::uint64_t kStatusGfn = 0x11;  // v2 status frame 0
inline constexpr std::uint64_t kDataGfn = 0x100;   // first page the tests grant

struct TestDomain {
    domid_t domid;
    std::unique_ptr<GuestMemory> mem;
    GrantTable table{Limits{4, kMaxMaptrackFramesLimit, 2}};

    explicit TestDomain(domid_t id) : domid(id) {
        auto m = GuestMemory::create(8 * kMiB, "grant-test");
        EXPECT_TRUE(m);
        mem = std::move(*m);
        // max_pages as libxl sets it: memory + LIBXL_MAXMEM_CONSTANT (1 MiB).
        mem->set_max_pages(8 * kMiB / kPageSize + 256);
        place(0, kTableGfn);
    }

    // The guest maps a frame of its table at a RAM gfn (add_to_physmap).
    void place(std::uint64_t idx, std::uint64_t gfn) {
        ASSERT_EQ(table.map_frame(idx, gfn,
                                  [this](std::uint64_t g, std::span<const std::uint8_t> initial,
                                         std::uint8_t** host) -> long {
                                      std::uint8_t* p = page(g);
                                      std::memmove(p, initial.data(), initial.size());
                                      *host = p;
                                      return 0;
                                  }),
                  0);
    }
    void use_v2() {
        ASSERT_EQ(table.set_version(2), 0);
        place(XENMAPIDX_grant_table_status | 0, kStatusGfn);
    }

    std::uint8_t* page(std::uint64_t gfn) { return mem->host_ptr(gfn << kPageShift, kPageSize); }

    // The guest's view of its entries.
    grant_entry_v1_t* v1(grant_ref_t ref) {
        return reinterpret_cast<grant_entry_v1_t*>(page(kTableGfn)) + ref;
    }
    grant_entry_v2_t* v2(grant_ref_t ref) {
        return reinterpret_cast<grant_entry_v2_t*>(page(kTableGfn)) + ref;
    }
    std::uint16_t* status(grant_ref_t ref) {
        return reinterpret_cast<std::uint16_t*>(page(kStatusGfn)) + ref;
    }
    std::uint16_t flags(grant_ref_t ref) {
        return table.version() == 1 ? __atomic_load_n(&v1(ref)->flags, __ATOMIC_ACQUIRE)
                                    : __atomic_load_n(&v2(ref)->hdr.flags, __ATOMIC_ACQUIRE);
    }
    std::uint16_t status_flags(grant_ref_t ref) {
        return table.version() == 1 ? flags(ref) & (GTF_reading | GTF_writing)
                                    : __atomic_load_n(status(ref), __ATOMIC_ACQUIRE);
    }

    // gnttab_grant_foreign_access_ref: frame and domid first, flags last.
    void grant(grant_ref_t ref, domid_t to, std::uint64_t gfn, std::uint16_t flags) {
        // Atomic stores: the back-end side reads these words concurrently.
        if (table.version() == 1) {
            __atomic_store_n(&v1(ref)->frame, static_cast<std::uint32_t>(gfn), __ATOMIC_RELAXED);
            __atomic_store_n(&v1(ref)->domid, to, __ATOMIC_RELAXED);
            __atomic_store_n(&v1(ref)->flags, flags, __ATOMIC_RELEASE);
        } else {
            __atomic_store_n(&v2(ref)->full_page.frame, gfn, __ATOMIC_RELAXED);
            __atomic_store_n(&v2(ref)->hdr.domid, to, __ATOMIC_RELAXED);
            __atomic_store_n(&v2(ref)->hdr.flags, flags, __ATOMIC_RELEASE);
        }
    }
    void grant_sub_page(grant_ref_t ref, domid_t to, std::uint64_t gfn, std::uint16_t off,
                        std::uint16_t len, std::uint16_t flags) {
        v2(ref)->sub_page.frame = gfn;
        v2(ref)->sub_page.page_off = off;
        v2(ref)->sub_page.length = len;
        v2(ref)->hdr.domid = to;
        __atomic_store_n(&v2(ref)->hdr.flags,
                         static_cast<std::uint16_t>(flags | GTF_sub_page), __ATOMIC_RELEASE);
    }

    // Linux's gnttab_end_foreign_access_ref: true when the guest got the
    // entry back (no one has it mapped).
    bool end_access(grant_ref_t ref) {
        if (table.version() == 1) {
            std::uint16_t f = __atomic_load_n(&v1(ref)->flags, __ATOMIC_ACQUIRE);
            do {
                if (f & (GTF_reading | GTF_writing)) return false;
            } while (!__atomic_compare_exchange_n(&v1(ref)->flags, &f, std::uint16_t{0}, false,
                                                  __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE));
            return true;
        }
        __atomic_store_n(&v2(ref)->hdr.flags, std::uint16_t{0}, __ATOMIC_SEQ_CST);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        return !(__atomic_load_n(status(ref), __ATOMIC_ACQUIRE) & (GTF_reading | GTF_writing));
    }
};

// The daemon's domain table, as the grant operations look domains up.
class Domains {
public:
    TestDomain& add(domid_t id) {
        auto d = std::make_shared<TestDomain>(id);
        TestDomain& ref = *d;
        domains_[id] = std::move(d);
        return ref;
    }
    // xl destroy: the table forgets it; mappings may still hold it.
    std::weak_ptr<TestDomain> forget(domid_t id) {
        std::weak_ptr<TestDomain> w = domains_[id];
        domains_.erase(id);
        return w;
    }
    DomainLookup lookup() {
        return [this](domid_t id) -> std::optional<ForeignDomain> {
            auto it = domains_.find(id);
            if (it == domains_.end()) return std::nullopt;
            auto& d = it->second;
            return ForeignDomain{id, &d->table, d->mem.get(), d};
        };
    }

private:
    std::map<domid_t, std::shared_ptr<TestDomain>> domains_;
};

}  // namespace xenolith::grant::test
