// The direct-hypercall rewrite on synthetic Linux-like images.
#include <elf.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <xen/elfnote.h>

#include "arch/x86/hypercall_port.hpp"
#include "image_builder.hpp"
#include "loader/kernel_image.hpp"

namespace xenolith::loader {
namespace {

using testing::Bytes;
using ::testing::ElementsAre;
using testing::ElfBuilder;
using ::testing::HasSubstr;
using testing::LinuxText;
using testing::RetStyle;

constexpr std::uint64_t kText = 0x1000000;

KernelImage must_parse(const Bytes& b) {
    auto r = parse_kernel(b, "vmlinux");
    EXPECT_TRUE(r) << r.error().what;
    return r ? std::move(r).value() : KernelImage{};
}

std::vector<std::size_t> changed_offsets(const Bytes& a, const Bytes& b) {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
        if (a[i] != b[i]) out.push_back(i);
    }
    return out;
}

struct Style {
    RetStyle ret;
    bool is64;
    bool ibt;
};

class RewriteTest : public ::testing::TestWithParam<Style> {};

TEST_P(RewriteTest, linux_direct_hypercalls_when_rewritten_then_only_the_six_bytes_change) {
    const Style st = GetParam();
    const Bytes elf = testing::linux_elf(st.is64, st.ret, false, st.ibt);
    KernelImage img = must_parse(elf);
    ASSERT_TRUE(needs_direct_hypercall_rewrite(img));
    auto n = rewrite_direct_hypercalls(img, "vmlinux");
    ASSERT_TRUE(n) << n.error().what;
    EXPECT_EQ(*n, 2u);
    EXPECT_THAT(img.rewritten_hypercall_sites, ElementsAre(kText + LinuxText::amd_site(st.ibt),
                                                           kText + LinuxText::intel_site(st.ibt)));

    const std::size_t amd = *img.paddr_to_offset(kText + LinuxText::amd_site(st.ibt));
    const std::size_t intel = *img.paddr_to_offset(kText + LinuxText::intel_site(st.ibt));
    EXPECT_THAT(changed_offsets(elf, img.elf),
                ElementsAre(amd, amd + 1, amd + 2, intel, intel + 1, intel + 2));
    const std::uint8_t exit[] = {0xe7, x86::kHypercallPort, 0x90};
    EXPECT_TRUE(std::equal(exit, exit + 3, img.elf.begin() + static_cast<std::ptrdiff_t>(amd)));
    EXPECT_TRUE(std::equal(exit, exit + 3, img.elf.begin() + static_cast<std::ptrdiff_t>(intel)));
}

INSTANTIATE_TEST_SUITE_P(Returns, RewriteTest,
                         ::testing::Values(Style{RetStyle::ret, true, false},
                                           Style{RetStyle::ret_int3, true, false},
                                           Style{RetStyle::return_thunk, true, false},
                                           Style{RetStyle::return_thunk, true, true},
                                           Style{RetStyle::ret, true, true},
                                           Style{RetStyle::ret, false, false},
                                           Style{RetStyle::return_thunk, false, false}),
                         [](const auto& tpi) {
                             const char* ret = tpi.param.ret == RetStyle::ret ? "ret"
                                               : tpi.param.ret == RetStyle::ret_int3
                                                   ? "ret_int3"
                                                   : "return_thunk";
                             return std::string(ret) + (tpi.param.is64 ? "_ELF64" : "_ELF32") +
                                    (tpi.param.ibt ? "_endbr" : "");
                         });

TEST(Rewrite, second_call_when_already_rewritten_then_nothing_more_changes) {
    KernelImage img = must_parse(testing::linux_elf(true, RetStyle::return_thunk));
    ASSERT_TRUE(rewrite_direct_hypercalls(img, "vmlinux"));
    const Bytes once = img.elf;
    auto again = rewrite_direct_hypercalls(img, "vmlinux");
    ASSERT_TRUE(again) << again.error().what;
    EXPECT_EQ(*again, 0u);
    EXPECT_EQ(img.elf, once);
    EXPECT_EQ(img.rewritten_hypercall_sites.size(), 2u);
}

TEST(Rewrite, inside_bzimage_when_rewritten_then_offsets_index_the_decompressed_elf) {
    const Bytes elf = testing::linux_elf(true, RetStyle::return_thunk);
    testing::BzImageSpec spec;
    auto img = parse_kernel(testing::make_bzimage(testing::xz_compress(elf), spec), "vmlinuz");
    ASSERT_TRUE(img) << img.error().what;
    auto n = rewrite_direct_hypercalls(*img, "vmlinuz");
    ASSERT_TRUE(n) << n.error().what;
    EXPECT_EQ(*n, 2u);
    EXPECT_EQ(changed_offsets(elf, img->elf).size(), 6u);
}

TEST(Rewrite, old_linux_with_hypercall_page_note_when_rewritten_then_untouched) {
    const Bytes elf =
        testing::linux_elf(true, RetStyle::return_thunk, /*hypercall_page_note=*/true);
    KernelImage img = must_parse(elf);
    EXPECT_FALSE(needs_direct_hypercall_rewrite(img));
    auto n = rewrite_direct_hypercalls(img, "vmlinux");
    ASSERT_TRUE(n) << n.error().what;
    EXPECT_EQ(*n, 0u);
    EXPECT_EQ(img.elf, elf);
    EXPECT_TRUE(img.rewritten_hypercall_sites.empty());
}

Bytes text_image(const std::string& guest_os, const Bytes& text,
                 std::uint32_t flags = PF_R | PF_X) {
    ElfBuilder b(true);
    b.segment(
        {.paddr = kText, .vaddr = 0xffffffff81000000, .data = text, .memsz = 0, .flags = flags});
    if (!guest_os.empty()) b.note_string(XEN_ELFNOTE_GUEST_OS, guest_os);
    b.note_u32(XEN_ELFNOTE_PHYS32_ENTRY, kText);
    if (flags != (PF_R | PF_X)) {  // keep the entry in an executable segment
        b.segment({.paddr = 0x2000000,
                   .vaddr = 0x2000000,
                   .data = Bytes(16, 0x90),
                   .memsz = 0,
                   .flags = PF_R | PF_X});
    }
    return b.build();
}

TEST(Rewrite, non_linux_guest_with_the_pattern_when_rewritten_then_untouched) {
    for (const std::string os : {"FreeBSD", "Mini-OS", ""}) {
        SCOPED_TRACE(os);
        const Bytes elf = text_image(os, testing::linux_text(RetStyle::ret));
        KernelImage img = must_parse(elf);
        auto n = rewrite_direct_hypercalls(img, "kernel");
        ASSERT_TRUE(n) << n.error().what;
        EXPECT_EQ(*n, 0u);
        EXPECT_EQ(img.elf, elf);
    }
}

TEST(Rewrite, guest_os_case_when_checked_then_insensitive) {
    KernelImage img = must_parse(text_image("Linux", testing::linux_text(RetStyle::ret)));
    auto n = rewrite_direct_hypercalls(img, "vmlinux");
    ASSERT_TRUE(n) << n.error().what;
    EXPECT_EQ(*n, 2u);
}

TEST(Rewrite, intel_function_missing_when_rewritten_then_error_names_file_and_symbol) {
    Bytes text = testing::linux_text(RetStyle::ret);
    text[LinuxText::kIntel + 2] = 0xd0;  // 0f 01 d0: xgetbv, no longer VMCALL
    const Bytes elf = text_image("linux", text);
    KernelImage img = must_parse(elf);
    auto n = rewrite_direct_hypercalls(img, "/boot/vmlinuz-6.1");
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error().what,
              "/boot/vmlinuz-6.1: Linux kernel without XEN_ELFNOTE_HYPERCALL_PAGE makes direct "
              "hypercalls, but xen_hypercall_intel (VMCALL; RET) was not found in its executable "
              "segments; it needs a host with KVM Xen support");
    EXPECT_EQ(img.elf, elf);
    EXPECT_TRUE(img.rewritten_hypercall_sites.empty());
}

