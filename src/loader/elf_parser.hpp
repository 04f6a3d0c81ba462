// ELF32/ELF64 PVH image parsing: validated PT_LOAD segments and Xen notes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "loader/kernel_image.hpp"

namespace xenolith::loader {

struct ElfInfo {
    bool is_64bit = false;
    std::uint32_t phys32_entry = 0;
    std::vector<Segment> segments;
    std::uint64_t paddr_start = 0, paddr_end = 0;
    std::string guest_os;
    std::optional<std::uint64_t> hypercall_page;
};

inline bool has_elf_magic(ByteSpan data) {
    return data.size() >= 4 && data[0] == 0x7f && data[1] == 'E' && data[2] == 'L' &&
           data[3] == 'F';
}

// Validates `elf` as a little-endian x86 ET_EXEC image with a PHYS32 entry.
// Error texts carry no file name; parse_kernel prefixes it.
Result<ElfInfo> parse_elf(ByteSpan elf, const ParseLimits& limits);

}  // namespace xenolith::loader
