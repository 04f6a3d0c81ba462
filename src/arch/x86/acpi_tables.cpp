#include "arch/x86/acpi_tables.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <numeric>
#include <string_view>

#include "arch/x86/pvh_layout.hpp"

namespace xenolith::x86 {
namespace {

// ACPI 6.3 structures (the Xen headers do not carry them).
struct [[gnu::packed]] Rsdp {
    char signature[8];
    std::uint8_t checksum;  // bytes [0, 20)
    char oem_id[6];
    std::uint8_t revision;
    std::uint32_t rsdt_address;
    std::uint32_t length;
    std::uint64_t xsdt_address;
    std::uint8_t extended_checksum;  // whole structure
    std::uint8_t reserved[3];
};
static_assert(sizeof(Rsdp) == 36);
constexpr std::size_t kRsdpV1Length = 20;

struct [[gnu::packed]] SdtHeader {
    char signature[4];
    std::uint32_t length;
    std::uint8_t revision;
    std::uint8_t checksum;
    char oem_id[6];
    char oem_table_id[8];
    std::uint32_t oem_revision;
    char creator_id[4];
    std::uint32_t creator_revision;
};
static_assert(sizeof(SdtHeader) == 36);

struct [[gnu::packed]] GenericAddress {
    std::uint8_t space_id;
    std::uint8_t bit_width;
    std::uint8_t bit_offset;
    std::uint8_t access_size;
    std::uint64_t address;
};
static_assert(sizeof(GenericAddress) == 12);

struct [[gnu::packed]] Fadt {
    SdtHeader header;
    std::uint32_t firmware_ctrl;
    std::uint32_t dsdt;
    std::uint8_t reserved0;
    std::uint8_t preferred_pm_profile;
    std::uint16_t sci_int;
    std::uint32_t smi_cmd;
    std::uint8_t acpi_enable;
    std::uint8_t acpi_disable;
    std::uint8_t s4bios_req;
    std::uint8_t pstate_cnt;
    std::uint32_t pm1a_evt_blk;
    std::uint32_t pm1b_evt_blk;
    std::uint32_t pm1a_cnt_blk;
    std::uint32_t pm1b_cnt_blk;
    std::uint32_t pm2_cnt_blk;
    std::uint32_t pm_tmr_blk;
    std::uint32_t gpe0_blk;
    std::uint32_t gpe1_blk;
    std::uint8_t pm1_evt_len;
    std::uint8_t pm1_cnt_len;
    std::uint8_t pm2_cnt_len;
    std::uint8_t pm_tmr_len;
    std::uint8_t gpe0_blk_len;
    std::uint8_t gpe1_blk_len;
    std::uint8_t gpe1_base;
    std::uint8_t cst_cnt;
    std::uint16_t p_lvl2_lat;
    std::uint16_t p_lvl3_lat;
    std::uint16_t flush_size;
    std::uint16_t flush_stride;
    std::uint8_t duty_offset;
    std::uint8_t duty_width;
    std::uint8_t day_alrm;
    std::uint8_t mon_alrm;
    std::uint8_t century;
    std::uint16_t iapc_boot_arch;
    std::uint8_t reserved1;
    std::uint32_t flags;
    GenericAddress reset_reg;
    std::uint8_t reset_value;
    std::uint16_t arm_boot_arch;
    std::uint8_t minor_version;
    std::uint64_t x_firmware_ctrl;
    std::uint64_t x_dsdt;
    GenericAddress x_pm1a_evt_blk;
    GenericAddress x_pm1b_evt_blk;
    GenericAddress x_pm1a_cnt_blk;
    GenericAddress x_pm1b_cnt_blk;
    GenericAddress x_pm2_cnt_blk;
    GenericAddress x_pm_tmr_blk;
    GenericAddress x_gpe0_blk;
    GenericAddress x_gpe1_blk;
    GenericAddress sleep_control_reg;
    GenericAddress sleep_status_reg;
    std::uint64_t hypervisor_vendor_id;
};
static_assert(sizeof(Fadt) == 276);

struct [[gnu::packed]] MadtHeader {
    SdtHeader header;
    std::uint32_t lapic_address;
    std::uint32_t flags;
};
static_assert(sizeof(MadtHeader) == 44);

struct [[gnu::packed]] MadtLapic {
    std::uint8_t type;  // 0
    std::uint8_t length;
    std::uint8_t processor_uid;
    std::uint8_t apic_id;
    std::uint32_t flags;
};
static_assert(sizeof(MadtLapic) == 8);

struct [[gnu::packed]] MadtIoApic {
    std::uint8_t type;  // 1
    std::uint8_t length;
    std::uint8_t ioapic_id;
    std::uint8_t reserved;
    std::uint32_t address;
    std::uint32_t gsi_base;
};
static_assert(sizeof(MadtIoApic) == 12);

struct [[gnu::packed]] MadtX2Apic {
    std::uint8_t type;  // 9
    std::uint8_t length;
    std::uint16_t reserved;
    std::uint32_t x2apic_id;
    std::uint32_t flags;
    std::uint32_t processor_uid;
};
static_assert(sizeof(MadtX2Apic) == 16);

constexpr std::uint8_t kMadtTypeLapic = 0;
constexpr std::uint8_t kMadtTypeIoApic = 1;
constexpr std::uint8_t kMadtTypeX2Apic = 9;
constexpr std::uint32_t kMadtEnabled = 1u << 0;
constexpr std::uint32_t kMadtOnlineCapable = 1u << 1;
constexpr std::uint32_t kFadtWbinvd = 1u << 0;
constexpr std::uint32_t kFadtHwReducedAcpi = 1u << 20;
constexpr std::uint16_t kBootArchNoVga = 1u << 2;
constexpr std::uint16_t kBootArchNoCmosRtc = 1u << 5;
// Revisions of ACPI 6.3, the first version with the MADT "online capable"
// flag; Linux checks the FADT version (>= 6.3) and the MADT revision (>= 5).
constexpr std::uint8_t kFadtRevision = 6;
constexpr std::uint8_t kFadtMinorVersion = 3;
constexpr std::uint8_t kMadtRevision = 5;
constexpr std::uint8_t kDsdtRevision = 2;  // 64-bit AML integers
constexpr std::uint8_t kXsdtRevision = 1;
constexpr std::uint8_t kRsdpRevision = 2;
constexpr std::uint32_t kFirstX2ApicId = 0xff;  // xAPIC ids stop below broadcast

template <std::size_t N>
void fill_text(char (&dst)[N], std::string_view src) {
    std::memset(dst, 0, N);
    std::memcpy(dst, src.data(), std::min(N, src.size()));
}

std::uint8_t checksum_of(const std::uint8_t* p, std::size_t len) {
    const auto sum = std::accumulate(p, p + len, 0u);
    return static_cast<std::uint8_t>(0x100 - (sum & 0xff));
}

SdtHeader make_header(std::string_view sig, std::uint32_t length, std::uint8_t revision) {
    SdtHeader h{};
    fill_text(h.signature, sig);
    h.length = length;
    h.revision = revision;
    fill_text(h.oem_id, "Xen");
    fill_text(h.oem_table_id, "HVM");
    h.oem_revision = 0;
    fill_text(h.creator_id, "XNLT");
    h.creator_revision = 1;
    return h;
}

// Appends tables to a byte block, each at a 16-byte aligned guest address.
class TableWriter {
public:
    explicit TableWriter(std::uint64_t base) : base_(base) {}

