#include "memory/dirty_bitmap.hpp"
#include "memory/guest_memory.hpp"

#include <algorithm>
#include <thread>

#include <gtest/gtest.h>

namespace xenolith {
namespace dirty_bitmap_test {  // named: the tests compile as unity batches

using Gfns = std::vector<std::uint64_t>;

TEST(DirtyBitmap, TakeAnswersMarksInOrderAndForgetsThem) {
    DirtyBitmap b(200);
    b.mark(130);
    b.mark(3);
    b.mark(64);
    b.mark(3);
    EXPECT_EQ(b.take(), (Gfns{3, 64, 130}));
    EXPECT_TRUE(b.take().empty());
}

TEST(DirtyBitmap, MarksBeyondTheCoveredFramesAreIgnored) {
    DirtyBitmap b(100);
    b.mark(100);
    b.mark(~std::uint64_t{0});
    b.mark_range(98, 10);
    EXPECT_EQ(b.take(), (Gfns{98, 99}));
}

TEST(DirtyBitmap, RangesCrossWordBoundaries) {
    DirtyBitmap b(300);
    b.mark_range(60, 70);  // 60..129: parts of three words, one whole
    const Gfns got = b.take();
    ASSERT_EQ(got.size(), 70u);
    EXPECT_EQ(got.front(), 60u);
    EXPECT_EQ(got.back(), 129u);
    b.mark_range(0, 0);
    EXPECT_TRUE(b.take().empty());
}

TEST(DirtyBitmap, MergesAKvmStyleSlotLog) {
    DirtyBitmap b(1024);
    // A slot starting at frame 256, 70 frames long: bits 0, 5, 64 and 69
    // set, and bit 70 (beyond the slot) set in the word to be ignored.
    const std::uint64_t log[2] = {(1ull << 0) | (1ull << 5), (1ull << 0) | (1ull << 5) | (1ull << 6)};
    b.merge_words(256, log, 70);
    EXPECT_EQ(b.take(), (Gfns{256, 261, 320, 325}));
}

TEST(DirtyBitmap, ConcurrentMarksAreNeverLost) {
    DirtyBitmap b(1 << 16);
    Gfns seen;
    std::thread writer([&] {
        for (std::uint64_t g = 0; g < (1 << 16); ++g) b.mark(g);
    });
    while (seen.size() < (1u << 16)) {
        const Gfns got = b.take();
        seen.insert(seen.end(), got.begin(), got.end());
    }
    writer.join();
    const Gfns rest = b.take();
    seen.insert(seen.end(), rest.begin(), rest.end());
    std::sort(seen.begin(), seen.end());
    ASSERT_EQ(seen.size(), 1u << 16);
    for (std::uint64_t g = 0; g < seen.size(); ++g) ASSERT_EQ(seen[g], g);
}

TEST(DirtyBitmap, GuestMemoryMarksBalloonChangesWhileALogIsSet) {
    auto m = GuestMemory::create(8 << 20, "dirty-test", 16 << 20);
    ASSERT_TRUE(m);
    GuestMemory& mem = **m;
    mem.set_max_pages(4096);
    ASSERT_TRUE(mem.remove_page(3));  // no log yet: nothing recorded
    DirtyBitmap log(mem.max_ram_gfn() + 1);
    mem.set_dirty_log(&log);
    ASSERT_TRUE(mem.remove_range(100, 3));
    ASSERT_TRUE(mem.populate_page(3));
    ASSERT_TRUE(mem.replace_page(50));
    ASSERT_TRUE(mem.populate_page(3000));
    EXPECT_FALSE(mem.populate_page(1 << 20));  // not RAM: nothing to mark
    mem.mark_dirty(7);
    EXPECT_EQ(log.take(), (Gfns{3, 7, 50, 100, 101, 102, 3000}));
    mem.set_dirty_log(nullptr);
    ASSERT_TRUE(mem.remove_page(8));
    EXPECT_TRUE(log.take().empty());
}

}  // namespace dirty_bitmap_test
}  // namespace xenolith
