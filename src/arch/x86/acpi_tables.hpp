// Builder of the minimal ACPI table set a PVH guest needs to find its CPUs
// and interrupt controllers: RSDP -> XSDT -> {FADT -> DSDT, MADT}.
//
// The tables describe an ACPI 6.3 hardware-reduced platform (FADT flag
// HW_REDUCED_ACPI: no PM1/GPE blocks, no SCI, no FACS), which is what a PVH
// guest is: it powers off and reboots with SCHEDOP_shutdown, keeps time
// with Xen's PV clock and takes events through the upcall vector.
//
//   RSDP  rev 2, XSDT address only (RSDT address 0), both checksums
//   XSDT  FADT, MADT
//   FADT  rev 6.3, HW_REDUCED_ACPI | WBINVD, IAPC_BOOT_ARCH "no VGA, no
//         CMOS RTC", DSDT and X_DSDT -> DSDT (DSDT only when below 4 GiB)
//   DSDT  rev 2, header only (empty AML)
//   MADT  rev 5, LAPIC at 0xfee00000, flags 0 (no 8259 PIC in the
//         platform); one Processor Local APIC entry per vCPU up to max
//         (x2APIC entries for ids >= 255): "enabled" for online vCPUs,
//         "online capable" for the others, so the guest can hot-add them;
//         one I/O APIC at 0xfec00000, GSI base 0.
//
// Every table starts 16-byte aligned (in guest-physical terms) and RSDP
// comes first, so placed at kAcpiGpa the legacy 0xe0000-0xfffff scan finds it.
#pragma once

#include <cstdint>
#include <vector>

namespace xenolith::x86 {

// MADT I/O APIC id for a guest with `max_vcpus` vCPUs: the first id after
// the local APICs, kept below the xAPIC broadcast id.
constexpr std::uint8_t acpi_ioapic_id(unsigned max_vcpus) {
    return static_cast<std::uint8_t>(max_vcpus < 0xfe ? max_vcpus : 0xfe);
}

struct AcpiLayout {
    std::uint64_t base_gpa = 0;
    std::vector<std::uint8_t> bytes;  // copy to guest-physical base_gpa
    std::uint64_t rsdp_gpa = 0;       // for hvm_start_info.rsdp_paddr
};

// All tables packed from base_gpa; addresses inside are guest-physical.
// max_vcpus is raised to at least 1 and online_vcpus clamped to
// [1, max_vcpus] (vCPU 0 always boots); vCPUs [0, online_vcpus) are
// online. The result fits kAcpiMaxBytes for up to 4096 vCPUs.
AcpiLayout build_acpi_tables(std::uint64_t base_gpa, unsigned online_vcpus, unsigned max_vcpus);

}  // namespace xenolith::x86
