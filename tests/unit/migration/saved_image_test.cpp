#include "migration/saved_image.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test_streams.hpp"

namespace xenolith::migration {
namespace {

using test::append;
using test::Bytes;

// What `xl save` of a PVH guest lays down: xl header, libxl header,
// LIBXC_CONTEXT, the libxc stream, libxl END.
Bytes sample_image() {
    XlSaveHeader xl;
    xl.config_json = R"({"c_info":{"type":"pvh","name":"guest"},"b_info":{"max_vcpus":1}})";
    Bytes b = encode_xl_save_header(xl);
    append(b, encode_libxl_header({}));
    append(b, test::record(libxl_rec::kLibxcContext, {}));
    append(b, test::sample_libxc_stream());
    append(b, test::record(libxl_rec::kEnd, {}));
    return b;
}

SavedImageLimits limits() {
    SavedImageLimits l;
    l.libxc = test::sample_limits();
    return l;
}

Result<SavedImage> read_bytes(const Bytes& b) {
    MemorySource src(b);
    InputStream in(src);
    return read_saved_image(in, limits());
}

TEST(SavedImage, ReadsAndRewritesAWholeSaveFile) {
    const Bytes b = sample_image();
    auto img = read_bytes(b);
    ASSERT_TRUE(img) << img.error().what;
    EXPECT_EQ(img->libxl_records.size(), 2u);
    EXPECT_EQ(img->libxc_records.size(), 8u);
    EXPECT_EQ(img->libxc_image.version, 3u);
    VectorSink sink;
    ASSERT_TRUE(write_saved_image(sink, *img));
    EXPECT_EQ(sink.bytes(), b);
}

TEST(SavedImage, ReadsFromAMemfd) {
    const Bytes b = sample_image();
    const int fd = memfd_create("saved-image", MFD_CLOEXEC);
    ASSERT_GE(fd, 0);
    FdSink sink(fd);
    ASSERT_TRUE(sink.write(b));
    ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
    FdSource src(fd);
    InputStream in(src);
    auto img = read_saved_image(in, limits());
    close(fd);
    ASSERT_TRUE(img) << img.error().what;
    EXPECT_EQ(img->libxc_records.back().type, libxc_rec::kEnd);
}

TEST(SavedImage, ErrorsNameOffsetsIntoTheWholeFile) {
    Bytes b = sample_image();
    // Corrupt the libxc version: the offset reported is into the file.
    XlSaveHeader xl;
    xl.config_json = R"({"c_info":{"type":"pvh","name":"guest"},"b_info":{"max_vcpus":1}})";
    const std::size_t image_at = encode_xl_save_header(xl).size() + 16 + 8;
    b[image_at + 15] = 9;
    auto img = read_bytes(b);
    ASSERT_FALSE(img);
    EXPECT_EQ(img.error().what, "libxc stream: image header at offset " + std::to_string(image_at + 12) +
                                    ": version 9 (supported: 2 and 3)");
}

TEST(SavedImage, RefusesBytesAfterTheEnd) {
    Bytes b = sample_image();
    append(b, test::record(libxc_rec::kPageData, {}));
    auto img = read_bytes(b);
    ASSERT_FALSE(img);
    EXPECT_NE(img.error().what.find("bytes after the libxl END record"), std::string::npos) << img.error().what;
}

TEST(SavedImage, RefusesTruncationAtEveryByte) {
    const Bytes full = sample_image();
    for (std::size_t n = 0; n < full.size(); n += (n < 200 || full.size() - n < 200) ? 1 : 61) {
        EXPECT_FALSE(read_bytes(Bytes(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n)))) << n;
    }
}

}  // namespace
}  // namespace xenolith::migration
