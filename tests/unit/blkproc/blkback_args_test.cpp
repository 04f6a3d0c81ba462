#include <gtest/gtest.h>

#include "backend/blk/blkback_args.hpp"
#include "backend/blk/queues.hpp"

using namespace xenolith::backend::blk;

TEST(BlkbackArgs, round_trip_when_every_flag_set_then_parsed_back_identically) {
    BlkbackArgs a;
    a.frontend = 7;
    a.devid = 51728;
    a.backend_path = "/local/domain/0/backend/vbd/7/51728";
    a.frontend_path = "/local/domain/7/device/vbd/51728";
    a.readonly = a.cdrom = a.direct = true;
    a.has_disk = false;
    a.max_queues = 3;
    auto back = parse_blkback_args(to_argv(a));
    ASSERT_TRUE(back) << back.error().what;
    EXPECT_EQ(back->frontend, 7);
    EXPECT_EQ(back->devid, 51728u);
    EXPECT_EQ(back->backend_path, a.backend_path);
    EXPECT_EQ(back->frontend_path, a.frontend_path);
    EXPECT_TRUE(back->readonly && back->cdrom && back->direct && !back->has_disk);
    EXPECT_EQ(back->max_queues, 3u);
    EXPECT_EQ(blkback_name(*back), "blkback d7 51728");
}

TEST(BlkbackArgs, bad_arguments_when_parsed_then_refused_naming_them) {
    const std::vector<std::string> base{"xenolith-blkback", "--frontend-domid=3", "--devid=51712",
                                        "--backend-path=/local/domain/0/backend/vbd/3/51712",
                                        "--frontend-path=/local/domain/3/device/vbd/51712"};
    ASSERT_TRUE(parse_blkback_args(base));
    EXPECT_EQ(parse_blkback_args(base)->max_queues, 1u);  // not told: one queue, never the kernel's count
    auto with = [&](std::size_t i, std::string v) {
        auto a = base;
        a[i] = std::move(v);
        return parse_blkback_args(a);
    };
    for (const char* bad : {"--frontend-domid=0", "--frontend-domid=32752", "--frontend-domid=-1",
                            "--frontend-domid=1x", "--frontend-domid="}) {
        auto r = with(1, bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_NE(r.error().what.find("--frontend-domid"), std::string::npos) << r.error().what;
    }
    EXPECT_FALSE(with(2, "--devid=99999999999"));
    EXPECT_FALSE(with(3, "--backend-path=relative/path"));
    EXPECT_FALSE(with(3, "--backend-path=/a//b"));
    EXPECT_FALSE(with(4, "--frontend-path=/a/b/"));
    EXPECT_FALSE(with(4, "--bogus"));
    for (const char* bad : {"--max-queues=0", "--max-queues=17", "--max-queues=x", "--max-queues"}) {
        auto a = base;
        a.push_back(bad);
        auto r = parse_blkback_args(a);
        ASSERT_FALSE(r) << bad;
    }
    auto missing = base;
    missing.pop_back();
    EXPECT_FALSE(parse_blkback_args(missing));
    auto nodisk = base;
    nodisk.push_back("--no-disk");
    EXPECT_FALSE(parse_blkback_args(nodisk)) << "--no-disk without --cdrom";
}

TEST(BlkbackArgs, max_queues_when_left_at_default_then_launcher_writes_host_default) {
    BlkbackArgs a;
    a.frontend = 2;
    a.backend_path = "/local/domain/0/backend/vbd/2/51712";
    a.frontend_path = "/local/domain/2/device/vbd/51712";
    auto back = parse_blkback_args(to_argv(a));
    ASSERT_TRUE(back) << back.error().what;
    EXPECT_EQ(back->max_queues, default_max_queues());
}
