// xenolith-netback's command line: what the launcher writes parses back to
// the same arguments, and anything else is refused naming the argument.
#include <gtest/gtest.h>

#include "backend/net/netback_args.hpp"

using namespace xenolith::backend::net;

namespace {
NetbackArgs sample() {
    NetbackArgs a;
    a.frontend = 7;
    a.devid = 2;
    a.backend_path = "/local/domain/0/backend/vif/7/2";
    a.frontend_path = "/local/domain/7/device/vif/2";
    a.queues = 4;
    return a;
}
}  // namespace

TEST(NetbackArgs, to_argv_then_parse_gives_same_arguments) {
    for (bool csum : {true, false})
        for (bool relaunched : {false, true}) {
            NetbackArgs a = sample();
            a.csum_offload = csum;
            a.relaunched = relaunched;
            auto p = parse_netback_args(to_argv(a));
            ASSERT_TRUE(p) << p.error().what;
            EXPECT_EQ(p->frontend, 7);
            EXPECT_EQ(p->devid, 2u);
            EXPECT_EQ(p->backend_path, a.backend_path);
            EXPECT_EQ(p->frontend_path, a.frontend_path);
            EXPECT_EQ(p->queues, 4u);
            EXPECT_EQ(p->csum_offload, csum);
            EXPECT_EQ(p->relaunched, relaunched);
        }
    EXPECT_EQ(netback_name(sample()), "netback d7 2");
}

TEST(NetbackArgs, bad_or_missing_arguments_then_refused_naming_them) {
    auto base = to_argv(sample());
    auto with = [&](std::size_t i, std::string v) {
        auto a = base;
        a[i] = std::move(v);
        return parse_netback_args(a);
    };
    // 1 domid, 2 devid, 3 backend path, 4 frontend path, 5 queues
    for (const char* bad : {"--frontend-domid=0", "--frontend-domid=32752", "--frontend-domid=x", "--frontend-domid="}) {
        auto r = with(1, bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_NE(r.error().what.find("--frontend-domid"), std::string::npos);
    }
    for (const char* bad : {"--queues=0", "--queues=17", "--queues=-1", "--queues=1x"}) {
        auto r = with(5, bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_NE(r.error().what.find("--queues"), std::string::npos);
    }
    EXPECT_FALSE(with(3, "--backend-path=relative"));
    EXPECT_FALSE(with(4, "--frontend-path=/a//b"));
    EXPECT_FALSE(with(5, "--bogus"));
    auto missing = base;
    missing.erase(missing.begin() + 5);
    EXPECT_FALSE(parse_netback_args(missing));
    auto twice = base;
    twice.push_back("--queues=2");
    EXPECT_FALSE(parse_netback_args(twice));
}
