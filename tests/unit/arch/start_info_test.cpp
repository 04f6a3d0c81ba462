#include "arch/x86/start_info.hpp"

#include <gtest/gtest.h>

#include <xen/arch-x86/hvm/start_info.h>

#include <cstring>
#include <string>

#include "base/bytes.hpp"

namespace xenolith::x86 {
namespace {

constexpr std::uint64_t kBase = 0xa0000;

StartInfoSpec typical() {
    StartInfoSpec s;
    s.base_gpa = kBase;
    s.memmap = pvh_memory_map(256ull << 20);
    s.cmdline = "console=hvc0 root=/dev/xvda1";
    s.modules = {{0x2000000, 0x1234, std::string("initrd args")}, {0x3000000, 0x10, std::nullopt}};
    s.rsdp_paddr = 0xe0000;
    return s;
}

// Reads a T at guest-physical `gpa` in the block.
template <class T>
T at(const StartInfoBlock& b, std::uint64_t gpa) {
    const auto v = read_at<T>(b.bytes, gpa - kBase);
    EXPECT_TRUE(v.has_value()) << "gpa " << std::hex << gpa << " outside block";
    return v.value_or(T{});
}

std::string string_at(const StartInfoBlock& b, std::uint64_t gpa) {
    EXPECT_GE(gpa, kBase);
    EXPECT_LT(gpa - kBase, b.bytes.size());
    const auto* p = reinterpret_cast<const char*>(b.bytes.data() + (gpa - kBase));
    const std::size_t max = b.bytes.size() - (gpa - kBase);
    const std::size_t len = strnlen(p, max);
    EXPECT_LT(len, max) << "string not NUL-terminated inside the block";
    return {p, len};
}

TEST(StartInfo, header_has_magic_version_and_counts) {
    const auto r = build_start_info(typical());
    ASSERT_TRUE(r.ok()) << r.error().what;
    EXPECT_EQ(r->start_info_gpa, kBase);
    EXPECT_EQ(r->bytes.size() % 8, 0u);
    const auto si = at<hvm_start_info>(*r, kBase);
    EXPECT_EQ(si.magic, XEN_HVM_START_MAGIC_VALUE);
    EXPECT_EQ(si.version, 1u);
    EXPECT_EQ(si.flags, 0u);
    EXPECT_EQ(si.nr_modules, 2u);
    EXPECT_EQ(si.rsdp_paddr, 0xe0000u);
    EXPECT_EQ(si.memmap_entries, typical().memmap.size());
    EXPECT_EQ(si.reserved, 0u);
}

TEST(StartInfo, pointers_lead_to_memmap_modules_and_strings) {
    const auto spec = typical();
    const auto r = build_start_info(spec);
    ASSERT_TRUE(r.ok());
    const auto si = at<hvm_start_info>(*r, kBase);

    EXPECT_EQ(si.memmap_paddr % 8, 0u);
    for (std::size_t i = 0; i < spec.memmap.size(); ++i) {
        const auto e = at<hvm_memmap_table_entry>(*r, si.memmap_paddr + i * 24);
        EXPECT_EQ(e.addr, spec.memmap[i].addr);
        EXPECT_EQ(e.size, spec.memmap[i].size);
        EXPECT_EQ(e.type, spec.memmap[i].type);
        EXPECT_EQ(e.reserved, 0u);
    }

    EXPECT_EQ(si.modlist_paddr % 8, 0u);
    const auto m0 = at<hvm_modlist_entry>(*r, si.modlist_paddr);
    const auto m1 = at<hvm_modlist_entry>(*r, si.modlist_paddr + 32);
    EXPECT_EQ(m0.paddr, 0x2000000u);
    EXPECT_EQ(m0.size, 0x1234u);
    EXPECT_EQ(string_at(*r, m0.cmdline_paddr), "initrd args");
    EXPECT_EQ(m1.paddr, 0x3000000u);
    EXPECT_EQ(m1.cmdline_paddr, 0u);
    EXPECT_EQ(m1.reserved, 0u);

    EXPECT_EQ(string_at(*r, si.cmdline_paddr), spec.cmdline);
}

TEST(StartInfo, parts_do_not_overlap) {
    const auto spec = typical();
    const auto r = build_start_info(spec);
    ASSERT_TRUE(r.ok());
    const auto si = at<hvm_start_info>(*r, kBase);
    EXPECT_GE(si.memmap_paddr, kBase + sizeof(hvm_start_info));
    EXPECT_GE(si.modlist_paddr, si.memmap_paddr + 24 * spec.memmap.size());
    EXPECT_GE(si.cmdline_paddr, si.modlist_paddr + 32 * spec.modules.size());
}

TEST(StartInfo, absent_items_have_address_zero) {
    StartInfoSpec s;
    s.base_gpa = kBase;
    const auto r = build_start_info(s);
    ASSERT_TRUE(r.ok());
    const auto si = at<hvm_start_info>(*r, kBase);
    EXPECT_EQ(si.cmdline_paddr, 0u);
    EXPECT_EQ(si.modlist_paddr, 0u);
    EXPECT_EQ(si.nr_modules, 0u);
    EXPECT_EQ(si.memmap_paddr, 0u);
    EXPECT_EQ(si.memmap_entries, 0u);
    EXPECT_EQ(r->bytes.size(), sizeof(hvm_start_info));
}

TEST(StartInfo, cmdline_at_limit_is_accepted_and_over_is_rejected) {
    StartInfoSpec s = typical();
    s.cmdline.assign(kMaxCmdlineBytes - 1, 'x');
    EXPECT_TRUE(build_start_info(s).ok());
    s.cmdline.push_back('x');
    const auto r = build_start_info(s);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("command line too long"), std::string::npos);
}

TEST(StartInfo, cmdline_with_nul_is_rejected) {
    StartInfoSpec s = typical();
    s.cmdline = std::string("a\0b", 3);
    EXPECT_FALSE(build_start_info(s).ok());
}

TEST(StartInfo, too_many_modules_is_rejected) {
    StartInfoSpec s = typical();
    s.modules.assign(kMaxStartInfoModules, BootModule{0x100000, 1, std::nullopt});
    EXPECT_TRUE(build_start_info(s).ok());
    s.modules.push_back({0x100000, 1, std::nullopt});
    const auto r = build_start_info(s);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("too many boot modules"), std::string::npos);
}