    // Reserves `len` zeroed bytes; returns their offset in the block.
    std::size_t reserve(std::size_t len) {
        const std::uint64_t gpa = (base_ + bytes_.size() + 15) & ~std::uint64_t{15};
        const std::size_t off = static_cast<std::size_t>(gpa - base_);
        bytes_.resize(off + len, 0);
        return off;
    }
    template <class T>
    void put(std::size_t off, const T& v) {
        std::memcpy(bytes_.data() + off, &v, sizeof(T));
    }
    std::uint64_t gpa(std::size_t off) const { return base_ + off; }
    // Sets the one-byte checksum at `off + at` so [off, off+len) sums to 0.
    void checksum(std::size_t off, std::size_t len, std::size_t at) {
        bytes_[off + at] = 0;
        bytes_[off + at] = checksum_of(bytes_.data() + off, len);
    }
    std::vector<std::uint8_t> take() { return std::move(bytes_); }

private:
    std::uint64_t base_;
    std::vector<std::uint8_t> bytes_;
};

constexpr std::size_t kSdtChecksumAt = offsetof(SdtHeader, checksum);

std::size_t write_dsdt(TableWriter& w) {
    const std::size_t off = w.reserve(sizeof(SdtHeader));
    w.put(off, make_header("DSDT", sizeof(SdtHeader), kDsdtRevision));
    w.checksum(off, sizeof(SdtHeader), kSdtChecksumAt);
    return off;
}

std::size_t write_fadt(TableWriter& w, std::uint64_t dsdt_gpa) {
    const std::size_t off = w.reserve(sizeof(Fadt));
    Fadt f{};
    f.header = make_header("FACP", sizeof(Fadt), kFadtRevision);
    f.minor_version = kFadtMinorVersion;
    f.flags = kFadtWbinvd | kFadtHwReducedAcpi;
    f.iapc_boot_arch = kBootArchNoVga | kBootArchNoCmosRtc;
    f.dsdt = dsdt_gpa < 0x100000000 ? static_cast<std::uint32_t>(dsdt_gpa) : 0;
    f.x_dsdt = dsdt_gpa;
    w.put(off, f);
    w.checksum(off, sizeof(Fadt), kSdtChecksumAt);
    return off;
}

std::size_t write_madt(TableWriter& w, unsigned online_vcpus, unsigned max_vcpus) {
    std::size_t len = sizeof(MadtHeader) + sizeof(MadtIoApic);
    for (unsigned i = 0; i < max_vcpus; ++i)
        len += apic_id_of_vcpu(i) < kFirstX2ApicId ? sizeof(MadtLapic) : sizeof(MadtX2Apic);

    const std::size_t off = w.reserve(len);
    MadtHeader h{};
    h.header = make_header("APIC", static_cast<std::uint32_t>(len), kMadtRevision);
    h.lapic_address = static_cast<std::uint32_t>(kLapicGpa);
    h.flags = 0;
    w.put(off, h);

    std::size_t at = off + sizeof(MadtHeader);
    for (unsigned i = 0; i < max_vcpus; ++i) {
        const std::uint32_t flags = i < online_vcpus ? kMadtEnabled : kMadtOnlineCapable;
        const std::uint32_t apic_id = apic_id_of_vcpu(i);
        if (apic_id < kFirstX2ApicId) {
            MadtLapic e{};
            e.type = kMadtTypeLapic;
            e.length = sizeof(e);
            e.processor_uid = static_cast<std::uint8_t>(i);
            e.apic_id = static_cast<std::uint8_t>(apic_id);
            e.flags = flags;
            w.put(at, e);
            at += sizeof(e);
        } else {
            MadtX2Apic e{};
            e.type = kMadtTypeX2Apic;
            e.length = sizeof(e);
            e.x2apic_id = apic_id;
            e.flags = flags;
            e.processor_uid = i;
            w.put(at, e);
            at += sizeof(e);
        }
    }
    MadtIoApic io{};
    io.type = kMadtTypeIoApic;
    io.length = sizeof(io);
    io.ioapic_id = acpi_ioapic_id(max_vcpus);
    io.address = static_cast<std::uint32_t>(kIoApicGpa);
    io.gsi_base = 0;
    w.put(at, io);

    w.checksum(off, len, kSdtChecksumAt);
    return off;
}

}  // namespace

AcpiLayout build_acpi_tables(std::uint64_t base_gpa, unsigned online_vcpus, unsigned max_vcpus) {
    max_vcpus = std::max(max_vcpus, 1u);
    online_vcpus = std::clamp(online_vcpus, 1u, max_vcpus);  // vCPU 0 boots

    TableWriter w(base_gpa);
    const std::size_t rsdp_off = w.reserve(sizeof(Rsdp));
    const std::size_t xsdt_len = sizeof(SdtHeader) + 2 * sizeof(std::uint64_t);
    const std::size_t xsdt_off = w.reserve(xsdt_len);
    const std::size_t dsdt_off = write_dsdt(w);
    const std::size_t fadt_off = write_fadt(w, w.gpa(dsdt_off));
    const std::size_t madt_off = write_madt(w, online_vcpus, max_vcpus);

    w.put(xsdt_off, make_header("XSDT", static_cast<std::uint32_t>(xsdt_len), kXsdtRevision));
    w.put(xsdt_off + sizeof(SdtHeader), w.gpa(fadt_off));
    w.put(xsdt_off + sizeof(SdtHeader) + 8, w.gpa(madt_off));
    w.checksum(xsdt_off, xsdt_len, kSdtChecksumAt);

    Rsdp r{};
    std::memcpy(r.signature, "RSD PTR ", 8);
    fill_text(r.oem_id, "Xen");
    r.revision = kRsdpRevision;
    r.rsdt_address = 0;
    r.length = sizeof(Rsdp);
    r.xsdt_address = w.gpa(xsdt_off);
    w.put(rsdp_off, r);
    w.checksum(rsdp_off, kRsdpV1Length, offsetof(Rsdp, checksum));
    w.checksum(rsdp_off, sizeof(Rsdp), offsetof(Rsdp, extended_checksum));

    AcpiLayout out;
    out.base_gpa = base_gpa;
    out.rsdp_gpa = w.gpa(rsdp_off);
    out.bytes = w.take();
    return out;
}

}  // namespace xenolith::x86
