// bzImage containers: every payload codec, the boot-protocol header, and
// hostile payloads (truncated, corrupt, decompression bombs).
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zstd.h>

#include "image_builder.hpp"
#include "loader/kernel_image.hpp"

namespace xenolith::loader {
namespace {

using testing::Bytes;
using testing::BzImageSpec;
using ::testing::HasSubstr;
using testing::put;
using testing::RetStyle;

constexpr std::size_t kMiB = std::size_t{1} << 20;

struct CodecCase {
    const char* name;
    Bytes (*compress)(const Bytes&);
};

const CodecCase kCodecs[] = {
    {"gzip", testing::gzip_compress}, {"xz", testing::xz_compress},
    {"lzma", testing::lzma_compress}, {"lz4", testing::lz4_legacy_compress},
    {"zstd", testing::zstd_compress}, {"bzip2", testing::bzip2_compress},
};

std::string error_of(const Bytes& file, const ParseLimits& limits = {}) {
    auto r = parse_kernel(file, "vmlinuz", limits);
    return r ? std::string("<parsed>") : r.error().what;
}

Bytes bzimage_of(const Bytes& payload, std::size_t uncompressed) {
    BzImageSpec spec;
    spec.uncompressed_size = static_cast<std::uint32_t>(uncompressed);
    return testing::make_bzimage(payload, spec);
}

Bytes bzimage_raw(const Bytes& payload) {
    BzImageSpec spec;
    spec.append_size = false;
    return testing::make_bzimage(payload, spec);
}

class CodecTest : public ::testing::TestWithParam<CodecCase> {};

TEST_P(CodecTest, bzimage_when_parsed_then_inner_elf_and_segments_match_the_raw_elf) {
    for (const bool is64 : {true, false}) {
        SCOPED_TRACE(is64 ? "ELF64" : "ELF32");
        const Bytes elf = testing::linux_elf(is64, RetStyle::return_thunk);
        auto raw = parse_kernel(elf, "vmlinux");
        ASSERT_TRUE(raw) << raw.error().what;
        auto img = parse_kernel(bzimage_of(GetParam().compress(elf), elf.size()), "vmlinuz");
        ASSERT_TRUE(img) << img.error().what;
        EXPECT_EQ(img->format, std::string("bzImage/") + GetParam().name);
        EXPECT_EQ(img->is_64bit, is64);
        EXPECT_EQ(img->elf, elf);
        EXPECT_EQ(img->phys32_entry, raw->phys32_entry);
        EXPECT_EQ(img->guest_os, "linux");
        ASSERT_EQ(img->segments.size(), raw->segments.size());
        for (std::size_t i = 0; i < img->segments.size(); ++i) {
            EXPECT_EQ(img->segments[i].paddr, raw->segments[i].paddr);
            EXPECT_EQ(img->segments[i].file_offset, raw->segments[i].file_offset);
            EXPECT_EQ(img->segments[i].filesz, raw->segments[i].filesz);
            EXPECT_EQ(img->segments[i].memsz, raw->segments[i].memsz);
        }
    }
}

TEST_P(CodecTest, payload_without_appended_size_when_parsed_then_accepted) {
    const Bytes elf = testing::linux_elf(true, RetStyle::ret);
    auto img = parse_kernel(bzimage_raw(GetParam().compress(elf)), "vmlinuz");
    ASSERT_TRUE(img) << img.error().what;
    EXPECT_EQ(img->elf, elf);
}

TEST_P(CodecTest, bare_compressed_elf_when_parsed_then_format_names_codec) {
    const Bytes elf = testing::linux_elf(false, RetStyle::ret);
    auto img = parse_kernel(GetParam().compress(elf), "vmlinux.z");
    ASSERT_TRUE(img) << img.error().what;
    EXPECT_EQ(img->format, std::string(GetParam().name) + "/ELF32");
    EXPECT_EQ(img->elf, elf);
}

TEST_P(CodecTest, truncated_payload_when_parsed_then_truncated_error) {
    const Bytes elf = testing::linux_elf(true, RetStyle::ret);
    Bytes z = GetParam().compress(elf);
    z.resize(z.size() / 2);
    EXPECT_EQ(error_of(bzimage_raw(z)),
              fmt::format("vmlinuz: bzImage payload: {} stream is truncated", GetParam().name));
}

TEST_P(CodecTest, decompression_bomb_when_parsed_then_stopped_at_the_limit) {
    const Bytes zeros(4 * kMiB, 0);
    ParseLimits limits;
    limits.max_decompressed = kMiB;
    EXPECT_EQ(error_of(bzimage_of(GetParam().compress(zeros), zeros.size()), limits),
              fmt::format("vmlinuz: bzImage payload: {} stream decompresses to more than 1 MiB",
                          GetParam().name));
}

TEST_P(CodecTest, output_of_exactly_the_limit_when_parsed_then_allowed) {
    const Bytes zeros(kMiB, 0);
    ParseLimits limits;
    limits.max_decompressed = kMiB;
    EXPECT_EQ(
        error_of(bzimage_of(GetParam().compress(zeros), zeros.size()), limits),
        "vmlinuz: decompressed bzImage payload is not an ELF image");
}

TEST_P(CodecTest, garbage_after_the_stream_when_parsed_then_ignored_unless_lz4) {
    const Bytes elf = testing::linux_elf(true, RetStyle::ret);
    Bytes z = GetParam().compress(elf);
    z.insert(z.end(), 37, 0xa5);
    auto img = parse_kernel(bzimage_raw(z), "vmlinuz");
    if (std::string(GetParam().name) == "lz4") {
        // Legacy lz4 has no end marker: bytes after the last block are read
        // as another block (only a 4-byte size trailer is recognised).
        EXPECT_FALSE(img);
        return;
    }
    ASSERT_TRUE(img) << img.error().what;
    EXPECT_EQ(img->elf, elf);
}

INSTANTIATE_TEST_SUITE_P(Codecs, CodecTest, ::testing::ValuesIn(kCodecs),
                         [](const auto& tpi) { return std::string(tpi.param.name); });

// --- codec specifics ---------------------------------------------------------

Bytes big_elf(std::size_t text_size) {
    Bytes text(text_size);
    for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<std::uint8_t>((i * 7) >> 9);
    auto b = testing::ElfBuilder(true);
    b.segment({.paddr = 0x1000000, .vaddr = 0x1000000, .data = text, .memsz = 0, .flags = 5});
    b.note_u32(18 /* XEN_ELFNOTE_PHYS32_ENTRY */, 0x1000000);
    return b.build();
}

TEST(Lz4Legacy, payload_over_one_block_when_parsed_then_all_blocks_decoded) {
    const Bytes elf = big_elf(9 * kMiB);
    auto img = parse_kernel(bzimage_of(testing::lz4_legacy_compress(elf), elf.size()), "vmlinuz");
    ASSERT_TRUE(img) << img.error().what;
    EXPECT_EQ(img->elf, elf);
}

TEST(Lz4Legacy, concatenated_streams_when_parsed_then_magic_between_them_is_skipped) {
    const Bytes elf = testing::linux_elf(true, RetStyle::ret);
    const auto half = static_cast<std::ptrdiff_t>(elf.size() / 2);
    Bytes z = testing::lz4_legacy_compress(Bytes(elf.begin(), elf.begin() + half));
    const Bytes z2 = testing::lz4_legacy_compress(Bytes(elf.begin() + half, elf.end()));
    z.insert(z.end(), z2.begin(), z2.end());
    auto img = parse_kernel(bzimage_of(z, elf.size()), "vmlinuz");
    ASSERT_TRUE(img) << img.error().what;
    EXPECT_EQ(img->elf, elf);
}

TEST(Lz4Legacy, oversized_block_length_when_parsed_then_rejected) {
    Bytes z{0x02, 0x21, 0x4c, 0x18, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5};
    EXPECT_EQ(
        error_of(bzimage_raw(z)),
        "vmlinuz: bzImage payload: lz4 stream is corrupt (block size 4294967295 at offset 0x4)");
}

TEST(Lz4Legacy, garbage_block_when_parsed_then_rejected) {
    Bytes z{0x02, 0x21, 0x4c, 0x18, 5, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff};
    EXPECT_EQ(error_of(bzimage_raw(z)),
              "vmlinuz: bzImage payload: lz4 stream is corrupt (bad block at offset 0x4)");
}

TEST(Lzma, huge_dictionary_when_parsed_then_memory_limit_rejects) {
    Bytes z{0x5d, 0x00, 0x00, 0x00, 0x40, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    z.resize(64, 0);
    EXPECT_EQ(error_of(bzimage_raw(z)),
              "vmlinuz: bzImage payload: lzma stream is corrupt (dictionary needs more than "
              "128 MiB)");
}

TEST(Xz, corrupt_stream_header_when_parsed_then_rejected) {
    Bytes z = testing::xz_compress(testing::linux_elf(true, RetStyle::ret));
    z[7] ^= 0x40;  // stream flags, covered by the header CRC
    EXPECT_THAT(error_of(bzimage_raw(z)),
                HasSubstr("vmlinuz: bzImage payload: xz stream is corrupt ("));
}

TEST(Gzip, bad_crc_when_parsed_then_rejected) {
    Bytes z = testing::gzip_compress(testing::linux_elf(true, RetStyle::ret));
    z[z.size() - 8] ^= 0xff;
    EXPECT_EQ(error_of(bzimage_raw(z)),
              "vmlinuz: bzImage payload: gzip stream is corrupt (incorrect data check)");
}

TEST(Zstd, window_beyond_limit_when_parsed_then_rejected) {
    // Frame header: no single-segment flag, window log 10 + 20 = 30 (1 GiB).
    Bytes z{0x28, 0xb5, 0x2f, 0xfd, 0x00, 20 << 3, 0x01, 0x00, 0x00};
    EXPECT_THAT(error_of(bzimage_raw(z)),
                HasSubstr("vmlinuz: bzImage payload: zstd stream is corrupt (Frame requires too "
                          "much memory"));
}

TEST(Zstd, bomb_at_default_limit_when_parsed_then_stopped_at_512_mib) {
    // 513 MiB of zeros, compressed in 1 MiB steps to keep the test small.
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    ASSERT_NE(cctx, nullptr);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1);
    const Bytes zeros(kMiB, 0);
    Bytes z;
    Bytes chunk(ZSTD_CStreamOutSize());
    for (int i = 0; i < 513; ++i) {
        ZSTD_inBuffer in{zeros.data(), zeros.size(), 0};
        const auto mode = i == 512 ? ZSTD_e_end : ZSTD_e_continue;
        for (;;) {
            ZSTD_outBuffer out{chunk.data(), chunk.size(), 0};
            const std::size_t left = ZSTD_compressStream2(cctx, &out, &in, mode);
            ASSERT_EQ(ZSTD_isError(left), 0u);
            z.insert(z.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(out.pos));
            if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size) break;
        }
    }
    ZSTD_freeCCtx(cctx);
    EXPECT_LT(z.size(), 64 * 1024u);
    EXPECT_EQ(error_of(bzimage_of(z, 0)),
              "vmlinuz: bzImage payload: zstd stream decompresses to more than 512 MiB");
}

TEST(Bzip2, bad_block_when_parsed_then_rejected) {
    Bytes z{'B', 'Z', 'h', '9'};
    z.resize(64, 0);
    EXPECT_EQ(error_of(bzimage_raw(z)),
              "vmlinuz: bzImage payload: bzip2 stream is corrupt (bad data)");
}

// --- boot protocol header ----------------------------------------------------

TEST(BzImage, uncompressed_elf_payload_when_parsed_then_format_is_none) {
    const Bytes elf = testing::linux_elf(true, RetStyle::ret);
    auto img = parse_kernel(bzimage_raw(elf), "vmlinuz");
    ASSERT_TRUE(img) << img.error().what;
    EXPECT_EQ(img->format, "bzImage/none");
    EXPECT_EQ(img->elf, elf);
}

TEST(BzImage, setup_sects_zero_when_parsed_then_means_four) {
    const Bytes elf = testing::linux_elf(true, RetStyle::ret);
    BzImageSpec spec;
    spec.setup_sects = 4;
    Bytes file = testing::make_bzimage(testing::gzip_compress(elf), spec);
    file[testing::kSetupHeader] = 0;
    auto img = parse_kernel(file, "vmlinuz");
    ASSERT_TRUE(img) << img.error().what;
    EXPECT_EQ(img->elf, elf);
}

TEST(BzImage, old_boot_protocol_when_parsed_then_rejected) {
    BzImageSpec spec;
    spec.version = 0x0207;
    EXPECT_EQ(error_of(testing::make_bzimage(Bytes(32, 1), spec)),
              "vmlinuz: bzImage boot protocol 2.07 is too old (2.08 or later records the payload)");
}

TEST(BzImage, bad_boot_flag_when_parsed_then_rejected) {
    BzImageSpec spec;
    spec.boot_flag = 0x1234;
    EXPECT_EQ(error_of(testing::make_bzimage(Bytes(32, 1), spec)),
              "vmlinuz: bzImage boot_flag is 0x1234, expected 0xaa55");
}

TEST(BzImage, payload_past_end_when_parsed_then_rejected) {
    Bytes file = bzimage_raw(Bytes(32, 1));
    put<std::uint32_t>(file, 0x24c, 0x10000);
    EXPECT_EQ(error_of(file),
              fmt::format("vmlinuz: bzImage payload [0x1100, +0x10000) runs past the end of the "
                          "file ({:#x} bytes)",
                          file.size()));
}

TEST(BzImage, huge_payload_offset_when_parsed_then_rejected) {
    Bytes file = bzimage_raw(Bytes(32, 1));
    put<std::uint32_t>(file, 0x248, 0xffffffff);
    EXPECT_THAT(error_of(file), HasSubstr("runs past the end of the file"));
}

TEST(BzImage, empty_payload_when_parsed_then_rejected) {
    Bytes file = bzimage_raw(Bytes(32, 1));
    put<std::uint32_t>(file, 0x24c, 0);
    EXPECT_EQ(error_of(file), "vmlinuz: bzImage payload is empty");
}

TEST(BzImage, unknown_compression_when_parsed_then_rejected) {
    EXPECT_EQ(error_of(bzimage_raw({0x00, 0x11, 0x22, 0x33, 0x44})),
              "vmlinuz: bzImage payload has unrecognised compression");
}

TEST(BzImage, lzo_payload_when_parsed_then_unsupported) {
    EXPECT_EQ(error_of(bzimage_raw({0x89, 'L', 'Z', 'O', 0, 0x0d, 0x0a})),
              "vmlinuz: bzImage payload uses lzo compression, which is not supported");
}

TEST(BzImage, payload_decompressing_to_non_elf_when_parsed_then_rejected) {
    const Bytes text{'h', 'e', 'l', 'l', 'o'};
    EXPECT_EQ(
        error_of(bzimage_of(testing::gzip_compress(text), text.size())),
        "vmlinuz: decompressed bzImage payload is not an ELF image");
}

TEST(BzImage, inner_elf_without_pvh_note_when_parsed_then_same_message_as_bare_elf) {
    const Bytes elf =
        testing::pvh_kernel(true).note_placement(testing::NotePlacement::none).build();
    EXPECT_EQ(error_of(bzimage_of(testing::xz_compress(elf), elf.size())),
              "vmlinuz: not a PVH kernel: no XEN_ELFNOTE_PHYS32_ENTRY note");
}

TEST(BzImage, every_truncation_of_the_file_when_parsed_then_fails_cleanly) {
    const Bytes elf = testing::linux_elf(true, RetStyle::ret);
    const Bytes full = bzimage_of(testing::zstd_compress(elf), elf.size());
    for (std::size_t n = 0; n + 64 < full.size(); n += 7) {  // the last 64 bytes are filler
        const Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
        auto r = parse_kernel(cut, "vmlinuz");
        EXPECT_FALSE(r) << "parsed a " << n << "-byte prefix";
    }
}

}  // namespace
}  // namespace xenolith::loader