TEST(StartInfo, long_module_cmdline_is_rejected) {
    StartInfoSpec s = typical();
    s.modules[0].cmdline = std::string(kMaxCmdlineBytes, 'y');
    EXPECT_FALSE(build_start_info(s).ok());
}

TEST(StartInfo, invalid_memmap_type_is_rejected) {
    StartInfoSpec s = typical();
    s.memmap.push_back({0x200000000, 4096, 0});
    EXPECT_FALSE(build_start_info(s).ok());
    s.memmap.back().type = XEN_HVM_MEMMAP_TYPE_PMEM + 1;
    EXPECT_FALSE(build_start_info(s).ok());
}

TEST(StartInfo, bad_base_is_rejected) {
    StartInfoSpec s = typical();
    s.base_gpa = 0;
    EXPECT_FALSE(build_start_info(s).ok());
    s.base_gpa = kBase + 4;
    EXPECT_FALSE(build_start_info(s).ok());
    s.base_gpa = 0x100000000 - 64;  // block would cross 4 GiB
    EXPECT_FALSE(build_start_info(s).ok());
}

TEST(StartInfo, block_larger_than_reserved_room_is_rejected) {
    StartInfoSpec s = typical();
    s.max_bytes = 128;
    const auto r = build_start_info(s);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("reserved"), std::string::npos);
}

TEST(StartInfo, worst_case_fits_default_window) {
    StartInfoSpec s = typical();
    s.cmdline.assign(kMaxCmdlineBytes - 1, 'x');
    s.memmap.assign(kMaxMemmapEntries, MemmapEntry{0, 4096, XEN_HVM_MEMMAP_TYPE_RAM});
    s.modules.assign(2, BootModule{0x100000, 1, std::string(kMaxCmdlineBytes - 1, 'm')});
    EXPECT_TRUE(build_start_info(s).ok());
}

TEST(StartInfo, flags_are_passed_through) {
    StartInfoSpec s = typical();
    s.flags = 3;
    const auto r = build_start_info(s);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(at<hvm_start_info>(*r, kBase).flags, 3u);
}

}  // namespace
}  // namespace xenolith::x86
