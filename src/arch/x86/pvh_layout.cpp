#include "arch/x86/pvh_layout.hpp"

#include <algorithm>
#include <cstdint>

#include <xen/arch-x86/hvm/start_info.h>

namespace xenolith::x86 {

std::vector<MemmapEntry> pvh_memory_map(std::uint64_t ram_bytes,
                                        std::span<const MemmapEntry> extra) {
    std::vector<MemmapEntry> map;
    const std::uint64_t low_end = std::min(ram_bytes, kPvhLowRamLimit);

    map.push_back({0, std::min(low_end, kPvhLowRamEnd), XEN_HVM_MEMMAP_TYPE_RAM});
    map.push_back({kStartInfoGpa, kStartInfoMaxBytes, XEN_HVM_MEMMAP_TYPE_RESERVED});
    map.push_back({kAcpiGpa, kAcpiMaxBytes, XEN_HVM_MEMMAP_TYPE_ACPI});
    if (low_end > kPvhHighRamStart)
        map.push_back({kPvhHighRamStart, low_end - kPvhHighRamStart, XEN_HVM_MEMMAP_TYPE_RAM});
    map.push_back({kIoApicGpa, kApicMmioSize, XEN_HVM_MEMMAP_TYPE_RESERVED});
    map.push_back({kLapicGpa, kApicMmioSize, XEN_HVM_MEMMAP_TYPE_RESERVED});
    if (ram_bytes > low_end)
        map.push_back({kPvhHighRamBase, ram_bytes - low_end, XEN_HVM_MEMMAP_TYPE_RAM});

    map.insert(map.end(), extra.begin(), extra.end());
    std::erase_if(map, [](const MemmapEntry& e) { return e.size == 0; });
    std::stable_sort(map.begin(), map.end(),
                     [](const MemmapEntry& a, const MemmapEntry& b) { return a.addr < b.addr; });
    return map;
}

std::vector<BackedRange> pvh_backed_ranges(std::uint64_t ram_bytes) {
    const std::uint64_t low_end = std::min(ram_bytes, kPvhLowRamLimit);
    std::vector<BackedRange> ranges;
    ranges.push_back({0, std::max(low_end, kPvhHighRamStart)});
    if (ram_bytes > low_end) ranges.push_back({kPvhHighRamBase, ram_bytes - low_end});
    return ranges;
}

}  // namespace xenolith::x86
