// The fuzz seeds (tests/fuzz/migration/make_seeds.py) are streams built by
// hand from the specifications, in the order Xen's saver writes records
// (TSC_INFO, HVM_CONTEXT, HVM_PARAMS). Each must read and re-emit exactly.
#include <fstream>
#include <gtest/gtest.h>
#include <iterator>

#include "migration/saved_image.hpp"
#include "test_streams.hpp"

namespace xenolith::migration {
namespace {

using test::Bytes;

Bytes seed(const std::string& name) {
    std::ifstream f(std::string(XENOLITH_MIGRATION_SEEDS) + "/" + name, std::ios::binary);
    Bytes b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    EXPECT_FALSE(b.empty()) << name;
    if (b.empty()) return b;
    return Bytes(b.begin() + 1, b.end());  // drop the fuzzer's mode byte
}

TEST(HandBuiltStreams, WholeSaveFileReadsAndReEmitsExactly) {
    const Bytes b = seed("image");
    MemorySource src(b);
    InputStream in(src);
    SavedImageLimits l;
    l.libxc = test::sample_limits();
    auto img = read_saved_image(in, l);
    ASSERT_TRUE(img) << img.error().what;
    ASSERT_EQ(img->libxc_records.size(), 8u);
    VectorSink sink;
    ASSERT_TRUE(write_saved_image(sink, *img));
    EXPECT_EQ(sink.bytes(), b);
    ASSERT_EQ(img->libxc_records[5].type, libxc_rec::kHvmContext);
    auto ctx = parse_hvm_context(img->libxc_records[5].body);
    ASSERT_TRUE(ctx) << ctx.error().what;
    EXPECT_EQ(emit_hvm_context(*ctx), img->libxc_records[5].body);
}

TEST(HandBuiltStreams, LibxcV2AndV3Read) {
    for (const char* name : {"libxc-v2", "libxc-v3"}) {
        const Bytes b = seed(name);
        MemorySource src(b);
        InputStream in(src);
        LibxcStreamReader r(in, test::sample_limits());
        ASSERT_TRUE(r.read_headers()) << name;
        while (!r.finished()) {
            auto rec = r.next();
            ASSERT_TRUE(rec) << name << ": " << rec.error().what;
        }
        EXPECT_EQ(in.offset(), b.size());
    }
}

TEST(HandBuiltStreams, CheckpointedLibxlStreamResumesItsLibxcStream) {
    const Bytes b = seed("libxl-checkpointed");
    MemorySource src(b);
    InputStream in(src);
    LibxlLimits ll;
    ll.checkpointed = true;
    LibxcLimits xl = test::sample_limits();
    xl.checkpointed = true;
    LibxlStreamReader libxl(in, ll);
    LibxcStreamReader libxc(in, xl);
    ASSERT_TRUE(libxl.read_header());
    int checkpoints = 0;
    bool headers = false;
    while (!libxl.finished()) {
        auto rec = libxl.next();
        ASSERT_TRUE(rec) << rec.error().what;
        if (rec->type != libxl_rec::kLibxcContext) continue;
        if (!headers) {
            ASSERT_TRUE(libxc.read_headers());
        }
        headers = true;
        for (;;) {
            auto x = libxc.next();
            ASSERT_TRUE(x) << x.error().what;
            if (x->type == libxc_rec::kCheckpoint) ++checkpoints;
            if (x->type == libxc_rec::kCheckpoint || x->type == libxc_rec::kEnd) break;
        }
    }
    EXPECT_EQ(checkpoints, 1);
    EXPECT_EQ(in.offset(), b.size());
}

}  // namespace
}  // namespace xenolith::migration
