// ELF32/ELF64 PVH parsing: segments, notes, and hostile headers.
#include <elf.h>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <xen/elfnote.h>

#include "image_builder.hpp"
#include "loader/kernel_image.hpp"

namespace xenolith::loader {
namespace {

using testing::Bytes;
using testing::ElfBuilder;
using testing::get;
using testing::put;

Result<KernelImage> parse(const Bytes& b) {
    return parse_kernel(b, "k.elf");
}

std::string elf_error_of(const Bytes& b) {
    auto r = parse(b);
    return r ? std::string("<parsed>") : r.error().what;
}

class ElfClassTest : public ::testing::TestWithParam<bool> {};

TEST_P(ElfClassTest, minimal_pvh_kernel_when_parsed_then_segments_and_notes_are_reported) {
    const bool is64 = GetParam();
    const Bytes elf = testing::pvh_kernel(is64, "FreeBSD").build();
    auto img = parse(elf);
    ASSERT_TRUE(img) << img.error().what;
    EXPECT_EQ(img->format, is64 ? "ELF64" : "ELF32");
    EXPECT_EQ(img->is_64bit, is64);
    EXPECT_EQ(img->phys32_entry, 0x100000u);
    EXPECT_EQ(img->guest_os, "FreeBSD");
    EXPECT_FALSE(img->hypercall_page);
    ASSERT_EQ(img->segments.size(), 2u);
    EXPECT_EQ(img->segments[0].paddr, 0x100000u);
    EXPECT_EQ(img->segments[0].filesz, 0x80u);
    EXPECT_EQ(img->segments[0].memsz, 0x80u);
    EXPECT_TRUE(img->segments[0].executable);
    EXPECT_EQ(img->segments[1].paddr, 0x200000u);
    EXPECT_EQ(img->segments[1].filesz, 0x40u);
    EXPECT_EQ(img->segments[1].memsz, 0x1000u);
    EXPECT_FALSE(img->segments[1].executable);
    EXPECT_EQ(img->paddr_start, 0x100000u);
    EXPECT_EQ(img->paddr_end, 0x201000u);
    EXPECT_EQ(img->elf, elf);
    const auto text = img->segment_bytes(img->segments[0]);
    ASSERT_EQ(text.size(), 0x80u);
    EXPECT_EQ(text[0], 0x90);
    EXPECT_EQ(text[0x7f], 0xc3);
    const auto data = img->segment_bytes(img->segments[1]);
    ASSERT_EQ(data.size(), 0x40u);
    EXPECT_EQ(data[0], 0xab);
}

TEST_P(ElfClassTest, notes_only_in_section_headers_when_parsed_then_found) {
    const Bytes elf = testing::pvh_kernel(GetParam(), "linux")
                          .note_placement(testing::NotePlacement::section_only)
                          .build();
    auto img = parse(elf);
    ASSERT_TRUE(img) << img.error().what;
    EXPECT_EQ(img->phys32_entry, 0x100000u);
    EXPECT_EQ(img->guest_os, "linux");
}

TEST_P(ElfClassTest, eight_byte_aligned_notes_when_parsed_then_found) {
    auto b = testing::pvh_kernel(GetParam(), "linux");
    b.note_align(8).note_u64(XEN_ELFNOTE_HYPERCALL_PAGE, 0x100040);
    auto img = parse(b.build());
    ASSERT_TRUE(img) << img.error().what;
    EXPECT_EQ(img->phys32_entry, 0x100000u);
    EXPECT_EQ(img->guest_os, "linux");
    EXPECT_EQ(img->hypercall_page, 0x100040u);
}

TEST_P(ElfClassTest, missing_phys32_note_when_parsed_then_not_a_pvh_kernel) {
    ElfBuilder b(GetParam());
    b.segment({.paddr = 0x100000,
               .vaddr = 0x100000,
               .data = Bytes(16, 0x90),
               .memsz = 0,
               .flags = PF_R | PF_X});
    b.note_string(XEN_ELFNOTE_GUEST_OS, "linux");
    EXPECT_EQ(elf_error_of(b.build()), "k.elf: not a PVH kernel: no XEN_ELFNOTE_PHYS32_ENTRY note");
}

INSTANTIATE_TEST_SUITE_P(Classes, ElfClassTest, ::testing::Bool(),
                         [](const auto& tpi) { return tpi.param ? "ELF64" : "ELF32"; });

TEST(ElfParse, phys32_note_with_foreign_owner_when_parsed_then_ignored) {
    ElfBuilder b(true);
    b.segment({.paddr = 0x100000,
               .vaddr = 0x100000,
               .data = Bytes(16, 0x90),
               .memsz = 0,
               .flags = PF_R | PF_X});
    b.note(XEN_ELFNOTE_PHYS32_ENTRY, {0, 0, 0x10, 0}, "Linux");
    EXPECT_EQ(elf_error_of(b.build()), "k.elf: not a PVH kernel: no XEN_ELFNOTE_PHYS32_ENTRY note");
}

TEST(ElfParse, no_notes_at_all_when_parsed_then_not_a_pvh_kernel) {
    const Bytes elf =
        testing::pvh_kernel(true).note_placement(testing::NotePlacement::none).build();
    EXPECT_EQ(elf_error_of(elf), "k.elf: not a PVH kernel: no XEN_ELFNOTE_PHYS32_ENTRY note");
}

TEST(ElfParse, vaddr_and_paddr_lookups_when_queried_then_map_through_segments) {
    ElfBuilder b(true);
    b.segment({.paddr = 0x1000000,
               .vaddr = 0xffffffff81000000,
               .data = Bytes(0x100, 0x90),
               .memsz = 0x200,
               .flags = PF_R | PF_X});
    b.note_u64(XEN_ELFNOTE_PHYS32_ENTRY, 0x1000010);
    auto img = parse(b.build());
    ASSERT_TRUE(img) << img.error().what;
    EXPECT_EQ(img->vaddr_to_paddr(0xffffffff81000010), 0x1000010u);
    EXPECT_EQ(img->vaddr_to_paddr(0xffffffff810001ff), 0x10001ffu);
    EXPECT_FALSE(img->vaddr_to_paddr(0xffffffff81000200));
    EXPECT_EQ(img->paddr_to_offset(0x1000010), b.data_offset(0) + 0x10);
    EXPECT_FALSE(img->paddr_to_offset(0x1000100));  // bss: no file bytes
    EXPECT_TRUE(img->segment_bytes(Segment{0, img->elf.size(), 1, 1}).empty());
}

TEST(ElfParse, zero_memsz_load_segment_when_parsed_then_skipped) {
    auto b = testing::pvh_kernel(true);
    b.segment({.paddr = 0x100000, .vaddr = 0, .data = {}, .memsz = 0, .flags = PF_R});
    auto img = parse(b.build());
    ASSERT_TRUE(img) << img.error().what;
    EXPECT_EQ(img->segments.size(), 2u);
}

// --- hostile headers -------------------------------------------------------

TEST(ElfHostile, empty_file_when_parsed_then_rejected) {
    EXPECT_EQ(elf_error_of({}), "k.elf: file is empty");
}

TEST(ElfHostile, bad_magic_when_parsed_then_rejected) {
    EXPECT_EQ(elf_error_of({'M', 'Z', 0x90, 0x00, 1, 2}),
              "k.elf: not an ELF or bzImage kernel");
}

TEST(ElfHostile, truncated_identification_when_parsed_then_rejected) {
    Bytes elf = testing::pvh_kernel(true).build();
    elf.resize(10);
    EXPECT_EQ(elf_error_of(elf), "k.elf: truncated ELF header (10 bytes)");
}

TEST(ElfHostile, truncated_elf64_header_when_parsed_then_rejected) {
    Bytes elf = testing::pvh_kernel(true).build();
    elf.resize(40);
    EXPECT_EQ(elf_error_of(elf), "k.elf: truncated ELF header (40 bytes)");
}

TEST(ElfHostile, big_endian_when_parsed_then_rejected) {
    Bytes elf = testing::pvh_kernel(true).build();
    elf[EI_DATA] = ELFDATA2MSB;
    EXPECT_EQ(elf_error_of(elf), "k.elf: ELF data encoding 2 is not little-endian");
}

TEST(ElfHostile, unknown_class_when_parsed_then_rejected) {
    Bytes elf = testing::pvh_kernel(true).build();
    elf[EI_CLASS] = 7;
    EXPECT_EQ(elf_error_of(elf), "k.elf: ELF class 7 is not supported");
}

TEST(ElfHostile, shared_object_when_parsed_then_rejected) {
    EXPECT_EQ(elf_error_of(testing::pvh_kernel(true).type(ET_DYN).build()),
              "k.elf: ELF type 3 is not ET_EXEC");
}

TEST(ElfHostile, arm_machine_when_parsed_then_rejected) {
    EXPECT_EQ(elf_error_of(testing::pvh_kernel(true).machine(EM_AARCH64).build()),
              "k.elf: ELF machine 183 is not x86");
}

TEST(ElfHostile, program_headers_past_end_when_parsed_then_rejected) {
    Bytes elf = testing::pvh_kernel(true).build();
    put<std::uint64_t>(elf, offsetof(Elf64_Ehdr, e_phoff), elf.size() - 8);
    EXPECT_EQ(elf_error_of(elf),
              fmt::format("k.elf: ELF program headers (3 at offset {:#x}) run past the end of the "
                          "file ({:#x} bytes)",
                          elf.size() - 8, elf.size()));
}

TEST(ElfHostile, huge_program_header_offset_when_parsed_then_no_overflow) {
    Bytes elf = testing::pvh_kernel(true).build();
    put<std::uint64_t>(elf, offsetof(Elf64_Ehdr, e_phoff), ~std::uint64_t{0} - 16);
    EXPECT_NE(elf_error_of(elf).find("run past the end of the file"), std::string::npos);
}

TEST(ElfHostile, wrong_phentsize_when_parsed_then_rejected) {
    Bytes elf = testing::pvh_kernel(true).build();
    put<std::uint16_t>(elf, offsetof(Elf64_Ehdr, e_phentsize), 32);
    EXPECT_EQ(elf_error_of(elf), "k.elf: ELF e_phentsize 32 is not 56");
}

TEST(ElfHostile, extended_phnum_when_parsed_then_rejected) {
    Bytes elf = testing::pvh_kernel(true).build();
    put<std::uint16_t>(elf, offsetof(Elf64_Ehdr, e_phnum), PN_XNUM);
    EXPECT_EQ(elf_error_of(elf), "k.elf: extended ELF program header numbering is not supported");
}

TEST(ElfHostile, no_program_headers_when_parsed_then_rejected) {
    Bytes elf = testing::pvh_kernel(true).build();
    put<std::uint16_t>(elf, offsetof(Elf64_Ehdr, e_phnum), 0);
    EXPECT_EQ(elf_error_of(elf), "k.elf: ELF has no program headers");
}

TEST(ElfHostile, no_load_segments_when_parsed_then_rejected) {
    ElfBuilder b(true);
    b.segment({.paddr = 0x100000,
               .vaddr = 0,
               .data = Bytes(16, 0),
               .memsz = 0,
               .flags = 0,
               .type = PT_NULL});
    b.note_u32(XEN_ELFNOTE_PHYS32_ENTRY, 0x100000);
    EXPECT_EQ(elf_error_of(b.build()), "k.elf: ELF has no PT_LOAD segments");
}

TEST(ElfHostile, segment_file_bytes_past_end_when_parsed_then_rejected) {
    auto b = testing::pvh_kernel(true);
    Bytes elf = b.build();
    put<std::uint64_t>(elf, b.phdr_offset(1) + offsetof(Elf64_Phdr, p_offset), elf.size() - 0x10);
    EXPECT_EQ(elf_error_of(elf),
              fmt::format("k.elf: PT_LOAD segment 1: file bytes [{:#x}, +0x40) run past the end "
                          "of the file ({:#x} bytes)",
                          elf.size() - 0x10, elf.size()));
}

TEST(ElfHostile, segment_offset_plus_size_wraps_when_parsed_then_rejected) {
    auto b = testing::pvh_kernel(true);
    Bytes elf = b.build();
    const auto ph = b.phdr_offset(0);
    put<std::uint64_t>(elf, ph + offsetof(Elf64_Phdr, p_offset), 0x10);
    put<std::uint64_t>(elf, ph + offsetof(Elf64_Phdr, p_filesz), ~std::uint64_t{0} - 8);
    put<std::uint64_t>(elf, ph + offsetof(Elf64_Phdr, p_memsz), ~std::uint64_t{0} - 8);
    EXPECT_EQ(elf_error_of(elf),
              fmt::format("k.elf: PT_LOAD segment 0: file bytes [0x10, +0xfffffffffffffff7) run "
                          "past the end of the file ({:#x} bytes)",
                          elf.size()));
}

TEST(ElfHostile, filesz_above_memsz_when_parsed_then_rejected) {
    auto b = testing::pvh_kernel(true);
    Bytes elf = b.build();
    put<std::uint64_t>(elf, b.phdr_offset(0) + offsetof(Elf64_Phdr, p_memsz), 0x10);
    EXPECT_EQ(elf_error_of(elf), "k.elf: PT_LOAD segment 0: filesz 0x80 exceeds memsz 0x10");
}

TEST(ElfHostile, paddr_plus_memsz_overflows_when_parsed_then_rejected) {
    auto b = testing::pvh_kernel(true);
    Bytes elf = b.build();
    const auto ph = b.phdr_offset(1);
    put<std::uint64_t>(elf, ph + offsetof(Elf64_Phdr, p_paddr), 0xfffffffffffff000);
    put<std::uint64_t>(elf, ph + offsetof(Elf64_Phdr, p_memsz), 0x2000);
    EXPECT_EQ(elf_error_of(elf),
              "k.elf: PT_LOAD segment 1: paddr 0xfffffffffffff000 + memsz 0x2000 overflows");
}

TEST(ElfHostile, elf32_segment_past_4gib_when_parsed_then_rejected) {
    auto b = testing::pvh_kernel(false);
    Bytes elf = b.build();
    const auto ph = b.phdr_offset(1);
    put<std::uint32_t>(elf, ph + offsetof(Elf32_Phdr, p_paddr), 0xfffff000);
    put<std::uint32_t>(elf, ph + offsetof(Elf32_Phdr, p_memsz), 0x2000);
    EXPECT_EQ(elf_error_of(elf),
              "k.elf: PT_LOAD segment 1: paddr 0xfffff000 + memsz 0x2000 ends above 4 GiB");
}

TEST(ElfHostile, overlapping_segments_when_parsed_then_rejected) {
    auto b = testing::pvh_kernel(true);
    Bytes elf = b.build();
    put<std::uint64_t>(elf, b.phdr_offset(1) + offsetof(Elf64_Phdr, p_paddr), 0x100040);
    EXPECT_EQ(elf_error_of(elf),
              "k.elf: PT_LOAD segments 0 and 1 overlap in guest memory at paddr 0x100040");
}

TEST(ElfHostile, huge_memsz_when_parsed_then_span_limit_rejects) {
    auto b = testing::pvh_kernel(true);
    Bytes elf = b.build();
    put<std::uint64_t>(elf, b.phdr_offset(1) + offsetof(Elf64_Phdr, p_memsz), 0x10000000000);
    EXPECT_EQ(elf_error_of(elf),
              "k.elf: image spans 0x10000100000 bytes of guest memory [0x100000, 0x10000200000) "
              "(limit 1 GiB)");
}

TEST(ElfHostile, segments_far_apart_when_parsed_then_span_limit_rejects) {
    auto b = testing::pvh_kernel(true);
    Bytes elf = b.build();
    put<std::uint64_t>(elf, b.phdr_offset(1) + offsetof(Elf64_Phdr, p_paddr), 0x80000000);
    ParseLimits limits;
    limits.max_image_span = 0x1000000;
    auto r = parse_kernel(elf, "k.elf", limits);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().what,
              "k.elf: image spans 0x7ff01000 bytes of guest memory [0x100000, 0x80001000) "
              "(limit 16 MiB)");
}

TEST(ElfHostile, phys32_outside_segments_when_parsed_then_rejected) {
    ElfBuilder b(true);
    b.segment({.paddr = 0x100000,
               .vaddr = 0x100000,
               .data = Bytes(16, 0x90),
               .memsz = 0x1000,
               .flags = PF_R | PF_X});
    b.note_u32(XEN_ELFNOTE_PHYS32_ENTRY, 0x100010);  // in bss, not file bytes
    EXPECT_EQ(elf_error_of(b.build()),
              "k.elf: XEN_ELFNOTE_PHYS32_ENTRY 0x100010 is not inside the file bytes of a "
              "PT_LOAD segment");
}

TEST(ElfHostile, phys32_above_4gib_when_parsed_then_rejected) {
    ElfBuilder b(true);
    b.segment({.paddr = 0x100000,
               .vaddr = 0x100000,
               .data = Bytes(16, 0x90),
               .memsz = 0,
               .flags = PF_R | PF_X});
    b.note_u64(XEN_ELFNOTE_PHYS32_ENTRY, 0x100100000);
    EXPECT_EQ(elf_error_of(b.build()),
              "k.elf: XEN_ELFNOTE_PHYS32_ENTRY 0x100100000 does not fit in 32 bits");
}

TEST(ElfHostile, phys32_with_odd_descriptor_when_parsed_then_rejected) {
    ElfBuilder b(true);
    b.segment({.paddr = 0x100000,
               .vaddr = 0x100000,
               .data = Bytes(16, 0x90),
               .memsz = 0,
               .flags = PF_R | PF_X});
    b.note(XEN_ELFNOTE_PHYS32_ENTRY, {0, 0, 0x10});
    EXPECT_EQ(elf_error_of(b.build()), "k.elf: XEN_ELFNOTE_PHYS32_ENTRY has a 3-byte descriptor");
}

TEST(ElfHostile, note_with_huge_descsz_when_parsed_then_truncated_note) {
    auto b = testing::pvh_kernel(true, "linux");
    Bytes elf = b.build();
    // The note blob follows the program headers (8-aligned); its first
    // note's descsz is at +4.
    const std::size_t notes = (sizeof(Elf64_Ehdr) + 3 * sizeof(Elf64_Phdr) + 7) / 8 * 8;
    put<std::uint32_t>(elf, notes + 4, 0xfffffff0);
    EXPECT_EQ(elf_error_of(elf), fmt::format("k.elf: truncated ELF note at file offset {:#x}", notes));
}

TEST(ElfHostile, note_segment_past_end_when_parsed_then_rejected) {
    auto b = testing::pvh_kernel(true, "linux");
    Bytes elf = b.build();
    put<std::uint64_t>(elf, b.phdr_offset(2) + offsetof(Elf64_Phdr, p_filesz), 0x100000);
    const auto off = get<std::uint64_t>(elf, b.phdr_offset(2) + offsetof(Elf64_Phdr, p_offset));
    EXPECT_EQ(elf_error_of(elf),
              fmt::format("k.elf: PT_NOTE segment 2: file bytes [{:#x}, +0x100000) run past the "
                          "end of the file ({:#x} bytes)",
                          off, elf.size()));
}

TEST(ElfHostile, thousands_of_notes_when_parsed_then_bounded) {
    auto b = testing::pvh_kernel(true, "linux");
    for (int i = 0; i < 5000; ++i) b.note(1, {}, "X");
    EXPECT_EQ(elf_error_of(b.build()), "k.elf: ELF has more than 4096 notes");
}

TEST(ElfHostile, many_note_headers_sharing_one_region_when_parsed_then_bounded) {
    // 2100 PT_NOTE headers all pointing at the same 2-note blob.
    auto b = testing::pvh_kernel(true, "linux");
    Bytes elf = b.build();
    const auto note_ph = get<Elf64_Phdr>(elf, b.phdr_offset(2));
    Bytes out(elf.begin(), elf.begin() + static_cast<std::ptrdiff_t>(b.phdr_offset(0)));
    const std::size_t phnum = 2 + 2100;
    const std::size_t data_start = out.size() + phnum * sizeof(Elf64_Phdr);
    std::vector<Elf64_Phdr> phdrs;
    for (std::size_t i = 0; i < 2; ++i) {
        auto ph = get<Elf64_Phdr>(elf, b.phdr_offset(i));
        ph.p_offset += data_start;  // whole old image appended below
        phdrs.push_back(ph);
    }
    auto shared = note_ph;
    shared.p_offset += data_start;
    phdrs.insert(phdrs.end(), 2100, shared);
    for (const auto& ph : phdrs) {
        const auto* p = reinterpret_cast<const std::uint8_t*>(&ph);
        out.insert(out.end(), p, p + sizeof ph);
    }
    out.insert(out.end(), elf.begin(), elf.end());
    put<std::uint16_t>(out, offsetof(Elf64_Ehdr, e_phnum), static_cast<std::uint16_t>(phnum));
    EXPECT_EQ(elf_error_of(out), "k.elf: ELF has more than 4096 notes");
}

TEST(ElfHostile, every_truncation_of_a_valid_image_when_parsed_then_fails_cleanly) {
    const Bytes full = testing::linux_elf(true, testing::RetStyle::return_thunk);
    for (std::size_t n = 0; n < full.size(); ++n) {
        const Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
        auto r = parse(cut);
        EXPECT_FALSE(r) << "parsed a " << n << "-byte prefix";
        if (!r) {
            EXPECT_EQ(r.error().what.rfind("k.elf: ", 0), 0u);
        }
    }
}

}  // namespace
}  // namespace xenolith::loader
