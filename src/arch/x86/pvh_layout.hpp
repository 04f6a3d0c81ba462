// Guest-physical layout of a PVH domain and the memory map reported to it
// through hvm_start_info. xenolith's own policy, documented here once:
//
//   0x00000000-0x0009ffff  RAM
//   0x000a0000-0x000dffff  reserved  start-info block (hvm_start_info, memmap,
//                                    module list, strings) at kStartInfoGpa
//   0x000e0000-0x000fffff  ACPI      ACPI tables; RSDP first, at 0xe0000, so
//                                    the legacy BIOS-area scan finds it too
//   0x00100000-low_end     RAM       low_end = min(ram, kPvhLowRamLimit)
//   0xfec00000-0xfec00fff  reserved  IOAPIC
//   0xfee00000-0xfee00fff  reserved  local APIC
//   0x100000000-...        RAM       the rest of ram_bytes
//
// Backing memory covers [0, max(low_end, 1 MiB)) contiguously (the
// 0xa0000-0xfffff window is backed but not reported as RAM, as on a PC) and
// [4 GiB, 4 GiB + ram - low_end).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace xenolith::x86 {

inline constexpr std::uint64_t kPvhLowRamEnd = 0xa0000;        // end of RAM below 640 KiB
inline constexpr std::uint64_t kStartInfoGpa = 0xa0000;
inline constexpr std::uint64_t kStartInfoMaxBytes = 0x40000;   // up to kAcpiGpa
inline constexpr std::uint64_t kAcpiGpa = 0xe0000;
inline constexpr std::uint64_t kAcpiMaxBytes = 0x20000;        // up to 1 MiB
inline constexpr std::uint64_t kPvhHighRamStart = 0x100000;    // RAM resumes at 1 MiB
inline constexpr std::uint64_t kPvhLowRamLimit = 0xf0000000;   // MMIO hole below 4 GiB
inline constexpr std::uint64_t kPvhHighRamBase = 0x100000000;  // RAM above 4 GiB
inline constexpr std::uint64_t kIoApicGpa = 0xfec00000;
inline constexpr std::uint64_t kLapicGpa = 0xfee00000;
inline constexpr std::uint64_t kApicMmioSize = 0x1000;

// The local APIC id of a vCPU: KVM gives each vCPU the APIC id it was
// created with, and xenolith creates vCPU n with id n. (Xen's libxl uses
// 2n for HVM guests; nothing in the PVH ABI depends on it.) The MADT and
// CPUID both use this.
constexpr std::uint32_t apic_id_of_vcpu(std::uint32_t vcpu_id) { return vcpu_id; }

// One memory-map entry; `type` is a XEN_HVM_MEMMAP_TYPE_* value.
struct MemmapEntry {
    std::uint64_t addr = 0;
    std::uint64_t size = 0;
    std::uint32_t type = 0;

    friend bool operator==(const MemmapEntry&, const MemmapEntry&) = default;
};

// A guest-physical range that must be backed by memory.
struct BackedRange {
    std::uint64_t gpa = 0;
    std::uint64_t size = 0;

    friend bool operator==(const BackedRange&, const BackedRange&) = default;
};

// The memory map for a guest with `ram_bytes` of memory (page multiple).
// `extra` entries (e.g. the toolstack's special pages, type RESERVED) are
// merged in; the result is sorted by address. Entries in `extra` must not
// overlap RAM or each other (the caller's layout guarantees it).
std::vector<MemmapEntry> pvh_memory_map(std::uint64_t ram_bytes,
                                        std::span<const MemmapEntry> extra = {});

// The guest-physical ranges to back with memory for `ram_bytes` of RAM.
std::vector<BackedRange> pvh_backed_ranges(std::uint64_t ram_bytes);

}  // namespace xenolith::x86
