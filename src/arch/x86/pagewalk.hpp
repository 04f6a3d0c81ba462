// Guest linear -> guest physical translation, for reading hypercall
// arguments that guests pass by linear address. Covers every paging mode a
// guest can be in: paging off, 32-bit 2-level (4 MiB pages with CR4.PSE),
// PAE 3-level (2 MiB pages), 4-level long mode (1 GiB and 2 MiB pages) and
// 5-level (CR4.LA57).
//
// The walk reads at most one entry per level, so hostile tables (an entry
// pointing at its own table, loops) cannot make it run longer. It reads
// page-table entries through a PhysReader and never writes: accessed/dirty
// bits are not set, and PAE PDPTEs are read from memory rather than from the
// registers the CPU loaded at the last CR3 write. SMEP/SMAP and protection
// keys are not checked (the hypervisor accesses on the guest's behalf).
// Translation is per page: a caller copying a range crossing a page
// boundary translates each page.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <type_traits>

namespace xenolith::x86 {

// Control registers and EFER as the vCPU has them (kvm_sregs).
struct PagingState {
    std::uint64_t cr0 = 0;
    std::uint64_t cr3 = 0;
    std::uint64_t cr4 = 0;
    std::uint64_t efer = 0;
};

// Physical address width: CPUID 0x80000008 EAX[7:0] as the guest sees it.
// Entry address bits at or above it are reserved.
inline constexpr unsigned kDefaultMaxPhysAddr = 52;

enum class WalkFault : std::uint8_t {
    kNone,
    kNotPresent,      // an entry on the walk has P=0
    kReservedBit,     // a reserved bit is set in an entry (or in CR3/state)
    kNonCanonical,    // address outside the mode's linear address space
    kWriteProtected,  // write to a read-only mapping (RW=0 and CR0.WP or user)
    kUserProtected,   // user access to a supervisor mapping
    kBadTableAddress, // an entry lies outside guest memory (reader failed)
};

// How the guest would access the address.
struct Access {
    bool write = false;
    bool user = false;  // CPL 3; hypercalls come from CPL 0
};

struct Translation {
    std::uint64_t gpa = 0;        // guest-physical address of the linear address
    std::uint64_t page_size = 0;  // 4 KiB (also with paging off), 2 MiB, 4 MiB or 1 GiB
    bool writable = false;        // RW=1 on every level (always true with paging off)
    bool user = false;            // US=1 on every level
};

struct WalkResult {
    WalkFault fault = WalkFault::kNone;
    Translation translation{};

    bool ok() const { return fault == WalkFault::kNone; }
};

// Non-owning reference to a callable
//   std::optional<std::uint64_t>(std::uint64_t gpa, unsigned size)
// returning the little-endian value of `size` (4 or 8) bytes at guest-
// physical `gpa`, or nullopt when they are not in guest memory. Costs one
// indirect call per read; the callable must outlive the reader.
class PhysReader {
public:
    template <class F>
        requires(!std::is_same_v<std::remove_cvref_t<F>, PhysReader> &&
                 std::is_invocable_r_v<std::optional<std::uint64_t>, F&, std::uint64_t, unsigned>)
    PhysReader(F&& f)  // NOLINT: implicit by design, binds lambdas at call sites
        : obj_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
          call_([](void* obj, std::uint64_t gpa, unsigned size) -> std::optional<std::uint64_t> {
              return (*static_cast<std::remove_reference_t<F>*>(obj))(gpa, size);
          }) {}

    std::optional<std::uint64_t> operator()(std::uint64_t gpa, unsigned size) const {
        return call_(obj_, gpa, size);
    }

private:
    void* obj_;
    std::optional<std::uint64_t> (*call_)(void*, std::uint64_t, unsigned);
};

// Translates `linear` for `access` in the paging mode `state` describes.
// With paging off the linear address space is 32 bits wide; beyond it, and
// for non-canonical addresses in long mode, the result is kNonCanonical.
// `maxphyaddr` is clamped to [32, 52].
WalkResult translate_linear(const PagingState& state, std::uint64_t linear, Access access,
                            PhysReader read, unsigned maxphyaddr = kDefaultMaxPhysAddr);

}  // namespace xenolith::x86
