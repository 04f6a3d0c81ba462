#include "arch/x86/pagewalk.hpp"

#include <algorithm>

namespace xenolith::x86 {
namespace {

constexpr std::uint64_t kCr0Wp = 1ull << 16;
constexpr std::uint64_t kCr0Pg = 1ull << 31;
constexpr std::uint64_t kCr4Pse = 1ull << 4;
constexpr std::uint64_t kCr4Pae = 1ull << 5;
constexpr std::uint64_t kCr4La57 = 1ull << 12;
constexpr std::uint64_t kEferLma = 1ull << 10;
constexpr std::uint64_t kEferNxe = 1ull << 11;

constexpr std::uint64_t kPresent = 1ull << 0;
constexpr std::uint64_t kRw = 1ull << 1;
constexpr std::uint64_t kUs = 1ull << 2;
constexpr std::uint64_t kPs = 1ull << 7;
constexpr std::uint64_t kNx = 1ull << 63;
constexpr std::uint64_t kPageSize = 4096;

constexpr std::uint64_t bits(unsigned lo, unsigned hi_exclusive) {
    if (hi_exclusive <= lo) return 0;
    const std::uint64_t top = hi_exclusive >= 64 ? ~0ull : (1ull << hi_exclusive) - 1;
    return top & ~((1ull << lo) - 1);
}

WalkResult fault(WalkFault f) { return WalkResult{f, {}}; }

// One translation: the inputs every level needs.
class Walker {
public:
    Walker(const PagingState& s, std::uint64_t linear, Access access, PhysReader read,
           unsigned maxphy)
        : s_(s), linear_(linear), access_(access), read_(read), maxphy_(maxphy),
          addr_mask_(bits(12, maxphy)) {}

    WalkResult long_mode() const {
        if (!(s_.cr4 & kCr4Pae)) return fault(WalkFault::kReservedBit);  // LMA needs PAE
        const bool la57 = s_.cr4 & kCr4La57;
        const unsigned unused = la57 ? 64 - 57 : 64 - 48;
        const auto sign_extended = static_cast<std::uint64_t>(
            static_cast<std::int64_t>(linear_ << unused) >> unused);
        if (sign_extended != linear_) return fault(WalkFault::kNonCanonical);

        // Bits 62:52 are ignored in long mode; NX is reserved unless EFER.NXE.
        std::uint64_t rsvd = bits(maxphy_, 52);
        if (!(s_.efer & kEferNxe)) rsvd |= kNx;
        return walk64(la57 ? 5 : 4, s_.cr3 & addr_mask_, rsvd, true);
    }

    WalkResult pae() const {
        const std::uint64_t pdpt = s_.cr3 & bits(5, 32);
        const auto e = read_(pdpt + ((linear_ >> 30) & 3) * 8, 8);
        if (!e) return fault(WalkFault::kBadTableAddress);
        const std::uint64_t pdpte = *e;
        if (!(pdpte & kPresent)) return fault(WalkFault::kNotPresent);
        // PDPTEs have no RW/US/NX: bits 2:1, 8:5 and 63:maxphy are reserved.
        if (pdpte & (bits(1, 3) | bits(5, 9) | bits(maxphy_, 64)))
            return fault(WalkFault::kReservedBit);

        std::uint64_t rsvd = bits(maxphy_, 63);
        if (!(s_.efer & kEferNxe)) rsvd |= kNx;
        return walk64(2, pdpte & addr_mask_, rsvd, false);
    }

