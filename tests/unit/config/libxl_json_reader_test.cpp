#include "toolstack/config/libxl_json_reader.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "test_util.hpp"
#include "toolstack/config/json.hpp"

namespace xenolith::config {
namespace libxl_json_reader_test {

using nlohmann::json;

// to_json of what from_json read back must be the JSON it read.
void expect_round_trip(const DomainConfig& cfg, const HostTopology* host = nullptr) {
    const json first = to_json(cfg, host);
    auto back = domain_config_from_json(first, "<saved>");
    ASSERT_TRUE(back) << back.error().what << "\n" << first.dump(2);
    EXPECT_EQ(to_json(*back, host), first) << first.dump(2);
}

TEST(LibxlJsonReader, RoundTripsAFullConfig) {
    const auto b = test::build_ok(
        "name = \"web\"\ntype = \"pvh\"\nkernel = \"/boot/vmlinuz\"\nramdisk = \"/boot/initrd\"\n"
        "cmdline = \"console=hvc0 root=/dev/xvda1\"\nmemory = 512\nmaxmem = 1024\nvcpus = 2\n"
        "maxvcpus = 4\nuuid = \"5d3e4f5a-1b2c-4d5e-8f90-a1b2c3d4e5f6\"\n"
        "on_reboot = \"destroy\"\non_crash = \"coredump-restart\"\nnomigrate = 1\n"
        "max_grant_frames = 32\nmax_event_channels = 2047\n"
        "disk = [ \"format=raw, vdev=xvda, access=rw, target=/img/a,b.img\",\n"
        "         \"/img/cd.iso,raw,xvdc,r,devtype=cdrom\" ]\n"
        "vif = [ \"mac=00:16:3e:01:02:03,bridge=xenbr0,ip=10.0.0.2,rate=10Mb/s\", \"devid=5\" ]\n");
    ASSERT_EQ(b.cfg.disks.size(), 2u);
    expect_round_trip(b.cfg);
    auto back = domain_config_from_json(to_json(b.cfg), "<saved>");
    ASSERT_TRUE(back);
    EXPECT_EQ(back->name, "web");
    EXPECT_EQ(back->memory_mib, 512u);
    EXPECT_EQ(back->maxmem_mib, 1024u);
    EXPECT_EQ(back->vcpus, 2u);
    EXPECT_EQ(back->max_vcpus, 4u);
    EXPECT_EQ(back->disks[0].target, "/img/a,b.img");
    EXPECT_FALSE(back->disks[1].readwrite);
    EXPECT_TRUE(back->disks[1].is_cdrom);
    EXPECT_EQ(back->nics[1].devid, 5u);
    EXPECT_EQ(back->libxl.nomigrate, true);
    // The daemon parses the specs again: they must parse alone.
    for (const auto& d : back->disks) {
        DiskConfig again;
        SpecIssues issues;
        EXPECT_TRUE(parse_disk_spec(d.spec, again, issues)) << d.spec;
    }
}

TEST(LibxlJsonReader, RoundTripsAffinityAndVirqs) {
    const auto b = test::build_ok(
        "name=\"a\"\ntype=\"pvh\"\nkernel=\"/k\"\nvcpus=2\ncpus=[\"0-1\", \"3\"]\n"
        "global_virqs=[\"console\"]\n");
    HostTopology host;
    host.nr_cpus = 4;
    host.node_cpus = {{0, 1, 2, 3}};
    expect_round_trip(b.cfg, &host);
}

TEST(LibxlJsonReader, RoundTripsTheCorpus) {
    // Every corpus config that builds must come back as it went.
    int checked = 0;
    for (const auto& e : std::filesystem::directory_iterator(XENOLITH_CONFIG_CORPUS)) {
        std::ifstream f(e.path());
        std::stringstream ss;
        ss << f.rdbuf();
        auto parsed = parse_config(ss.str(), e.path().filename().string());
        if (!parsed) continue;
        std::vector<Warning> ws;
        auto cfg = build_domain_config(*parsed, ws);
        if (!cfg) continue;
        if (cfg->name.empty()) continue;
        SCOPED_TRACE(e.path().string());
        const json first = to_json(*cfg);
        auto back = domain_config_from_json(first, "<saved>");
        if (!back) {
            // Only what an xl.cfg spec cannot say may fail.
            EXPECT_NE(back.error().what.find("cannot be expressed"), std::string::npos)
                << back.error().what;
            continue;
        }
        EXPECT_EQ(to_json(*back), first);
        ++checked;
    }
    EXPECT_GT(checked, 0);
}

std::string reader_error(std::string_view text) {
    auto r = domain_config_from_json_text(text, "<saved>");
    EXPECT_FALSE(r) << text;
    return r ? std::string() : r.error().what;
}

TEST(LibxlJsonReader, RefusesHostileInput) {
    EXPECT_EQ(reader_error("[1]"), "<saved>: the config is not a JSON object");
    EXPECT_EQ(reader_error("{"), "<saved>: the config is not valid JSON");
    EXPECT_EQ(reader_error("{}"), "<saved>: c_info: missing");
    EXPECT_EQ(reader_error(R"({"c_info":{"type":"pvh"}})"), "<saved>: c_info.name: missing");
    EXPECT_EQ(reader_error(R"({"c_info":{"name":7}})"), "<saved>: c_info.name: must be a string");
    EXPECT_EQ(reader_error(R"({"c_info":{"name":"a","type":"xx"}})"),
              "<saved>: c_info.type: unknown domain type \"xx\"");
    EXPECT_EQ(reader_error(R"({"c_info":{"name":"a"},"b_info":{"max_memkb":1000}})"),
              "<saved>: b_info.max_memkb: must be a whole number of MiB");
    EXPECT_EQ(reader_error(R"({"c_info":{"name":"a"},"b_info":{"max_memkb":-1024}})"),
              "<saved>: b_info.max_memkb: must be a non-negative whole number");
    EXPECT_EQ(reader_error(R"({"c_info":{"name":"a"},"b_info":{"max_vcpus":100000}})"),
              "<saved>: b_info.max_vcpus: 100000 is above the limit 4096");
    EXPECT_EQ(reader_error(R"({"c_info":{"name":"a"},"b_info":{"max_vcpus":2,"avail_vcpus":[5]}})"),
              "<saved>: b_info.avail_vcpus: must be a list of vCPU numbers below max_vcpus");
    EXPECT_EQ(reader_error(R"({"c_info":{"name":"a"},"on_crash":"explode"})"),
              "<saved>: on_crash: unknown action \"explode\"");
    EXPECT_EQ(reader_error(R"({"c_info":{"name":"a"},"disks":[{"vdev":"xvda","format":"raw,x"}]})"),
              "<saved>: disks[0].format: contains ',' and cannot be expressed as an xl.cfg setting");
    EXPECT_NE(reader_error(R"({"c_info":{"name":"a"},"disks":[{"vdev":"bogus!","pdev_path":"/x"}]})"),
              "");
    EXPECT_NE(reader_error(R"({"c_info":{"name":"a"},"nics":[{"mac":"zz"}]})"), "");
    EXPECT_EQ(reader_error(R"({"c_info":{"name":"a"},"xenolith":{"global_virqs":[99]}})"),
              "<saved>: xenolith.global_virqs: must be a list of VIRQ numbers");
    EXPECT_EQ(reader_error(std::string(100, '[') + std::string(100, ']')),
              "<saved>: the config nests too deeply");
    EXPECT_EQ(reader_error(R"({"c_info":{"name":"a\u0000b"}})"), "<saved>: c_info.name: contains a NUL");
}

TEST(LibxlJsonReader, IgnoresWhatXenolithDoesNotUse) {
    auto r = domain_config_from_json_text(
        R"({"c_info":{"name":"a","type":"pvh","ssidref":0,"xsdata":{}},
            "b_info":{"max_memkb":65536,"target_memkb":65536,"video_memkb":-1,"kernel":"/k",
                      "sched_params":{},"type.pvh":{},"arch_x86":{"msr_relaxed":"False"}},
            "vfbs":[],"on_reboot":"restart"})",
        "<saved>");
    ASSERT_TRUE(r) << r.error().what;
    EXPECT_EQ(r->memory_mib, 64u);
    EXPECT_EQ(r->on_reboot, ShutdownAction::restart);
    EXPECT_EQ(r->on_poweroff, ShutdownAction::destroy);
}

}  // namespace libxl_json_reader_test
}  // namespace xenolith::config
