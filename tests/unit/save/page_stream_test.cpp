// Guest memory through a real libxc stream and into a second domain's
// memory: what a save file or a migration carries of RAM.
#include <cstring>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>

#include "migration/libxc_stream.hpp"
#include "save/page_receiver.hpp"
#include "save/page_sender.hpp"

namespace xenolith::save {
namespace page_stream_test {  // named: the tests compile as unity batches

using migration::LibxcLimits;
using migration::LibxcStreamReader;
using migration::LibxcStreamWriter;
using migration::VectorSink;
namespace pf = migration::pfinfo;

constexpr std::uint64_t kMiB = 1 << 20;

std::unique_ptr<GuestMemory> make_memory(std::uint64_t ram, std::uint64_t physmap = 0) {
    auto m = GuestMemory::create(ram, "page-stream-test", physmap);
    EXPECT_TRUE(m) << (m ? "" : m.error().what);
    return std::move(*m);
}

// Writes a pattern that names the frame into every populated RAM page and
// each special page.
void fill(GuestMemory& m, std::uint8_t salt) {
    for (std::uint64_t gfn = 0; gfn <= m.max_ram_gfn(); ++gfn) {
        if (auto off = m.frame_offset(gfn)) {
            std::uint8_t* p = m.page_at_offset(*off);
            std::memcpy(p, &gfn, sizeof gfn);
            std::memset(p + 8, salt, kPageSize - 8);
        }
    }
    for (unsigned i = 0; i < kSpecialPageCount; ++i) {
        std::uint8_t* p = m.host_ptr(m.special_page_gpa(i), kPageSize);
        std::memset(p, static_cast<int>(0xa0 + i), kPageSize);
    }
}

// A libxc stream holding just the memory.
std::vector<std::uint8_t> save_memory(const GuestMemory& m, PageSendCounts* counts = nullptr) {
    VectorSink sink;
    LibxcStreamWriter w(sink);
    EXPECT_TRUE(w.write_headers({}, {}));
    EXPECT_TRUE(w.write_record(migration::libxc_rec::kStaticDataEnd, {}));
    PageSender sender(m, sink);
    EXPECT_TRUE(sender.send_all());
    EXPECT_TRUE(w.write_end());
    if (counts) *counts = sender.counts();
    return sink.take();
}

// Reads the stream and applies each PAGE_DATA, decoding whole records or
// (streaming) reading pages straight into their frames; the first error.
std::string restore_memory_as(const std::vector<std::uint8_t>& stream, GuestMemory& m, bool streaming) {
    migration::MemorySource src(stream);
    migration::InputStream in(src);
    PageReceiver receiver(m);
    LibxcLimits limits;
    limits.max_pfn = receiver.max_pfn();
    LibxcStreamReader r(in, limits);
    if (auto st = r.read_headers(); !st) return st.error().what;
    if (streaming) r.set_page_sink(&receiver);
    while (!r.finished()) {
        auto rec = r.next();
        if (!rec) return rec.error().what;
        if (rec->type != migration::libxc_rec::kPageData || streaming) continue;
        auto view = migration::decode_page_data(rec->body, limits);
        if (!view) return view.error().what;
        if (auto st = receiver.apply(*view); !st) return st.error().what;
    }
    return "";
}

// Both ways must give the same memory and the same refusals (the errors
// differ only in the reader's "record N" prefix).
std::string restore_memory(const std::vector<std::uint8_t>& stream, GuestMemory& m) {
    auto twin = GuestMemory::create(m.ram_bytes(), "page-stream-twin", m.physmap_bytes());
    EXPECT_TRUE(twin);
    (*twin)->set_max_pages(m.max_pages());
    const std::string streamed = restore_memory_as(stream, **twin, true);
    const std::string decoded = restore_memory_as(stream, m, false);
    EXPECT_TRUE(streamed.ends_with(decoded)) << streamed << " vs " << decoded;
    // (Comparing every frame of a multi-GiB sparse domain would fault in
    // a million zero pages: the large test checks its own frames.)
    if (decoded.empty() && m.ram_bytes() <= 64 * kMiB) {
        for (std::uint64_t gfn = 0; gfn <= m.max_ram_gfn(); ++gfn) {
            if (!m.is_ram_gfn(gfn)) continue;
            EXPECT_EQ(m.is_populated(gfn), (*twin)->is_populated(gfn));
            if (!m.is_populated(gfn)) continue;
            if (std::memcmp(m.page_at_offset(*m.frame_offset(gfn)), (*twin)->page_at_offset(*(*twin)->frame_offset(gfn)),
                            kPageSize) != 0) {
                ADD_FAILURE() << "streamed and decoded restores differ at gfn " << gfn;
                break;
            }
        }
    }
    return decoded;
}

void expect_same_memory(const GuestMemory& a, const GuestMemory& b) {
    ASSERT_EQ(a.max_ram_gfn(), b.max_ram_gfn());
    for (std::uint64_t gfn = 0; gfn <= a.max_ram_gfn(); ++gfn) {
        if (!a.is_ram_gfn(gfn)) continue;
        ASSERT_EQ(a.is_populated(gfn), b.is_populated(gfn)) << "gfn " << gfn;
        if (!a.is_populated(gfn)) continue;
        ASSERT_EQ(0, std::memcmp(a.page_at_offset(*a.frame_offset(gfn)), b.page_at_offset(*b.frame_offset(gfn)),
                                 kPageSize))
            << "gfn " << gfn;
    }
    for (unsigned i = 0; i < kSpecialPageCount; ++i) {
        ASSERT_EQ(0, std::memcmp(a.host_ptr(a.special_page_gpa(i), kPageSize),
                                 b.host_ptr(b.special_page_gpa(i), kPageSize), kPageSize));
    }
    EXPECT_EQ(a.populated_pages(), b.populated_pages());
}

TEST(PageStream, FramesAreFilledThroughTheMemfdAndNeverOutsideIt) {
    auto m = make_memory(8 * kMiB);
    const std::uint64_t last = *m->frame_offset(m->max_ram_gfn());
    std::vector<std::uint8_t> page(kPageSize, 0x5a);
    ASSERT_TRUE(m->write_frames(last, page));
    EXPECT_EQ(0x5a, m->page_at_offset(last)[kPageSize - 1]);  // the mapping sees the write
    auto st = m->write_frames(last + 1024 * kMiB, page);
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().what.find("outside guest memory"), std::string::npos) << st.error().what;
    EXPECT_FALSE(m->write_frames(~std::uint64_t{0} - 10, page));
}

TEST(PageStream, ASinkIsRefusedDataThatDoesNotMatchItsPages) {
    auto m = make_memory(8 * kMiB);
    PageReceiver receiver(*m);
    const std::vector<migration::PageDataPfn> pfns{{1, pf::kNotab}, {2, pf::kXalloc}};
    ASSERT_TRUE(receiver.begin_pages(pfns));
    std::vector<std::uint8_t> page(kPageSize, 1);
    const std::size_t data_page[] = {0}, no_data_page[] = {1}, both[] = {0, 0};
    EXPECT_FALSE(receiver.store_pages(data_page, std::span(page).first(100)));
    EXPECT_FALSE(receiver.store_pages(no_data_page, page));  // XALLOC carries no data
    EXPECT_FALSE(receiver.store_pages(both, page));
    ASSERT_TRUE(receiver.store_pages(data_page, page));
    EXPECT_EQ(1, m->page_at_offset(*m->frame_offset(1))[0]);
}

TEST(PageStream, HolesAreForgottenButDataExtentsAreKept) {
    auto m = make_memory(8 * kMiB);
    MemfdHoles holes(m->memfd());
    const std::uint64_t a = *m->frame_offset(10), b = *m->frame_offset(20);
    std::vector<std::uint8_t> page(kPageSize, 7);
    ASSERT_TRUE(m->write_frames(a, page));
    EXPECT_FALSE(holes.never_written(a));
    EXPECT_TRUE(holes.never_written(b));
    ASSERT_TRUE(m->write_frames(b, page));
    EXPECT_TRUE(holes.never_written(b));  // the remembered hole, until forgotten
    holes.forget();
    EXPECT_FALSE(holes.never_written(b));  // a written hole is never taken for zeros
    ASSERT_TRUE(m->remove_page(20));
    holes.forget();
    // A punched page still inside the remembered data extent is sent or
    // cleared as data: it reads as zeros either way.
    EXPECT_FALSE(holes.never_written(b));
}

TEST(PageStream, MemoryWithABalloonArrivesExactly) {
    auto src = make_memory(8 * kMiB);
    fill(*src, 0x11);
    ASSERT_TRUE(src->remove_range(100, 50));  // ballooned out
    ASSERT_TRUE(src->remove_page(7));
    PageSendCounts counts;
    const auto stream = save_memory(*src, &counts);
    EXPECT_EQ(counts.pages_absent, 51u);
    EXPECT_EQ(counts.pages_with_data, 2048u - 51u + kSpecialPageCount);
    EXPECT_EQ(counts.records, (2048u + kSpecialPageCount + 1023u) / 1024u);

    auto dst = make_memory(8 * kMiB);
    EXPECT_EQ(restore_memory(stream, *dst), "");
    expect_same_memory(*src, *dst);
}

TEST(PageStream, FramesTheSourceGrewIntoArePopulatedUpToMaxPages) {
    // memory=8 MiB, maxmem=16: the source populated 10 frames above 8 MiB.
    auto src = make_memory(8 * kMiB, 16 * kMiB);
    src->set_max_pages(2048 + 10);
    for (std::uint64_t gfn = 2048; gfn < 2058; ++gfn) ASSERT_TRUE(src->populate_page(gfn));
    fill(*src, 0x22);
    const auto stream = save_memory(*src);

    auto dst = make_memory(8 * kMiB, 16 * kMiB);
    dst->set_max_pages(2048 + 10);
    EXPECT_EQ(restore_memory(stream, *dst), "");
    expect_same_memory(*src, *dst);

    // The same stream into a domain allowed fewer pages is refused.
    auto small = make_memory(8 * kMiB, 16 * kMiB);
    small->set_max_pages(2048 + 5);
    const std::string err = restore_memory(stream, *small);
    EXPECT_NE(err.find("beyond its 2053 pages (max_pages)"), std::string::npos) << err;
}

TEST(PageStream, MemoryAboveFourGiBIsCarried) {
    // 3.75 GiB of low RAM ends at the MMIO hole; the rest resumes at 4 GiB.
    // (Sparse memfds: only the frames sent are touched.)
    auto src = make_memory(3840 * kMiB + 4 * kMiB);
    const std::uint64_t high = kHighRamBase >> kPageShift;
    ASSERT_TRUE(src->is_ram_gfn(high + 1023));
    ASSERT_FALSE(src->is_ram_gfn(high + 1024));
    std::memset(src->host_ptr((high + 1000) << kPageShift, kPageSize), 0x77, kPageSize);
    VectorSink sink;
    LibxcStreamWriter w(sink);
    ASSERT_TRUE(w.write_headers({}, {}));
    ASSERT_TRUE(w.write_record(migration::libxc_rec::kStaticDataEnd, {}));
    PageSender sender(*src, sink);
    EXPECT_EQ(sender.frame_limit(), high + 1024);
    const std::vector<std::uint64_t> gfns = {high + 1000, high + 1023};
    ASSERT_TRUE(sender.send(gfns));
    ASSERT_TRUE(w.write_end());

    auto dst = make_memory(3840 * kMiB + 4 * kMiB);
    EXPECT_EQ(restore_memory(sink.take(), *dst), "");
    EXPECT_EQ(dst->host_ptr((high + 1000) << kPageShift, kPageSize)[100], 0x77);
}

// Hand-built records for what a sender should never send.
std::vector<std::uint8_t> stream_of(const std::vector<migration::PageDataPfn>& pfns) {
    VectorSink sink;
    LibxcStreamWriter w(sink);
    EXPECT_TRUE(w.write_headers({}, {}));
    EXPECT_TRUE(w.write_record(migration::libxc_rec::kStaticDataEnd, {}));
    std::size_t with_data = 0;
    for (const auto& p : pfns) with_data += migration::page_type_has_data(p.type) ? 1 : 0;
    const std::vector<std::uint8_t> data(with_data * kPageSize, 0x5a);
    EXPECT_TRUE(w.write_record(migration::libxc_rec::kPageData, migration::encode_page_data(pfns, data)));
    EXPECT_TRUE(w.write_end());
    return sink.take();
}

TEST(PageStream, HostileFramesAreRefusedByName) {
    struct Case {
        std::vector<migration::PageDataPfn> pfns;
        const char* message;
    };
    const std::uint64_t special = kSpecialPagesBase >> kPageShift;
    const std::vector<Case> cases = {
        // In the MMIO hole below the special pages: not RAM.
        {{{0xF0000, pf::kNotab}}, "pfn 0xf0000 is not RAM or a toolstack page of this domain"},
        // Beyond the domain's memory: stopped by the reader's max_pfn.
        {{{0x200000, pf::kNotab}}, "beyond the domain's max_pfn"},
        {{{special + 1, pf::kXtab}}, "is a toolstack page (xenstore/console rings) and cannot be absent"},
        {{{5, pf::kBroken}}, "pfn 0x5 is marked broken by the sender"},
        {{{5, pf::kL1tab}}, "only x86 PV streams carry"},
    };
    for (const Case& c : cases) {
        auto dst = make_memory(8 * kMiB);
        const std::string err = restore_memory(stream_of(c.pfns), *dst);
        EXPECT_NE(err.find(c.message), std::string::npos) << "got: " << err;
    }
}

TEST(PageStream, AStreamCutInsideAPageIsRefusedNamingThePage) {
    auto src = make_memory(4 * kMiB);
    fill(*src, 0x55);
    auto stream = save_memory(*src);
    stream.resize(40 + 8 + 8 + 8 * 1024 + 5 * kPageSize + 100);  // headers, SDE, record head, pfns, 5.02 pages
    auto dst = make_memory(4 * kMiB);
    migration::MemorySource in_src(stream);
    migration::InputStream in(in_src);
    PageReceiver receiver(*dst);
    LibxcLimits limits;
    limits.max_pfn = receiver.max_pfn();
    LibxcStreamReader r(in, limits);
    ASSERT_TRUE(r.read_headers());
    r.set_page_sink(&receiver);
    ASSERT_TRUE(r.next());  // STATIC_DATA_END
    auto rec = r.next();
    ASSERT_FALSE(rec);
    EXPECT_NE(rec.error().what.find("record 2 (PAGE_DATA) at offset 48: data of pfn 0x0 (index 0) truncated"),
              std::string::npos)
        << rec.error().what;
}

TEST(PageStream, PagesNeverWrittenGoAsXallocWithoutTheirData) {
    auto src = make_memory(8 * kMiB);
    const std::uint64_t written[] = {3, 100, 2047};
    for (std::uint64_t gfn : written) std::memset(src->page_at_offset(*src->frame_offset(gfn)), 0x5a, kPageSize);
    PageSendCounts counts;
    auto stream = save_memory(*src, &counts);
    const std::uint64_t ram_pages = 8 * kMiB / kPageSize;
    EXPECT_EQ(counts.pages_unwritten, ram_pages - std::size(written));
    EXPECT_EQ(counts.pages_with_data, std::size(written) + kSpecialPageCount);
    EXPECT_LT(stream.size(), (std::size(written) + kSpecialPageCount + 16) * kPageSize);

    // Into memory that held something else: the unwritten pages read zero.
    auto dst = make_memory(8 * kMiB);
    fill(*dst, 0x77);
    ASSERT_EQ(restore_memory(stream, *dst), "");
    expect_same_memory(*src, *dst);
}

TEST(PageStream, APageWrittenAfterARoundIsSentWithItsDataNextRound) {
    auto m = make_memory(4 * kMiB);
    VectorSink sink;
    PageSender sender(*m, sink);
    ASSERT_TRUE(sender.send_all());  // all holes: XALLOC, learned as one extent
    EXPECT_EQ(sender.counts().pages_with_data, kSpecialPageCount);
    std::memset(m->page_at_offset(*m->frame_offset(7)), 1, kPageSize);
    const std::uint64_t dirty[] = {7, 8};
    ASSERT_TRUE(sender.send(dirty));
    EXPECT_EQ(sender.counts().pages_with_data, kSpecialPageCount + 1);  // 7, not 8
    // From a dirty log: both go with their data, unasked.
    ASSERT_TRUE(sender.send_written(dirty));
    EXPECT_EQ(sender.counts().pages_with_data, kSpecialPageCount + 3);
    EXPECT_EQ(sender.counts().pages_unwritten, 4 * kMiB / kPageSize + 1);  // as before it
}

TEST(PageStream, XallocPopulatesZeroedAndXtabReleases) {
    auto dst = make_memory(8 * kMiB, 16 * kMiB);
    dst->set_max_pages(4096);
    std::memset(dst->host_ptr(9 * kPageSize, kPageSize), 0xee, kPageSize);
    EXPECT_EQ(restore_memory(stream_of({{9, pf::kXalloc}, {3000, pf::kXalloc}, {10, pf::kXtab}}), *dst), "");
    EXPECT_EQ(dst->host_ptr(9 * kPageSize, kPageSize)[0], 0);
    EXPECT_TRUE(dst->is_populated(3000));
    EXPECT_FALSE(dst->is_populated(10));
}

TEST(PageStream, SendNamesFramesInTheOrderGivenAndSkipsWhatIsNotTheGuests) {
    auto src = make_memory(8 * kMiB);
    fill(*src, 0x33);
    ASSERT_TRUE(src->add_hole_page(0x100000 - 0x100));  // a shared_info-like frame
    VectorSink sink;
    PageSender sender(*src, sink);
    const std::vector<std::uint64_t> gfns = {5, 3, 0xF0000, 0x100000 - 0x100, 4};
    ASSERT_TRUE(sender.send(gfns));
    EXPECT_EQ(sender.counts().pages_with_data, 3u);
    EXPECT_EQ(sender.counts().records, 1u);
    const auto& b = sink.bytes();
    ASSERT_EQ(b.size(), 8u + 8u + 24u + 3 * kPageSize);
    EXPECT_EQ(migration::le32(b, 0), migration::libxc_rec::kPageData);
    EXPECT_EQ(migration::le32(b, 8), 3u);  // count
    EXPECT_EQ(migration::le64(b, 16), 5u);
    EXPECT_EQ(migration::le64(b, 24), 3u);
    EXPECT_EQ(migration::le64(b, 32), 4u);
    EXPECT_EQ(migration::le64(b, 40), 5u);  // the first page's data: its gfn
    EXPECT_EQ(migration::le64(b, 40 + 2 * kPageSize), 4u);
}

TEST(PageStream, GatheredWritesThroughAPipeMatchTheBufferedStream) {
    auto src = make_memory(4 * kMiB);
    fill(*src, 0x44);
    const auto buffered = save_memory(*src);

    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    std::vector<std::uint8_t> piped;
    std::thread reader([&] {
        std::uint8_t buf[65536];
        for (;;) {
            const ssize_t n = read(fds[0], buf, sizeof buf);
            if (n <= 0) break;
            piped.insert(piped.end(), buf, buf + n);
        }
    });
    {
        migration::FdSink sink(fds[1]);
        LibxcStreamWriter w(sink);
        ASSERT_TRUE(w.write_headers({}, {}));
    ASSERT_TRUE(w.write_record(migration::libxc_rec::kStaticDataEnd, {}));
        PageSender sender(*src, sink);
        ASSERT_TRUE(sender.send_all());
        ASSERT_TRUE(w.write_end());
    }
    close(fds[1]);
    reader.join();
    close(fds[0]);
    EXPECT_EQ(piped, buffered);
}

}  // namespace page_stream_test
}  // namespace xenolith::save
