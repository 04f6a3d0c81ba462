// Real Linux kernels: set XENOLITH_LINUX_IMAGES to a directory holding
// vmlinuz-* files (fetch-debian-kernels.sh makes one). Each is parsed twice;
// one copy is rewritten and compared byte for byte with the other. When a
// real System.map-<version> sits next to a vmlinuz-<version> (the -dbg
// package has it; the image package ships a placeholder), the rewritten
// paddrs must be exactly xen_hypercall_amd and xen_hypercall_intel.
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "arch/x86/hypercall_port.hpp"
#include "loader/kernel_image.hpp"

namespace xenolith::loader {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

Bytes read_file(const fs::path& p) {
    Bytes out(fs::file_size(p));
    std::ifstream f(p, std::ios::binary);
    f.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size()));
    return f ? out : Bytes{};
}

// Offsets where a and b (same size) differ; memcmp skips equal 4 KiB blocks.
std::vector<std::size_t> differing_offsets(const Bytes& a, const Bytes& b) {
    constexpr std::size_t kBlock = 4096;
    std::vector<std::size_t> out;
    for (std::size_t base = 0; base < a.size(); base += kBlock) {
        const std::size_t n = std::min(kBlock, a.size() - base);
        if (std::memcmp(a.data() + base, b.data() + base, n) == 0) continue;
        for (std::size_t i = base; i < base + n; ++i) {
            if (a[i] != b[i]) out.push_back(i);
        }
    }
    return out;
}

// Symbol -> address for the names we care about; empty for placeholders.
std::map<std::string, std::uint64_t> hypercall_symbols(const fs::path& map) {
    std::map<std::string, std::uint64_t> out;
    std::ifstream f(map);
    std::string line;
    while (std::getline(f, line)) {
        std::istringstream s(line);
        std::string addr, type, name;
        if (!(s >> addr >> type >> name)) continue;
        if (name == "xen_hypercall_amd" || name == "xen_hypercall_intel") {
            out[name] = std::stoull(addr, nullptr, 16);
        }
    }
    return out;
}

std::vector<fs::path> images(const char* dir) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.is_regular_file() && e.path().filename().string().rfind("vmlinuz", 0) == 0) {
            out.push_back(e.path());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::string hex_list(const std::vector<std::uint64_t>& v) {
    std::string out;
    for (auto x : v) out += fmt::format("{}{:#x}", out.empty() ? "" : ", ", x);
    return out;
}

void check_image(const fs::path& path) {
    SCOPED_TRACE(path.string());
    const Bytes file = read_file(path);
    ASSERT_FALSE(file.empty());
    const std::string name = path.string();

    auto pristine = parse_kernel(file, name);
    ASSERT_TRUE(pristine) << pristine.error().what;
    auto patched = parse_kernel(file, name);
    ASSERT_TRUE(patched) << patched.error().what;
    EXPECT_EQ(pristine->elf, patched->elf);
    EXPECT_EQ(pristine->guest_os, "linux");
    EXPECT_TRUE(pristine->is_64bit);
    EXPECT_GE(pristine->phys32_entry, pristine->paddr_start);
    EXPECT_LT(pristine->phys32_entry, pristine->paddr_end);

    auto n = rewrite_direct_hypercalls(*patched, name);
    ASSERT_TRUE(n) << n.error().what;
    const bool direct = needs_direct_hypercall_rewrite(*pristine);
    EXPECT_EQ(*n, direct ? 2u : 0u);

    // Exactly the 3 bytes of each site differ, from VMCALL/VMMCALL to the exit.
    std::vector<std::size_t> expected;
    for (const std::uint64_t paddr : patched->rewritten_hypercall_sites) {
        const auto off = patched->paddr_to_offset(paddr);
        ASSERT_TRUE(off);
        for (std::size_t k = 0; k < 3; ++k) expected.push_back(*off + k);
        const std::uint8_t* before = pristine->elf.data() + *off;
        const std::uint8_t* after = patched->elf.data() + *off;
        EXPECT_TRUE(before[0] == 0x0f && before[1] == 0x01 &&
                    (before[2] == 0xc1 || before[2] == 0xd9));
        EXPECT_TRUE(after[0] == 0xe7 && after[1] == x86::kHypercallPort && after[2] == 0x90);
    }
    std::sort(expected.begin(), expected.end());
    ASSERT_EQ(pristine->elf.size(), patched->elf.size());
    EXPECT_EQ(differing_offsets(pristine->elf, patched->elf), expected);

    std::string cross_check = "no System.map";
    const std::string file_name = path.filename().string();
    const fs::path map =
        path.parent_path() / ("System.map" + file_name.substr(std::string("vmlinuz").size()));
    if (fs::exists(map)) {
        const auto syms = hypercall_symbols(map);
        if (syms.size() == 2) {
            std::vector<std::uint64_t> want;
            for (const auto& [sym, vaddr] : syms) {
                const auto paddr = pristine->vaddr_to_paddr(vaddr);
                ASSERT_TRUE(paddr) << sym;
                const auto off = pristine->paddr_to_offset(*paddr);
                ASSERT_TRUE(off) << sym;
                // IBT kernels open the function with endbr64 (f3 0f 1e fa).
                const std::uint8_t* p = pristine->elf.data() + *off;
                const bool endbr = *off + 4 <= pristine->elf.size() && p[0] == 0xf3 &&
                                   p[1] == 0x0f && p[2] == 0x1e && (p[3] == 0xfa || p[3] == 0xfb);
                want.push_back(*paddr + (endbr ? 4 : 0));
            }
            std::sort(want.begin(), want.end());
            EXPECT_EQ(patched->rewritten_hypercall_sites, want);
            cross_check = "matches System.map";
        } else {
            cross_check = "System.map is a placeholder";
        }
    }
    std::cout << fmt::format(
        "[ image    ] {}: {}, {:.1f} MiB ELF, phys32 {:#x}, guest_os {}, "
        "hypercall page note {}, sites [{}] ({})\n",
        file_name, pristine->format, static_cast<double>(pristine->elf.size()) / (1 << 20),
        pristine->phys32_entry, pristine->guest_os, pristine->hypercall_page ? "yes" : "no",
        hex_list(patched->rewritten_hypercall_sites), cross_check);
}

TEST(DebianKernels, each_image_when_rewritten_then_only_the_hypercall_sites_change) {
    const char* dir = std::getenv("XENOLITH_LINUX_IMAGES");
    if (dir == nullptr || *dir == '\0') {
        GTEST_SKIP() << "set XENOLITH_LINUX_IMAGES to a directory of vmlinuz-* files "
                        "(tests/unit/loader/fetch-debian-kernels.sh)";
    }
    const auto found = images(dir);
    ASSERT_FALSE(found.empty()) << "no vmlinuz-* in " << dir;
    for (const auto& p : found) check_image(p);
}

}  // namespace
}  // namespace xenolith::loader