TEST(Rewrite, second_adjacent_candidate_when_rewritten_then_ambiguous_error_and_no_change) {
    Bytes text = testing::linux_text(RetStyle::ret);
    const Bytes amd{0x0f, 0x01, 0xd9, 0xc3};
    std::copy(amd.begin(), amd.end(), text.begin() + 0x90);
    const Bytes elf = text_image("linux", text);
    KernelImage img = must_parse(elf);
    auto n = rewrite_direct_hypercalls(img, "vmlinux");
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error().what,
              "vmlinux: ambiguous direct-hypercall pattern: 2 candidate xen_hypercall_amd/"
              "xen_hypercall_intel pairs at paddr (0x1000040, 0x1000050), (0x1000090, 0x1000050); "
              "refusing to patch");
    EXPECT_EQ(img.elf, elf);
}

TEST(Rewrite, lone_aligned_vmmcall_far_from_any_vmcall_when_rewritten_then_ignored) {
    KernelImage img = must_parse(testing::linux_elf(true, RetStyle::ret));
    auto n = rewrite_direct_hypercalls(img, "vmlinux");
    ASSERT_TRUE(n) << n.error().what;
    EXPECT_EQ(std::count(img.rewritten_hypercall_sites.begin(), img.rewritten_hypercall_sites.end(),
                         kText + LinuxText::kLoneAmd),
              0);
}

