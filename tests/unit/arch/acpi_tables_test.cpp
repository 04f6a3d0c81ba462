#include "arch/x86/acpi_tables.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "arch/x86/pvh_layout.hpp"
#include "base/bytes.hpp"

namespace xenolith::x86 {
namespace {

// A reader of the built block by guest-physical address, with raw ACPI
// offsets from the specification (independent of the builder's structs).
class Tables {
public:
    explicit Tables(const AcpiLayout& l) : l_(l) {}

    template <class T>
    T get(std::uint64_t gpa) const {
        EXPECT_GE(gpa, l_.base_gpa);
        const auto v = read_at<T>(l_.bytes, gpa - l_.base_gpa);
        EXPECT_TRUE(v.has_value()) << std::hex << "read at " << gpa << " outside block";
        return v.value_or(T{});
    }
    std::string text(std::uint64_t gpa, std::size_t len) const {
        std::string s;
        for (std::size_t i = 0; i < len; ++i)
            s.push_back(static_cast<char>(get<std::uint8_t>(gpa + i)));
        return s;
    }
    std::uint8_t sum(std::uint64_t gpa, std::size_t len) const {
        unsigned s = 0;
        for (std::size_t i = 0; i < len; ++i) s += get<std::uint8_t>(gpa + i);
        return static_cast<std::uint8_t>(s);
    }
    std::uint32_t length(std::uint64_t table) const { return get<std::uint32_t>(table + 4); }
    std::uint8_t revision(std::uint64_t table) const { return get<std::uint8_t>(table + 8); }

