// libxl JSON: `xl create -n` output byte for byte. The expected files in
// libxl_json/ are what Xen 4.17's own xl printed for the same configs
// (`xl -N create -n`, host of 8 CPUs in one NUMA node); configs without
// uuid= had their generated uuid replaced by kFixedUuid.
#include "toolstack/config/json.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace xenolith::config {
namespace {

using test::build_ok;
namespace fs = std::filesystem;

constexpr const char* kFixedUuid = "00000000-0000-4000-8000-000000000000";

std::string read_file(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

HostTopology eight_cpus() {
    HostTopology h;
    h.nr_cpus = 8;
    h.node_cpus = {{0, 1, 2, 3, 4, 5, 6, 7}};
    return h;
}

TEST(LibxlJson, EveryGoldenConfig_PrintsWhatXl417Prints) {
    const fs::path dir = XENOLITH_LIBXL_JSON_DIR;
    const fs::path corpus = XENOLITH_CONFIG_CORPUS;
    const HostTopology host = eight_cpus();
    int checked = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (entry.path().extension() != ".json") continue;
        const std::string stem = entry.path().stem().string();
        fs::path cfg_path = dir / (stem + ".cfg");
        if (!fs::exists(cfg_path)) cfg_path = corpus / (stem + ".cfg");
        auto parsed = parse_config_file(cfg_path.string());
        ASSERT_TRUE(parsed.ok()) << parsed.error().what;
        std::vector<Warning> ws;
        auto cfg = build_domain_config(*parsed, ws);
        ASSERT_TRUE(cfg.ok()) << stem << ": " << cfg.error().what;
        if (!cfg->uuid) cfg->uuid = Uuid::parse(kFixedUuid);
        EXPECT_EQ(to_libxl_json(*cfg, &host), read_file(entry.path())) << stem;
        ++checked;
    }
    EXPECT_GE(checked, 14);
}

TEST(LibxlJson, EmptyObjectsAndArrays_SpanTwoLinesAsYajlPrintsThem) {
    EXPECT_EQ(libxl_json_text(nlohmann::json::object()), "{\n\n}\n");
    EXPECT_EQ(libxl_json_text(nlohmann::json::array()), "[\n\n]\n");
    EXPECT_EQ(libxl_json_text({{"a", nlohmann::json::object()}}), "{\n    \"a\": {\n\n    }\n}\n");
}

TEST(LibxlJson, Strings_EscapedAsYajlDoes) {
    // Control characters as \uXXXX with upper-case hex, '/' left alone.
    EXPECT_EQ(libxl_json_text(nlohmann::json("a/\x1b\t\"\\\x7f")), "\"a/\\u001B\\t\\\"\\\\\x7f\"\n");
}

TEST(LibxlJson, ListEntries_PutDomidFirstAndConfigKeysInIdlOrder) {
    // As `xl list -l` gets them back from xenolithd: a sorted map.
    const nlohmann::json sorted = nlohmann::json::parse(
        R"([{"config":{"on_reboot":"restart","c_info":{"uuid":"u","type":"pvh","name":"n"},)"
        R"("b_info":{"type.pvh":{},"sched_params":{"weight":256,"sched":"credit2"}}},"domid":3}])");
    EXPECT_EQ(libxl_json_text(sorted),
              "[\n    {\n        \"domid\": 3,\n        \"config\": {\n"
              "            \"c_info\": {\n                \"type\": \"pvh\",\n"
              "                \"name\": \"n\",\n                \"uuid\": \"u\"\n            },\n"
              "            \"b_info\": {\n                \"sched_params\": {\n"
              "                    \"sched\": \"credit2\",\n                    \"weight\": 256\n"
              "                },\n                \"type.pvh\": {\n\n                }\n"
              "            },\n            \"on_reboot\": \"restart\"\n        }\n    }\n]\n");
}

TEST(LibxlJson, UnsetSettings_AreLeftOutAsLibxlDoes) {
    auto b = build_ok("name = 'min'\n");
    const nlohmann::json j = to_json(b.cfg);
    EXPECT_FALSE(j["c_info"].contains("uuid"));
    for (const char* k : {"max_vcpus", "avail_vcpus", "max_memkb", "target_memkb", "kernel",
                          "max_grant_frames", "event_channels", "numa_placement"})
        EXPECT_FALSE(j["b_info"].contains(k)) << k;
    EXPECT_FALSE(j.contains("on_poweroff"));
    EXPECT_EQ(j["on_reboot"], "restart");
    EXPECT_EQ(j["b_info"]["sched_params"], nlohmann::json::object());
}

TEST(LibxlJson, AffinityWithoutHost_IsLeftOutRatherThanGuessed) {
    auto b = build_ok("name='a'\nvcpus=2\ncpus='0-1'\n");
    EXPECT_FALSE(to_json(b.cfg)["b_info"].contains("vcpu_hard_affinity"));
    const HostTopology host = eight_cpus();
    EXPECT_EQ(to_json(b.cfg, &host)["b_info"]["vcpu_hard_affinity"],
              nlohmann::json::parse("[[0,1],[0,1]]"));
}

TEST(LibxlJson, InvalidUtf8_IsReplacedSoPrintingNeverThrows) {
    auto b = build_ok("name='bad\\xff\\xc3name'\nkernel='/boot/\\xe2\\x82'\nextra='ok \\xe2\\x82\\xac'\n");
    const nlohmann::json j = to_json(b.cfg);
    EXPECT_EQ(j["c_info"]["name"], "bad\xef\xbf\xbd\xef\xbf\xbdname");
    EXPECT_EQ(j["b_info"]["kernel"], "/boot/\xef\xbf\xbd\xef\xbf\xbd");
    EXPECT_EQ(j["b_info"]["cmdline"], "ok \xe2\x82\xac");
    EXPECT_NO_THROW((void)to_libxl_json(b.cfg));
}

}  // namespace
}  // namespace xenolith::config

namespace xenolith::config {
namespace {

// libxl_json/block-attach/<case>.spec is one disk= entry of a golden config
// and <case>.out that disk as the golden's "disks" holds it, printed as
// `xl -N block-attach DOM SPEC` prints it (libxl_device_disk_to_json: the
// same object and generator, at depth 0, after "disk: ").
TEST(LibxlJson, BlockAttachDryRun_PrintsTheDiskAsXl417) {
    const fs::path dir = fs::path(XENOLITH_LIBXL_JSON_DIR) / "block-attach";
    int checked = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (entry.path().extension() != ".spec") continue;
        std::string spec = read_file(entry.path());
        if (!spec.empty() && spec.back() == '\n') spec.pop_back();
        DiskConfig disk;
        SpecIssues issues;
        ASSERT_TRUE(parse_disk_spec(spec, disk, issues)) << spec;
        fs::path out = entry.path();
        out.replace_extension(".out");
        EXPECT_EQ("disk: " + disk_to_libxl_json(disk) + "\n", read_file(out)) << spec;
        ++checked;
    }
    EXPECT_GE(checked, 14);
}

}  // namespace
}  // namespace xenolith::config
