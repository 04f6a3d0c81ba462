// Whole domain images: written as `xl save` writes them, read back into a
// second domain's memory, and refused when they lie.
#include <cstring>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

extern "C" {
#include <xen/hvm/params.h>
}

#include "migration/libxc_stream.hpp"
#include "migration/libxl_stream.hpp"
#include "migration/xl_savefile.hpp"
#include "save/domain_image.hpp"
#include "save/page_sender.hpp"

namespace xenolith::save {
namespace domain_image_test {  // named: the tests compile as unity batches

using migration::HvmParam;
using migration::VectorSink;

constexpr std::uint64_t kMiB = 1 << 20;

std::unique_ptr<GuestMemory> memory_of(std::uint64_t ram, std::uint64_t physmap = 0) {
    auto m = GuestMemory::create(ram, "domain-image-test", physmap);
    EXPECT_TRUE(m) << (m ? "" : m.error().what);
    return std::move(*m);
}

void stamp(GuestMemory& m) {
    for (std::uint64_t gfn = 0; gfn <= m.max_ram_gfn(); ++gfn) {
        if (auto off = m.frame_offset(gfn)) {
            std::uint8_t* p = m.page_at_offset(*off);
            std::memcpy(p, &gfn, sizeof gfn);
            p[4095] = 0x5a;
        }
    }
    for (unsigned i = 0; i < kSpecialPageCount; ++i)
        std::memset(m.host_ptr(m.special_page_gpa(i), kPageSize), 0xc0 + i, kPageSize);
}

std::uint64_t special_pfn(const GuestMemory& m, unsigned page) { return m.special_page_gpa(page) >> kPageShift; }

DomainState two_vcpus(const GuestMemory& m) {
    DomainState s;
    s.hvm_header.gtsc_khz = 2'000'000;
    s.vcpus.resize(2);
    for (auto& v : s.vcpus) v.sregs.cr0 = 0x60000010;  // the reset value: CD, NW, ET
    s.vcpus[0].regs.rip = 0xffffffff81000123;
    s.vcpus[0].regs.rax = 0;  // SCHEDOP_shutdown(suspend) returned 0: a new domain
    s.vcpus[0].regs.rflags = 0x2;
    s.vcpus[1].online = false;
    s.params = {{HVM_PARAM_STORE_PFN, special_pfn(m, kXenstoreSpecialPage)},
                {HVM_PARAM_CONSOLE_PFN, special_pfn(m, kConsoleSpecialPage)},
                {HVM_PARAM_X87_FIP_WIDTH, 8}};
    s.tsc = {0, 2'000'000, 123456789, 1};
    return s;
}

// The whole image, as `xl save` would write it.
std::vector<std::uint8_t> save_image(const GuestMemory& m, const DomainState& s) {
    VectorSink sink;
    ImageWriter w(sink);
    EXPECT_TRUE(w.write_headers(std::string(R"({"c_info":{"name":"g"}})")));
    PageSender pages(m, sink);
    EXPECT_TRUE(pages.send_all());
    EXPECT_TRUE(w.write_state(s));
    return sink.take();
}

// Reads xl's header, then the image into `m`.
Result<RestoredImage> restore_image(std::span<const std::uint8_t> bytes, GuestMemory& m, std::size_t vcpus = 2) {
    migration::MemorySource src(bytes);
    migration::InputStream in(src);
    auto header = migration::read_xl_save_header(in);
    if (!header) return header.error();
    return read_image(in, m, vcpus, migration::HostVcpuCaps{});
}

TEST(DomainImage, RestoresMemoryVcpusParamsAndTscAndClearsTheToolstackRings) {
    auto src = memory_of(8 * kMiB);
    stamp(*src);
    const DomainState saved = two_vcpus(*src);
    const auto bytes = save_image(*src, saved);

    auto dst = memory_of(8 * kMiB);
    auto restored = restore_image(bytes, *dst);
    ASSERT_TRUE(restored) << restored.error().what;
    for (std::uint64_t gfn = 0; gfn <= src->max_ram_gfn(); ++gfn) {
        auto a = src->frame_offset(gfn), b = dst->frame_offset(gfn);
        ASSERT_EQ(a.has_value(), b.has_value()) << gfn;
        if (a) {
            ASSERT_EQ(0, std::memcmp(src->page_at_offset(*a), dst->page_at_offset(*b), kPageSize)) << gfn;
        }
    }
    const std::uint8_t* store = dst->host_ptr(dst->special_page_gpa(kXenstoreSpecialPage), kPageSize);
    EXPECT_EQ(0, store[0]);
    EXPECT_EQ(0, store[4095]);
    const std::uint8_t* other = dst->host_ptr(dst->special_page_gpa(5), kPageSize);
    EXPECT_EQ(0xc5, other[100]);  // the other special pages keep their contents

    const DomainState& got = restored->state;
    ASSERT_EQ(2u, got.vcpus.size());
    EXPECT_EQ(saved.vcpus[0].regs.rip, got.vcpus[0].regs.rip);
    EXPECT_EQ(0u, got.vcpus[0].regs.rax);
    EXPECT_TRUE(got.vcpus[0].online);
    EXPECT_FALSE(got.vcpus[1].online);
    EXPECT_EQ(saved.params, got.params);
    EXPECT_TRUE(restored->tsc_present);
    EXPECT_EQ(saved.tsc, got.tsc);
    EXPECT_EQ(2'000'000u, got.hvm_header.gtsc_khz);
    EXPECT_EQ(src->populated_pages() + kSpecialPageCount, restored->pages.pages_written);
}

TEST(DomainImage, ParamsThatAreZeroAreNotWritten) {
    auto m = memory_of(4 * kMiB);
    DomainState s = two_vcpus(*m);
    s.params.push_back({HVM_PARAM_IDENT_PT, 0});
    auto restored = restore_image(save_image(*m, s), *m);
    ASSERT_TRUE(restored) << restored.error().what;
    EXPECT_EQ(3u, restored->state.params.size());
}

TEST(DomainImage, AStorePageElsewhereIsRefusedNamingIt) {
    auto m = memory_of(4 * kMiB);
    DomainState s = two_vcpus(*m);
    s.params[0].value = 0xfeff0;  // where Xen's libxc puts it
    auto restored = restore_image(save_image(*m, s), *m);
    ASSERT_FALSE(restored);
    EXPECT_NE(std::string::npos, restored.error().what.find("STORE_PFN is 0xfeff0")) << restored.error().what;
}

TEST(DomainImage, ViridianAndUnknownParamsAreRefused) {
    auto m = memory_of(4 * kMiB);
    DomainState s = two_vcpus(*m);
    s.params.push_back({HVM_PARAM_VIRIDIAN, 1});
    auto viridian = restore_image(save_image(*m, s), *m);
    ASSERT_FALSE(viridian);
    EXPECT_NE(std::string::npos, viridian.error().what.find("VIRIDIAN")) << viridian.error().what;

    s = two_vcpus(*m);
    s.params.push_back({HVM_PARAM_CALLBACK_IRQ, 0x100});
    auto unknown = restore_image(save_image(*m, s), *m);
    ASSERT_FALSE(unknown);
    EXPECT_NE(std::string::npos, unknown.error().what.find("param 0 is not one a saver sends"))
        << unknown.error().what;
}

TEST(DomainImage, MoreVcpusThanTheDomainHasAreRefused) {
    auto m = memory_of(4 * kMiB);
    DomainState s = two_vcpus(*m);
    s.vcpus[1].online = true;
    auto restored = restore_image(save_image(*m, s), *m, 1);
    ASSERT_FALSE(restored);
}

TEST(DomainImage, AStreamWithoutVcpuStateIsRefused) {
    auto m = memory_of(4 * kMiB);
    VectorSink sink;
    ImageWriter w(sink);
    ASSERT_TRUE(w.write_headers(std::nullopt));
    migration::LibxcStreamWriter libxc(sink);
    ASSERT_TRUE(libxc.write_end());
    ASSERT_TRUE(migration::LibxlStreamWriter(sink).write_end());
    auto restored = restore_image(sink.take(), *m);
    ASSERT_FALSE(restored);
    EXPECT_NE(std::string::npos, restored.error().what.find("without HVM_CONTEXT")) << restored.error().what;
}

TEST(DomainImage, EveryTruncationIsRefused) {
    auto m = memory_of(4 * kMiB);
    const DomainState s = two_vcpus(*m);
    const auto bytes = save_image(*m, s);
    // The cuts that end inside the state records and the ENDs, and some
    // inside the pages.
    for (std::size_t cut = bytes.size() - 1; cut > bytes.size() - 3000; cut -= 97) {
        auto dst = memory_of(4 * kMiB);
        auto r = restore_image(std::span(bytes).first(cut), *dst);
        ASSERT_FALSE(r) << "cut at " << cut;
    }
    for (std::size_t cut : {std::size_t{10}, std::size_t{100}, bytes.size() / 2}) {
        auto dst = memory_of(4 * kMiB);
        ASSERT_FALSE(restore_image(std::span(bytes).first(cut), *dst)) << cut;
    }
}

TEST(DomainImage, NothingAfterTheLibxlEndIsRead) {
    auto m = memory_of(4 * kMiB);
    auto bytes = save_image(*m, two_vcpus(*m));
    const std::size_t image_size = bytes.size();
    const char tail[] = "migration receiver ready";
    bytes.insert(bytes.end(), tail, tail + sizeof tail);
    migration::MemorySource src(bytes);
    migration::InputStream in(src);
    ASSERT_TRUE(migration::read_xl_save_header(in));
    auto dst = memory_of(4 * kMiB);
    auto r = read_image(in, *dst, 2, migration::HostVcpuCaps{});
    ASSERT_TRUE(r) << r.error().what;
    EXPECT_EQ(image_size, in.offset());
}

// The fuzz target's mode-5 seed must be an image that restores, or the
// fuzzer starts from a refusal.
TEST(DomainImage, TheFuzzSeedRestores) {
    std::ifstream f(XENOLITH_MIGRATION_SEEDS "/domain-image", std::ios::binary);
    ASSERT_TRUE(f) << "missing seed";
    std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    ASSERT_FALSE(bytes.empty());
    ASSERT_EQ(5, bytes[0]);  // the fuzz target's mode byte
    auto m = memory_of(4 * kMiB, 8 * kMiB);
    m->set_max_pages(1100);
    auto r = restore_image(std::span(bytes).subspan(1), *m);
    ASSERT_TRUE(r) << r.error().what;
    EXPECT_EQ(2u, r->state.vcpus.size());
}

}  // namespace domain_image_test
}  // namespace xenolith::save
