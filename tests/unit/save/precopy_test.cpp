// The pre-copy rounds against a scripted dirty log: which frames each
// round sends, when it stops, and that a failure leaves the guest running.
#include "save/precopy.hpp"

#include <cstring>
#include <deque>

#include <gtest/gtest.h>

#include "migration/byte_stream.hpp"

namespace xenolith::save {
namespace precopy_test {  // named: the tests compile as unity batches

constexpr std::uint64_t kMiB = 1 << 20;
using Gfns = std::vector<std::uint64_t>;

// Writes every RAM page, so each goes with its 4 KiB (never-written pages
// go as XALLOC, without data).
void write_all(GuestMemory& m) {
    for (std::uint64_t gfn = 0; gfn <= m.max_ram_gfn(); ++gfn)
        if (auto off = m.frame_offset(gfn)) std::memset(m.page_at_offset(*off), 1, kPageSize);
}

// Answers the scripted sets in turn, then nothing.
class ScriptedLog final : public DirtyLog {
public:
    explicit ScriptedLog(std::deque<Gfns> script) : script_(std::move(script)) {}
    Result<Gfns> take_dirty() override {
        ++calls;
        if (fail_at && calls == fail_at) return make_error("log gone");
        if (script_.empty()) return Gfns{};
        Gfns g = std::move(script_.front());
        script_.pop_front();
        return g;
    }
    Gfns writably_mapped() override { return mapped; }
    unsigned calls = 0;
    unsigned fail_at = 0;
    Gfns mapped;

private:
    std::deque<Gfns> script_;
};

Gfns range(std::uint64_t first, std::uint64_t n) {
    Gfns g;
    for (std::uint64_t i = 0; i < n; ++i) g.push_back(first + i);
    return g;
}

struct Guest {
    bool paused = false;
    bool resumed = false;
    unsigned state_sent = 0;
    PrecopyHooks hooks() {
        return {[this] {
                    paused = true;
                    return ok_status();
                },
                [this] {
                    ++state_sent;
                    return ok_status();
                },
                [this] { resumed = true; },
                {}};
    }
};

// A sink that fails once `limit` bytes have gone through.
class FailingSink final : public migration::ByteSink {
public:
    explicit FailingSink(std::uint64_t limit) : limit_(limit) {}
    Status write(ByteSpan b) override {
        written_ += b.size();
        if (written_ > limit_) return make_error("link dropped");
        return ok_status();
    }

private:
    std::uint64_t limit_;
    std::uint64_t written_ = 0;
};

TEST(Precopy, RoundsShrinkUntilTheTargetThenStopAndCopy) {
    auto mem = GuestMemory::create(8 * kMiB, "precopy-test");
    ASSERT_TRUE(mem);
    migration::VectorSink sink;
    PageSender sender(**mem, sink);
    // After round 0: 500 dirty, then 120, then 30 (< 50: stop), and 7 more
    // written before the pause takes effect.
    ScriptedLog log({range(0, 500), range(1000, 120), range(10, 30), {5, 15, 2000}});
    Guest guest;
    auto r = run_precopy(sender, log, {}, guest.hooks());
    ASSERT_TRUE(r) << r.error().what;
    ASSERT_EQ(r->rounds.size(), 4u);
    EXPECT_EQ(r->rounds[0].pages, 2048u + kSpecialPageCount);
    EXPECT_EQ(r->rounds[1].pages, 500u);
    EXPECT_EQ(r->rounds[2].pages, 120u);
    EXPECT_FALSE(r->rounds[2].paused);
    // Paused: the 30 still dirty and 2000 and the duplicates 15 and 5... once.
    EXPECT_TRUE(r->rounds[3].paused);
    EXPECT_EQ(r->rounds[3].pages, 32u);
    EXPECT_TRUE(guest.paused);
    EXPECT_EQ(guest.state_sent, 1u);
    EXPECT_FALSE(guest.resumed);
    EXPECT_GT(r->paused_ns, 0u);
    EXPECT_LE(r->paused_ns, r->total_ns);
}

TEST(Precopy, ThePausedRoundSendsWhatBackEndsHoldWritableWhateverTheLogSays) {
    auto mem = GuestMemory::create(8 * kMiB, "precopy-test");
    ASSERT_TRUE(mem);
    migration::VectorSink sink;
    PageSender sender(**mem, sink);
    ScriptedLog log({{}, {5, 15}});
    log.mapped = {3, 15, 1500};  // a persistent grant's frames: never marked dirty
    Guest guest;
    auto r = run_precopy(sender, log, {}, guest.hooks());
    ASSERT_TRUE(r) << r.error().what;
    ASSERT_EQ(r->rounds.size(), 2u);
    EXPECT_TRUE(r->rounds[1].paused);
    EXPECT_EQ(r->rounds[1].pages, 4u);  // 3, 5, 15, 1500
}

TEST(Precopy, ABusyGuestStopsAfterMaxIterations) {
    auto mem = GuestMemory::create(8 * kMiB, "precopy-test");
    ASSERT_TRUE(mem);
    migration::VectorSink sink;
    PageSender sender(**mem, sink);
    std::deque<Gfns> script;
    for (int i = 0; i < 20; ++i) script.push_back(range(0, 1000));  // never converges
    ScriptedLog log(script);
    Guest guest;
    auto r = run_precopy(sender, log, {}, guest.hooks());
    ASSERT_TRUE(r) << r.error().what;
    // Rounds 0..4 live (libxc's 5 iterations), then the paused one.
    ASSERT_EQ(r->rounds.size(), 6u);
    EXPECT_TRUE(r->rounds.back().paused);
    EXPECT_EQ(r->rounds.back().pages, 1000u);
}

TEST(Precopy, AFailureBeforeThePauseLeavesTheGuestAlone) {
    auto mem = GuestMemory::create(8 * kMiB, "precopy-test");
    ASSERT_TRUE(mem);
    write_all(**mem);
    FailingSink sink(1 * kMiB);
    PageSender sender(**mem, sink);
    ScriptedLog log({});
    Guest guest;
    auto r = run_precopy(sender, log, {}, guest.hooks());
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().what.find("round 0: link dropped"), std::string::npos) << r.error().what;
    EXPECT_FALSE(guest.paused);
}

TEST(Precopy, AFailureWhilePausedResumesTheGuest) {
    auto mem = GuestMemory::create(8 * kMiB, "precopy-test");
    ASSERT_TRUE(mem);
    write_all(**mem);
    // Round 0 fits (8 MiB + the special pages and framing); the paused
    // round does not.
    FailingSink sink(8 * kMiB + 200 * 1024);
    PageSender sender(**mem, sink);
    ScriptedLog log({Gfns{}, range(0, 100)});
    Guest guest;
    auto r = run_precopy(sender, log, {}, guest.hooks());
    ASSERT_FALSE(r);
    EXPECT_TRUE(guest.paused);
    EXPECT_TRUE(guest.resumed);
    EXPECT_EQ(guest.state_sent, 0u);

    // And a dirty log that fails while paused does the same.
    migration::VectorSink ok_sink;
    PageSender sender2(**mem, ok_sink);
    ScriptedLog log2({Gfns{}});
    log2.fail_at = 2;
    Guest guest2;
    auto r2 = run_precopy(sender2, log2, {}, guest2.hooks());
    ASSERT_FALSE(r2);
    EXPECT_NE(r2.error().what.find("dirty log while paused: log gone"), std::string::npos) << r2.error().what;
    EXPECT_TRUE(guest2.resumed);
}

}  // namespace precopy_test
}  // namespace xenolith::save