TEST(Rewrite, many_candidates_when_rewritten_then_scan_stops_with_ambiguous_error) {
    Bytes text(0x400, 0xcc);
    for (std::size_t at = 0; at < text.size(); at += 16) {
        const Bytes amd{0x0f, 0x01, 0xd9, 0xc3};
        std::copy(amd.begin(), amd.end(), text.begin() + static_cast<std::ptrdiff_t>(at));
    }
    const Bytes elf = text_image("linux", text);
    KernelImage img = must_parse(elf);
    auto n = rewrite_direct_hypercalls(img, "vmlinux");
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error().what,
              "vmlinux: ambiguous direct-hypercall pattern: more than 16 candidates for "
              "xen_hypercall_amd (VMMCALL; RET) at paddr 0x1000000, 0x1000010, 0x1000020, "
              "0x1000030, 0x1000040, 0x1000050, 0x1000060, 0x1000070, ...; refusing to patch");
    EXPECT_EQ(img.elf, elf);
}

TEST(Rewrite, functions_not_adjacent_when_rewritten_then_no_pair_error) {
    Bytes text(0x400, 0xcc);
    const Bytes amd{0x0f, 0x01, 0xd9, 0xc3}, intel{0x0f, 0x01, 0xc1, 0xc3};
    std::copy(amd.begin(), amd.end(), text.begin() + 0x40);
    std::copy(intel.begin(), intel.end(), text.begin() + 0x300);
    KernelImage img = must_parse(text_image("linux", text));
    auto n = rewrite_direct_hypercalls(img, "vmlinux");
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error().what,
              "vmlinux: Linux kernel without XEN_ELFNOTE_HYPERCALL_PAGE makes direct hypercalls, "
              "but no adjacent xen_hypercall_amd/xen_hypercall_intel pair was found (VMMCALL; RET "
              "at paddr 0x1000040; VMCALL; RET at paddr 0x1000300); it needs a host with KVM Xen "
              "support");
}

TEST(Rewrite, functions_returning_through_different_thunks_when_rewritten_then_rejected) {
    Bytes text = testing::linux_text(RetStyle::return_thunk);
    // Re-aim intel's jmp at the ret of the unaligned decoy (still executable).
    testing::put(text, LinuxText::kIntel + 4,
                 static_cast<std::int32_t>(0x26 - (LinuxText::kIntel + 8)));
    const Bytes elf = text_image("linux", text);
    KernelImage img = must_parse(elf);
    auto n = rewrite_direct_hypercalls(img, "vmlinux");
    ASSERT_FALSE(n);
    EXPECT_THAT(
        n.error().what,
        HasSubstr("vmlinux: xen_hypercall_amd at paddr 0x1000040 and xen_hypercall_intel at "
                  "paddr 0x1000050 return through different jmp targets "
                  "(0xffffffff81000100, 0xffffffff81000026)"));
    EXPECT_EQ(img.elf, elf);
}

TEST(Rewrite, functions_in_non_executable_segment_when_rewritten_then_not_found) {
    const Bytes elf = text_image("linux", testing::linux_text(RetStyle::ret), PF_R | PF_W);
    KernelImage img = must_parse(elf);
    auto n = rewrite_direct_hypercalls(img, "vmlinux");
    ASSERT_FALSE(n);
    EXPECT_THAT(n.error().what, HasSubstr("xen_hypercall_amd (VMMCALL; RET) was not found"));
}

TEST(Rewrite, jmp_return_into_data_when_rewritten_then_not_a_match) {
    Bytes text = testing::linux_text(RetStyle::return_thunk);
    // Point amd's jmp outside all executable bytes.
    testing::put(text, LinuxText::kAmd + 4, std::int32_t{0x400000});
    KernelImage img = must_parse(text_image("linux", text));
    auto n = rewrite_direct_hypercalls(img, "vmlinux");
    ASSERT_FALSE(n);
    // Only the lone decoy is left as an amd candidate, and it has no partner.
    EXPECT_THAT(n.error().what,
                HasSubstr("no adjacent xen_hypercall_amd/xen_hypercall_intel pair was found "
                          "(VMMCALL; RET at paddr 0x1000180; VMCALL; RET at paddr 0x1000050)"));
}

TEST(Rewrite, instruction_at_segment_end_when_scanned_then_no_out_of_bounds_read) {
    Bytes text(0x40, 0xcc);
    text[0x30] = 0x0f;  // VMCALL with nothing after it
    text[0x31] = 0x01;
    text[0x32] = 0xc1;
    text.resize(0x33);
    KernelImage img = must_parse(text_image("linux", text));
    auto n = rewrite_direct_hypercalls(img, "vmlinux");
    ASSERT_FALSE(n);
    EXPECT_THAT(n.error().what, HasSubstr("was not found"));
}

}  // namespace
}  // namespace xenolith::loader
