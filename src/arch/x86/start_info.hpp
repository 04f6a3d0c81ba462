// Builder of the PVH boot information block: struct hvm_start_info (version
// 1), the memory map, the module list and every string, laid out in one byte
// block that the loader copies to guest-physical `base_gpa`. The guest gets
// start_info_gpa in %ebx at its PVH entry point.
//
// Block layout (all offsets 8-byte aligned, pointers guest-physical):
//   +0                     struct hvm_start_info
//   memmap_paddr           hvm_memmap_table_entry[memmap.size()]
//   modlist_paddr          hvm_modlist_entry[modules.size()]
//   cmdline_paddr          command line, NUL-terminated
//   module cmdlines        each NUL-terminated
// Absent items have address 0, as the ABI says ("nothing is loaded at 0").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "arch/x86/pvh_layout.hpp"
#include "base/result.hpp"

namespace xenolith::x86 {

inline constexpr std::size_t kMaxCmdlineBytes = 64 * 1024;  // including the NUL
inline constexpr std::size_t kMaxStartInfoModules = 16;
inline constexpr std::size_t kMaxMemmapEntries = 128;

struct BootModule {
    std::uint64_t paddr = 0;
    std::uint64_t size = 0;
    std::optional<std::string> cmdline;
};

struct StartInfoSpec {
    std::uint64_t base_gpa = kStartInfoGpa;      // 8-byte aligned, non-zero
    std::uint64_t max_bytes = kStartInfoMaxBytes;  // room reserved at base_gpa
    std::vector<MemmapEntry> memmap;
    std::string cmdline;                 // empty: no command line (address 0)
    std::vector<BootModule> modules;
    std::uint64_t rsdp_paddr = 0;
    std::uint32_t flags = 0;             // SIF_* (0 for a domU)
};

struct StartInfoBlock {
    std::vector<std::uint8_t> bytes;  // copy to guest-physical start_info_gpa
    std::uint64_t start_info_gpa = 0;
};

// Errors: command line or a module command line of kMaxCmdlineBytes or more,
// or containing a NUL; more than kMaxStartInfoModules modules or
// kMaxMemmapEntries memmap entries; a memmap type outside
// XEN_HVM_MEMMAP_TYPE_*; a misaligned or zero base; a block larger than
// max_bytes or ending above 4 GiB (the guest starts in 32-bit mode).
Result<StartInfoBlock> build_start_info(const StartInfoSpec& spec);

}  // namespace xenolith::x86
