// Hostile input: nothing may crash, hang or grow without bound; every
// failure is an Error with a position.
#include <chrono>
#include <fstream>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include "test_util.hpp"
#include "toolstack/config/json.hpp"

namespace xenolith::config {
namespace {

std::string read_hostile_corpus(const std::string& name) {
    std::ifstream f(std::string(XENOLITH_CONFIG_CORPUS) + "/" + name, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

const char* const kCorpus[] = {"pvh-direct-kernel.cfg", "pvh-pygrub.cfg", "hvm-opnsense.cfg",
                               "driver-domain.cfg",     "vif-driver-backend.cfg", "xm-era.cfg",
                               "vnuma.cfg", "hvm-windows.cfg", "xm-legacy-devices.cfg"};

// The whole pipeline; returns whether it got to JSON.
bool run_all(std::string_view text) {
    auto parsed = parse_config(text, "h.cfg");
    if (!parsed.ok()) {
        EXPECT_EQ(parsed.error().what.rfind("h.cfg", 0), 0u) << parsed.error().what;
        return false;
    }
    std::vector<Warning> ws;
    auto cfg = build_domain_config(*parsed, ws);
    if (!cfg.ok()) {
        EXPECT_FALSE(cfg.error().what.empty());
        return false;
    }
    (void)to_libxl_json(*cfg);
    return true;
}

TEST(Hostile, TruncatedCorpusFiles_NeverCrash) {
    for (const char* name : kCorpus) {
        const std::string text = read_hostile_corpus(name);
        ASSERT_FALSE(text.empty()) << name;
        for (std::size_t n = 0; n <= text.size(); ++n) run_all(std::string_view(text).substr(0, n));
    }
}

TEST(Hostile, TruncationInsideAList_ReportsTheOpenList) {
    const std::string text = read_hostile_corpus("pvh-direct-kernel.cfg");
    const std::size_t cut = text.find("'phy:/dev/vg0/deb12-web-swap");
    ASSERT_NE(cut, std::string::npos);
    EXPECT_EQ(test::parse_error(std::string_view(text).substr(0, cut)),
              "t.cfg:23:10: expected a value in the list");
    EXPECT_EQ(test::parse_error(std::string_view(text).substr(0, cut + 5)),
              "t.cfg:23:10: unterminated string: the closing ' is missing (a string cannot span "
              "lines)");
}

TEST(Hostile, MutatedCorpusFiles_NeverCrash) {
    std::mt19937 rng(12345);
    for (const char* name : kCorpus) {
        const std::string text = read_hostile_corpus(name);
        for (int round = 0; round < 300; ++round) {
            std::string m = text;
            const int edits = 1 + static_cast<int>(rng() % 4);
            for (int e = 0; e < edits; ++e) {
                const std::size_t at = rng() % m.size();
                switch (rng() % 3) {
                case 0: m[at] = static_cast<char>(rng() % 256); break;
                case 1: m.erase(at, 1 + rng() % 8); break;
                default: m.insert(at, 1, "[]'\"\\=,;#\n+x0"[rng() % 14]); break;
                }
                if (m.empty()) m = "x";
            }
            run_all(m);
        }
    }
}

TEST(Hostile, RandomBinary_IsAnErrorNotACrash) {
    std::mt19937 rng(777);
    for (int round = 0; round < 500; ++round) {
        std::string bytes(1 + rng() % 512, '\0');
        for (auto& b : bytes) b = static_cast<char>(rng() % 256);
        run_all(bytes);
    }
    using namespace std::string_view_literals;
    EXPECT_EQ(test::parse_error("\x7f" "ELF\x02\x01\x01"sv), "t.cfg:1:1: unexpected byte 0x7f");
}

TEST(Hostile, DeepNesting_IsRefusedWithoutRecursingDeep) {
    std::string deep = "x = " + std::string(200000, '[') + std::string(200000, ']');
    EXPECT_EQ(test::parse_error(deep),
              "t.cfg:1:7: lists nested more than two deep: no xl.cfg setting takes that");
}

TEST(Hostile, HugeInputs_AreRefusedOrHandledQuickly) {
    const auto start = std::chrono::steady_clock::now();

    // Just over the limit.
    EXPECT_EQ(test::parse_error(std::string(kMaxConfigBytes + 1, ' ')),
              "t.cfg: larger than 1 MiB; an xl.cfg file is a small text file");

    // Just under: one enormous string value.
    std::string long_string = "extra = '" + std::string(kMaxConfigBytes - 20, 'a') + "'\nname='a'\n";
    auto b = test::build_ok(long_string);
    EXPECT_EQ(b.cfg.cmdline->size(), kMaxConfigBytes - 20);

    // A huge list.
    std::string list = "disk = [";
    while (list.size() < kMaxConfigBytes - 16) list += "'a',";
    list += "]\n";
    EXPECT_GT(test::parse_ok(list).find("disk")->value.items.size(), 200000u);

    // A very long key.
    std::string key(kMaxConfigBytes - 10, 'k');
    auto k = test::parse_ok(key + " = 1\n");
    std::vector<Warning> ws;
    EXPECT_FALSE(build_domain_config(k, ws).ok());  // no name
    ASSERT_EQ(ws.size(), 1u);

    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_LT(elapsed, std::chrono::seconds(20));
}

TEST(Hostile, ManyDuplicatesAndUnknownKeys_CapTheWarnings) {
    std::string text = "name='a'\n";
    for (int i = 0; i < 5000; ++i) text += "memory = " + std::to_string(i + 1) + "\n";
    for (int i = 0; i < 5000; ++i) text += "unknown" + std::to_string(i) + " = 1\n";
    auto parsed = test::parse_ok(text);
    EXPECT_EQ(parsed.find("memory")->value.text, "5000");
    EXPECT_EQ(parsed.warnings.size(), kMaxWarnings + 1);
    EXPECT_EQ(parsed.warnings.back().str(),
              "t.cfg: warning: too many warnings; the rest are not shown");
    std::vector<Warning> ws;
    auto c = build_domain_config(parsed, ws);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->memory_mib, 5000u);
    EXPECT_EQ(ws.size(), kMaxWarnings + 1);
}

TEST(Hostile, ContradictoryValues_AreErrorsNotGuesses) {
    EXPECT_EQ(test::build_error("name='a'\nmemory=2048\nmaxmem=1024\n"),
              "t.cfg:3:8: maxmem: 1024 MiB is less than memory (2048 MiB, line 2)");
    EXPECT_EQ(test::build_error("name='a'\nvcpus=8\nmaxvcpus=4\n"),
              "t.cfg:3:10: maxvcpus: 4 is less than vcpus (8, line 2)");
    EXPECT_EQ(test::build_error("name='a'\ntype='pv'\nbuilder='hvm'\n"),
              "t.cfg:3:9: builder: \"hvm\" contradicts type=\"pv\" (line 2)");
    // Later settings win, so a contradiction fixed further down is fine.
    EXPECT_EQ(test::build_ok("name='a'\nmemory=2048\nmaxmem=1024\nmemory=512\n").cfg.memory_mib,
              512u);
}

TEST(Hostile, LongValuesInMessages_AreShortened) {
    const std::string msg = test::build_error("name='a'\nmemory='" + std::string(500, '9') + "x'\n");
    EXPECT_LT(msg.size(), 200u);
    EXPECT_NE(msg.find("...\""), std::string::npos) << msg;
    const std::string bad = test::parse_error("name = " + std::string(500, 'Z') + "\n");
    EXPECT_LT(bad.size(), 200u);
}

}  // namespace
}  // namespace xenolith::config