    // Signature -> address of each table in the XSDT.
    std::map<std::string, std::uint64_t> xsdt_tables() const {
        const auto xsdt = get<std::uint64_t>(l_.rsdp_gpa + 24);
        std::map<std::string, std::uint64_t> out;
        for (std::uint32_t off = 36; off + 8 <= length(xsdt); off += 8) {
            const auto t = get<std::uint64_t>(xsdt + off);
            out[text(t, 4)] = t;
        }
        return out;
    }

private:
    const AcpiLayout& l_;
};

struct MadtCpu {
    unsigned type;
    std::uint32_t uid;
    std::uint32_t apic_id;
    std::uint32_t flags;
};

struct Madt {
    std::vector<MadtCpu> cpus;
    std::vector<std::uint64_t> ioapics;  // address | id << 32 | gsi_base << 40
    bool well_formed = true;
};

Madt parse_madt(const Tables& t, std::uint64_t madt) {
    Madt m;
    const std::uint64_t end = madt + t.length(madt);
    for (std::uint64_t p = madt + 44; p < end;) {
        const auto type = t.get<std::uint8_t>(p);
        const auto len = t.get<std::uint8_t>(p + 1);
        if (len < 2 || p + len > end) {
            m.well_formed = false;
            break;
        }
        if (type == 0 && len == 8)
            m.cpus.push_back({0, t.get<std::uint8_t>(p + 2), t.get<std::uint8_t>(p + 3),
                              t.get<std::uint32_t>(p + 4)});
        else if (type == 9 && len == 16)
            m.cpus.push_back({9, t.get<std::uint32_t>(p + 12), t.get<std::uint32_t>(p + 4),
                              t.get<std::uint32_t>(p + 8)});
        else if (type == 1 && len == 12)
            m.ioapics.push_back(t.get<std::uint32_t>(p + 4) |
                                std::uint64_t{t.get<std::uint8_t>(p + 2)} << 32 |
                                std::uint64_t{t.get<std::uint32_t>(p + 8)} << 40);
        else
            m.well_formed = false;
        p += len;
    }
    return m;
}

TEST(AcpiTables, rsdp_is_first_aligned_and_has_both_checksums) {
    const auto l = build_acpi_tables(kAcpiGpa, 2, 4);
    const Tables t(l);
    EXPECT_EQ(l.rsdp_gpa, kAcpiGpa);
    EXPECT_EQ(l.rsdp_gpa % 16, 0u);
    EXPECT_EQ(t.text(l.rsdp_gpa, 8), "RSD PTR ");
    EXPECT_EQ(t.sum(l.rsdp_gpa, 20), 0);
    EXPECT_EQ(t.sum(l.rsdp_gpa, 36), 0);
    EXPECT_EQ(t.get<std::uint8_t>(l.rsdp_gpa + 15), 2);          // revision
    EXPECT_EQ(t.get<std::uint32_t>(l.rsdp_gpa + 16), 0u);        // no RSDT
    EXPECT_EQ(t.get<std::uint32_t>(l.rsdp_gpa + 20), 36u);       // length
    EXPECT_LE(l.bytes.size(), kAcpiMaxBytes);
}

TEST(AcpiTables, every_table_has_valid_length_checksum_and_alignment) {
    const auto l = build_acpi_tables(kAcpiGpa, 3, 8);
    const Tables t(l);
    const auto xsdt = t.get<std::uint64_t>(l.rsdp_gpa + 24);
    auto tables = t.xsdt_tables();
    ASSERT_EQ(tables.size(), 2u);
    ASSERT_TRUE(tables.count("FACP"));
    ASSERT_TRUE(tables.count("APIC"));
    tables["XSDT"] = xsdt;
    tables["DSDT"] = t.get<std::uint64_t>(tables["FACP"] + 140);
    for (const auto& [sig, gpa] : tables) {
        EXPECT_EQ(t.text(gpa, 4), sig);
        EXPECT_EQ(gpa % 16, 0u) << sig;
        EXPECT_GE(t.length(gpa), 36u) << sig;
        EXPECT_LE(gpa - l.base_gpa + t.length(gpa), l.bytes.size()) << sig;
        EXPECT_EQ(t.sum(gpa, t.length(gpa)), 0) << sig;
        EXPECT_EQ(t.text(gpa + 10, 3), "Xen") << sig;  // OEM ID
    }
    EXPECT_EQ(t.length(xsdt), 36u + 16u);
}

TEST(AcpiTables, fadt_is_hardware_reduced_acpi_6_3_pointing_at_dsdt) {
    const auto l = build_acpi_tables(kAcpiGpa, 1, 1);
    const Tables t(l);
    const auto fadt = t.xsdt_tables().at("FACP");
    EXPECT_EQ(t.length(fadt), 276u);
    EXPECT_EQ(t.revision(fadt), 6);
    EXPECT_EQ(t.get<std::uint8_t>(fadt + 131), 3);  // minor version
    const auto flags = t.get<std::uint32_t>(fadt + 112);
    EXPECT_TRUE(flags & (1u << 20)) << "HW_REDUCED_ACPI";
    const auto boot_arch = t.get<std::uint16_t>(fadt + 109);
    EXPECT_EQ(boot_arch, (1u << 2) | (1u << 5));  // no VGA, no CMOS RTC
    // No FACS and no fixed hardware in a hardware-reduced platform.
    EXPECT_EQ(t.get<std::uint32_t>(fadt + 36), 0u);
    EXPECT_EQ(t.get<std::uint64_t>(fadt + 132), 0u);
    EXPECT_EQ(t.get<std::uint32_t>(fadt + 56), 0u);  // PM1a_EVT_BLK

    const auto dsdt32 = t.get<std::uint32_t>(fadt + 40);
    const auto dsdt64 = t.get<std::uint64_t>(fadt + 140);
    EXPECT_EQ(dsdt32, dsdt64);
    EXPECT_EQ(t.text(dsdt64, 4), "DSDT");
    EXPECT_EQ(t.length(dsdt64), 36u);  // header only
    EXPECT_EQ(t.revision(dsdt64), 2);
}

TEST(AcpiTables, madt_lists_online_and_online_capable_cpus_and_ioapic) {
    const auto l = build_acpi_tables(kAcpiGpa, 2, 4);
    const Tables t(l);
    const auto madt = t.xsdt_tables().at("APIC");
    EXPECT_EQ(t.revision(madt), 5);
    EXPECT_EQ(t.get<std::uint32_t>(madt + 36), 0xfee00000u);
    EXPECT_EQ(t.get<std::uint32_t>(madt + 40), 0u);
    const auto m = parse_madt(t, madt);
    ASSERT_TRUE(m.well_formed);
    ASSERT_EQ(m.cpus.size(), 4u);
    for (unsigned i = 0; i < 4; ++i) {
        EXPECT_EQ(m.cpus[i].type, 0u);
        EXPECT_EQ(m.cpus[i].uid, i);
        EXPECT_EQ(m.cpus[i].apic_id, i);
        EXPECT_EQ(m.cpus[i].flags, i < 2 ? 1u : 2u) << "vcpu " << i;
    }
    ASSERT_EQ(m.ioapics.size(), 1u);
    EXPECT_EQ(m.ioapics[0], 0xfec00000u | std::uint64_t{4} << 32);  // id 4, GSI base 0
}

TEST(AcpiTables, online_count_is_clamped_to_max) {
    const auto l = build_acpi_tables(kAcpiGpa, 9, 3);
    const Tables t(l);
    const auto m = parse_madt(t, t.xsdt_tables().at("APIC"));
    ASSERT_EQ(m.cpus.size(), 3u);
    for (const auto& c : m.cpus) EXPECT_EQ(c.flags, 1u);
}

TEST(AcpiTables, zero_max_vcpus_still_describes_the_boot_cpu) {
    const auto l = build_acpi_tables(kAcpiGpa, 0, 0);
    const Tables t(l);
    const auto m = parse_madt(t, t.xsdt_tables().at("APIC"));
    ASSERT_EQ(m.cpus.size(), 1u);
    EXPECT_EQ(m.cpus[0].flags, 1u);  // vCPU 0 always boots
}

TEST(AcpiTables, apic_ids_from_255_use_x2apic_entries) {
    const auto l = build_acpi_tables(kAcpiGpa, 300, 300);
    const Tables t(l);
    const auto madt = t.xsdt_tables().at("APIC");
    EXPECT_EQ(t.sum(madt, t.length(madt)), 0);
    const auto m = parse_madt(t, madt);
    ASSERT_TRUE(m.well_formed);
    ASSERT_EQ(m.cpus.size(), 300u);
    EXPECT_EQ(m.cpus[254].type, 0u);
    EXPECT_EQ(m.cpus[255].type, 9u);
    EXPECT_EQ(m.cpus[255].apic_id, 255u);
    EXPECT_EQ(m.cpus[299].uid, 299u);
    EXPECT_EQ(m.ioapics[0] >> 32 & 0xff, 0xfeu);
}

TEST(AcpiTables, four_thousand_vcpus_fit_the_acpi_window) {
    const auto l = build_acpi_tables(kAcpiGpa, 1, 4096);
    EXPECT_LE(l.bytes.size(), kAcpiMaxBytes);
}

TEST(AcpiTables, unaligned_base_aligns_tables_in_guest_terms) {
    const auto l = build_acpi_tables(0x100008, 1, 2);
    const Tables t(l);
    EXPECT_EQ(l.rsdp_gpa, 0x100010u);
    EXPECT_EQ(t.sum(l.rsdp_gpa, 36), 0);
    for (const auto& [sig, gpa] : t.xsdt_tables()) EXPECT_EQ(gpa % 16, 0u) << sig;
}

TEST(AcpiTables, dsdt_above_4gib_is_only_in_x_dsdt) {
    const auto l = build_acpi_tables(0x1'0000'0000, 1, 1);
    const Tables t(l);
    const auto fadt = t.xsdt_tables().at("FACP");
    EXPECT_EQ(t.get<std::uint32_t>(fadt + 40), 0u);
    EXPECT_GE(t.get<std::uint64_t>(fadt + 140), 0x1'0000'0000u);
    EXPECT_EQ(t.sum(fadt, 276), 0);
}

}  // namespace
}  // namespace xenolith::x86
