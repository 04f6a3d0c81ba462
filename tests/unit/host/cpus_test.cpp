// The host CPU topology xenolithd reports (physinfo) and masks vCPU
// affinity against: Linux's cpulist format and /sys/devices/system.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "host/cpus.hpp"

namespace xenolith::host {
namespace {

namespace fs = std::filesystem;
using Cpus = std::vector<unsigned>;

TEST(LinuxCpulist, Parses) {
    EXPECT_EQ(parse_linux_cpulist("0-3\n"), (Cpus{0, 1, 2, 3}));
    EXPECT_EQ(parse_linux_cpulist("0,2-3,8"), (Cpus{0, 2, 3, 8}));
    EXPECT_EQ(parse_linux_cpulist("5"), (Cpus{5}));
    EXPECT_EQ(parse_linux_cpulist(""), Cpus{});  // a node without CPUs
    EXPECT_EQ(parse_linux_cpulist("\n"), Cpus{});
}

TEST(LinuxCpulist, RejectsMalformed) {
    for (const char* bad : {"x", "1-", "-1", "3-1", "1,,2", "1 2", "0-99999", "1-2-3", "+1"})
        EXPECT_FALSE(parse_linux_cpulist(bad)) << bad;
}

class FakeSysfs : public ::testing::Test {
protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() /
                ("xenolith-sysfs-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                 "-" + std::to_string(reinterpret_cast<std::uintptr_t>(this)));
        fs::create_directories(root_ / "cpu");
    }
    void TearDown() override { fs::remove_all(root_); }
    void put(const std::string& rel, const std::string& text) {
        fs::create_directories((root_ / rel).parent_path());
        std::ofstream(root_ / rel) << text;
    }
    fs::path root_;
};

TEST_F(FakeSysfs, TwoNodesWithAnOfflineCpu) {
    put("cpu/possible", "0-7\n");
    put("cpu/online", "0-2,4-7\n");
    put("node/node0/cpulist", "0-3\n");
    put("node/node1/cpulist", "4-7\n");
    put("node/online", "0-1\n");  // not a node directory
    const HostCpus h = read_host_cpus(root_.string());
    EXPECT_EQ(h.nr_cpus, 8u);
    EXPECT_EQ(h.online, (Cpus{0, 1, 2, 4, 5, 6, 7}));
    ASSERT_EQ(h.node_cpus.size(), 2u);
    EXPECT_EQ(h.node_cpus[0], (Cpus{0, 1, 2, 3}));
    EXPECT_EQ(h.node_cpus[1], (Cpus{4, 5, 6, 7}));
}

TEST_F(FakeSysfs, SparseNodesAndNoNumaSysfs) {
    put("cpu/possible", "0-3");
    put("cpu/online", "0-3");
    put("node/node2/cpulist", "2-3,9");  // CPU 9 is not possible: dropped
    HostCpus h = read_host_cpus(root_.string());
    ASSERT_EQ(h.node_cpus.size(), 3u);
    EXPECT_TRUE(h.node_cpus[0].empty());
    EXPECT_EQ(h.node_cpus[2], (Cpus{2, 3}));

    fs::remove_all(root_ / "node");
    h = read_host_cpus(root_.string());
    ASSERT_EQ(h.node_cpus.size(), 1u);  // one node holding the online CPUs
    EXPECT_EQ(h.node_cpus[0], (Cpus{0, 1, 2, 3}));
}

TEST(HostCpus, ThisHost) {
    const HostCpus h = read_host_cpus();
    EXPECT_GE(h.nr_cpus, 1u);
    EXPECT_FALSE(h.online.empty());
    EXPECT_LT(h.online.back(), h.nr_cpus);
    EXPECT_EQ(host_cpu_count(), h.nr_cpus);
}

}  // namespace
}  // namespace xenolith::host