    WalkResult two_level() const {
        const auto pde_read = read_((s_.cr3 & bits(12, 32)) + ((linear_ >> 22) & 1023) * 4, 4);
        if (!pde_read) return fault(WalkFault::kBadTableAddress);
        const std::uint64_t pde = *pde_read & 0xffffffff;
        if (!(pde & kPresent)) return fault(WalkFault::kNotPresent);
        Translation t{0, kPageSize, (pde & kRw) != 0, (pde & kUs) != 0};

        if ((pde & kPs) && (s_.cr4 & kCr4Pse)) {
            // PSE-36: PDE bits 20:13 carry physical address bits 39:32; the
            // ones at or above maxphyaddr, and bit 21, are reserved.
            const unsigned high_bits = std::min(maxphy_, 40u) - 32;
            if (pde & bits(13 + high_bits, 22)) return fault(WalkFault::kReservedBit);
            const std::uint64_t high = (pde >> 13) & bits(0, high_bits);
            t.gpa = (high << 32) | (pde & bits(22, 32)) | (linear_ & bits(0, 22));
            t.page_size = 1ull << 22;
            return finish(t);
        }

        const auto pte_read = read_((pde & bits(12, 32)) + ((linear_ >> 12) & 1023) * 4, 4);
        if (!pte_read) return fault(WalkFault::kBadTableAddress);
        const std::uint64_t pte = *pte_read & 0xffffffff;
        if (!(pte & kPresent)) return fault(WalkFault::kNotPresent);
        t.writable = t.writable && (pte & kRw);
        t.user = t.user && (pte & kUs);
        t.gpa = (pte & bits(12, 32)) | (linear_ & (kPageSize - 1));
        return finish(t);
    }

private:
    // Walks 8-byte entries from `level` down to 1, starting at `table`.
    // `rsvd` holds the reserved bits common to every entry of the mode;
    // large pages are allowed at level 2 and, in long mode, level 3.
    WalkResult walk64(unsigned level, std::uint64_t table, std::uint64_t rsvd,
                      bool long_mode) const {
        Translation t{0, kPageSize, true, true};
        for (; level >= 1; --level) {
            const unsigned shift = 12 + 9 * (level - 1);
            const auto e = read_(table + ((linear_ >> shift) & 511) * 8, 8);
            if (!e) return fault(WalkFault::kBadTableAddress);
            const std::uint64_t entry = *e;
            if (!(entry & kPresent)) return fault(WalkFault::kNotPresent);
            if (entry & rsvd) return fault(WalkFault::kReservedBit);
            t.writable = t.writable && (entry & kRw);
            t.user = t.user && (entry & kUs);

            if (level > 1 && (entry & kPs)) {
                const bool large_ok = level == 2 || (level == 3 && long_mode);
                // Bit 12 is PAT; bits 13 up to the page size must be zero.
                if (!large_ok || (entry & bits(13, shift))) return fault(WalkFault::kReservedBit);
                const std::uint64_t page_mask = (1ull << shift) - 1;
                t.gpa = (entry & addr_mask_ & ~page_mask) | (linear_ & page_mask);
                t.page_size = 1ull << shift;
                return finish(t);
            }
            if (level == 1) {
                t.gpa = (entry & addr_mask_) | (linear_ & (kPageSize - 1));
                return finish(t);
            }
            table = entry & addr_mask_;
        }
        return fault(WalkFault::kReservedBit);  // unreachable: level 1 always returns
    }

    // Applies the permission checks once the walk found a mapping.
    WalkResult finish(const Translation& t) const {
        if (access_.user && !t.user) return fault(WalkFault::kUserProtected);
        if (access_.write && !t.writable && (access_.user || (s_.cr0 & kCr0Wp)))
            return fault(WalkFault::kWriteProtected);
        return WalkResult{WalkFault::kNone, t};
    }

    const PagingState& s_;
    std::uint64_t linear_;
    Access access_;
    PhysReader read_;
    unsigned maxphy_;
    std::uint64_t addr_mask_;
};

}  // namespace

WalkResult translate_linear(const PagingState& state, std::uint64_t linear, Access access,
                            PhysReader read, unsigned maxphyaddr) {
    const unsigned maxphy = std::clamp(maxphyaddr, 32u, 52u);
    if (!(state.cr0 & kCr0Pg)) {
        if (linear >> 32) return fault(WalkFault::kNonCanonical);
        return WalkResult{WalkFault::kNone, Translation{linear, kPageSize, true, true}};
    }
    const Walker w(state, linear, access, read, maxphy);
    if (state.efer & kEferLma) return w.long_mode();
    if (linear >> 32) return fault(WalkFault::kNonCanonical);
    if (state.cr4 & kCr4Pae) return w.pae();
    return w.two_level();
}

}  // namespace xenolith::x86
