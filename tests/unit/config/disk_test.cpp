// disk= entries: the spec grammar of xl-disk-configuration(5), vdev names as
// libxl numbers them, and the errors a user gets.
#include "toolstack/config/disk.hpp"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include "test_util.hpp"
#include "toolstack/config/json.hpp"

namespace xenolith::config {
namespace {

using test::build_error;
using test::build_ok;

DiskConfig disk_ok(std::string_view spec) {
    DiskConfig d;
    SpecIssues issues;
    EXPECT_TRUE(parse_disk_spec(spec, d, issues)) << spec << ": "
                                                  << (issues.error ? issues.error->message : "");
    return d;
}

SpecIssue disk_error(std::string_view spec) {
    DiskConfig d;
    SpecIssues issues;
    EXPECT_FALSE(parse_disk_spec(spec, d, issues)) << "parsed: " << spec;
    return issues.error.value_or(SpecIssue{});
}

// The fields a spec determines, for comparing equivalent spellings.
std::string summary(const DiskConfig& d) {
    return fmt::format("{}|{}|{}|{}|rw={}|cdrom={}", d.target.value_or("<none>"), d.vdev,
                       d.device_number, to_string(d.format), d.readwrite, d.is_cdrom);
}

// ---- the manual's examples ----------------------------------------------------

TEST(DiskSpec, ManualExamples_AreEquivalent) {
    const std::string volume = summary(disk_ok("/dev/vg/guest-volume,,hda"));
    EXPECT_EQ(volume, "/dev/vg/guest-volume|hda|768|raw|rw=true|cdrom=false");
    EXPECT_EQ(summary(disk_ok("/dev/vg/guest-volume,raw,hda,rw")), volume);
    EXPECT_EQ(summary(disk_ok("format=raw, vdev=hda, access=rw, target=/dev/vg/guest-volume")),
              volume);
    EXPECT_EQ(summary(disk_ok("raw:/dev/vg/guest-volume,hda,w")), volume);

    const std::string iso = summary(disk_ok("/root/image.iso,,hdc,cdrom"));
    EXPECT_EQ(iso, "/root/image.iso|hdc|5632|raw|rw=false|cdrom=true");
    EXPECT_EQ(summary(disk_ok("/root/image.iso,,hdc,,cdrom")), iso);
    EXPECT_EQ(summary(disk_ok("/root/image.iso,raw,hdc,devtype=cdrom")), iso);
    EXPECT_EQ(summary(disk_ok("format=raw, vdev=hdc, access=ro, devtype=cdrom, target=/root/image.iso")),
              iso);
    EXPECT_EQ(summary(disk_ok("raw:/root/image.iso,hdc:cdrom,ro")), iso);
}

TEST(DiskSpec, TargetKeyword_TakesTheRestCommasIncluded) {
    auto d = disk_ok("vdev=xvda, target=/srv/odd,name=with,commas.img");
    EXPECT_EQ(d.target, "/srv/odd,name=with,commas.img");
    // One trailing comma is dropped, as libxlu does.
    EXPECT_EQ(disk_ok("vdev=xvda,target=/a,").target, "/a");
    // target= after an empty positional target replaces it.
    EXPECT_EQ(disk_ok(",raw,xvda,rw,target=/b").target, "/b");
}

TEST(DiskSpec, LegacyPrefixes) {
    EXPECT_EQ(summary(disk_ok("phy:/dev/vg0/web,xvda,w")), "/dev/vg0/web|xvda|51712|raw|rw=true|cdrom=false");
    EXPECT_EQ(disk_ok("file:/srv/a.img,xvdb,r").target, "/srv/a.img");
    EXPECT_FALSE(disk_ok("file:/srv/a.img,xvdb,r").readwrite);
    EXPECT_EQ(disk_ok("tap:aio:/srv/a.img,xvda,w").target, "/srv/a.img");
    EXPECT_EQ(disk_ok("tap2:tapdisk:aio:/srv/a.img,xvda,w").target, "/srv/a.img");
    auto q = disk_ok("tap:qcow2:/srv/a.qcow2,xvda,w");
    EXPECT_EQ(q.format, DiskFormat::qcow2);
    EXPECT_EQ(q.target, "/srv/a.qcow2");
    EXPECT_EQ(disk_ok("vhd:/srv/a.vhd,xvda,w").format, DiskFormat::vhd);
    EXPECT_EQ(disk_ok("qcow:/srv/a.qcow,xvda,w").format, DiskFormat::qcow);
    auto nbd = disk_ok("nbd:server:10809,xvda,w");
    EXPECT_EQ(nbd.script, "block-nbd");
    EXPECT_EQ(nbd.target, "server:10809");
    EXPECT_EQ(disk_ok("iscsi:iqn.2001-04.com.example:storage,xvda,w").script, "block-iscsi");
    EXPECT_EQ(disk_ok("drbd:r0,xvda,w").script, "block-drbd");
    auto e = disk_error("ceph:/pool/img,xvda,w");
    EXPECT_EQ(e.offset, 0u);
    EXPECT_NE(e.message.find("unknown prefix 'ceph:'"), std::string::npos) << e.message;
}

TEST(DiskSpec, EmptyCdroms) {
    auto xend = disk_ok(",hdc:cdrom,r");
    EXPECT_EQ(summary(xend), "|hdc|5632|empty|rw=false|cdrom=true");
    EXPECT_TRUE(xend.removable);
    auto keyword = disk_ok("vdev=hdc,devtype=cdrom");
    EXPECT_FALSE(keyword.target);
    EXPECT_EQ(keyword.format, DiskFormat::empty);
    EXPECT_EQ(disk_ok("vdev=xvdc, devtype=cdrom, target=").target, "");
    EXPECT_EQ(disk_ok("cdrom,vdev=hdd").format, DiskFormat::empty);
}

TEST(DiskSpec, FlagsAndKeywords) {
    auto d = disk_ok("backend=storage-dom, backendtype=qdisk, script=block-iscsi, direct-io-safe, "
                     "discard, untrusted, specification=virtio, grant_usage=1, vdev=xvda, "
                     "target=iqn.x");
    EXPECT_EQ(d.backend_domain, "storage-dom");
    EXPECT_EQ(d.backend_type, DiskBackendType::qdisk);
    EXPECT_EQ(d.script, "block-iscsi");
    EXPECT_TRUE(d.direct_io_safe);
    EXPECT_EQ(d.discard, true);
    EXPECT_EQ(d.trusted, false);
    EXPECT_EQ(d.specification, DiskSpecification::virtio);
    EXPECT_EQ(d.grant_usage, true);
    EXPECT_EQ(disk_ok("/a,,xvda,no-discard,trusted").discard, false);
    EXPECT_EQ(disk_ok("/a,,xvda,trusted").trusted, true);
    // Whitespace before a parameter is ignored.
    EXPECT_EQ(disk_ok("  /a ,raw,xvda").target, "/a ");
}

TEST(DiskSpec, Colo_IsAcceptedWithAWarning) {
    DiskConfig d;
    SpecIssues issues;
    ASSERT_TRUE(parse_disk_spec("/a,,xvda,colo,colo-host=h,colo-port=9000,colo-export=e,"
                                "active-disk=/x,hidden-disk=/y",
                                d, issues));
    EXPECT_TRUE(d.colo);
    ASSERT_EQ(issues.warnings.size(), 1u);
    EXPECT_EQ(issues.warnings[0].message, "COLO settings are not supported by xenolith; ignored");
}

// ---- errors: message and offset ------------------------------------------------

TEST(DiskSpec, Errors_SayWhatAndWhere) {
    auto e = disk_error("/a,raw,xvda,rw,extra");
    EXPECT_EQ(e.offset, 15u);
    EXPECT_EQ(e.message, "too many positional parameters at 'extra'; the order is target, format, "
                         "vdev, access");
    e = disk_error("/a,ext4,xvda");
    EXPECT_EQ(e.offset, 3u);
    EXPECT_NE(e.message.find("unknown format 'ext4'"), std::string::npos);
    e = disk_error("/a,,xvda,rx");
    EXPECT_EQ(e.offset, 9u);
    EXPECT_EQ(e.message, "access: expected ro, r, rw or w, got 'rx'");
    e = disk_error("vdev=xvda,bogus=1,target=/a");
    EXPECT_EQ(e.offset, 10u);
    EXPECT_NE(e.message.find("unknown disk parameter 'bogus'"), std::string::npos);
    e = disk_error("/a=b,xvda");
    EXPECT_NE(e.message.find("contains '='"), std::string::npos);
    e = disk_error("devtype=floppy,vdev=fda,target=/a");
    EXPECT_EQ(e.offset, 8u);
    EXPECT_EQ(e.message, "devtype: expected cdrom or disk, got 'floppy'");
    e = disk_error("/a,raw,xvda,format=qcow2");
    EXPECT_EQ(e.message, "format given twice: raw and 'qcow2'");
    e = disk_error("vdev=xvda,vdev=xvdb,target=/a");
    EXPECT_EQ(e.message, "vdev given twice: 'xvda' and 'xvdb'");
    e = disk_error("/a,,xvdb:floppy");
    EXPECT_EQ(e.message, "expected cdrom or disk after 'xvdb:', got 'floppy'");
    e = disk_error("backendtype=nfs,vdev=xvda,target=/a");
    EXPECT_EQ(e.message, "backendtype: expected phy, tap, qdisk or standalone, got 'nfs'");
    e = disk_error("/a,,xvda,grant_usage=yes");
    EXPECT_EQ(e.message, "grant_usage: expected 0 or 1, got 'yes'");
}

TEST(DiskSpec, MissingParts_AreErrors) {
    EXPECT_NE(disk_error("/dev/vg/a").message.find("no vdev"), std::string::npos);
    EXPECT_NE(disk_error("").message.find("no vdev"), std::string::npos);
    auto late = disk_error("target=/a,vdev=xvda");
    EXPECT_EQ(late.offset, 7u);
    EXPECT_EQ(late.message, "no vdev: target= takes the rest of the spec, so the vdev= after it "
                            "became part of the target; write target= last");
    EXPECT_NE(disk_error("vdev=xvda").message.find("no target"), std::string::npos);
    auto e = disk_error(",,xvda");
    EXPECT_EQ(e.message, "empty target: only a cdrom drive may be empty (add devtype=cdrom)");
    EXPECT_EQ(disk_error("/a,empty,xvda").message, "format empty is only for cdrom drives");
}

TEST(DiskSpec, FormatInTheVdevPlaceAfterAPrefix_GetsAHint) {
    auto e = disk_error("file:/srv/a.qcow2,qcow2,xvda,w");
    EXPECT_EQ(e.offset, 18u);
    EXPECT_EQ(e.message, "vdev: 'qcow2' is a format, but after a prefix such as phy: or file: the "
                         "positions are target, vdev, access; write format=qcow2 or the qcow2: "
                         "prefix");
    EXPECT_EQ(disk_error("phy:/dev/x,,w").message.substr(0, 10), "vdev: '' i");
}

TEST(DiskSpec, BadVdev_PointsAtIt) {
    auto e = disk_error("phy:/dev/vg/a,xvd1,w");
    EXPECT_EQ(e.offset, 14u);
    EXPECT_NE(e.message.find("vdev: 'xvd1' is not a virtual disk name"), std::string::npos);
    EXPECT_EQ(disk_error("vdev=,target=/a").message.substr(0, 9), "vdev: '' ");
    for (const char* bad : {"xvd", "xvdA", "xvda0", "xvda256", "hde", "hda64", "sdq", "sda16",
                            "vda", "d1048576p0", "d0p256", "-1", "0x80000000", "xvda ", "hd"}) {
        EXPECT_FALSE(disk_device_number(bad)) << bad;
    }
}

// ---- vdev numbering (libxl__device_disk_dev_number) ---------------------------

TEST(DiskDeviceNumber, MatchesLibxl) {
    EXPECT_EQ(disk_device_number("xvda"), 51712u);
    EXPECT_EQ(disk_device_number("xvdb"), 51728u);
    EXPECT_EQ(disk_device_number("xvda1"), 51713u);
    EXPECT_EQ(disk_device_number("xvdp15"), (202u << 8) | (15u << 4) | 15u);
    // Beyond 16 disks or 15 partitions: the extended scheme.
    EXPECT_EQ(disk_device_number("xvdq"), (1u << 28) | (16u << 8));
    EXPECT_EQ(disk_device_number("xvda16"), (1u << 28) | 16u);
    EXPECT_EQ(disk_device_number("xvdaa"), (1u << 28) | (26u << 8));
    EXPECT_EQ(disk_device_number("d0p0"), 51712u);
    EXPECT_EQ(disk_device_number("d1p2"), 51730u);
    EXPECT_EQ(disk_device_number("d100p0"), (1u << 28) | (100u << 8));
    EXPECT_EQ(disk_device_number("hda"), 768u);
    EXPECT_EQ(disk_device_number("hdb"), 832u);
    EXPECT_EQ(disk_device_number("hdc"), 5632u);
    EXPECT_EQ(disk_device_number("hdd1"), 5697u);
    EXPECT_EQ(disk_device_number("sda"), 2048u);
    EXPECT_EQ(disk_device_number("sdb3"), 2067u);
    EXPECT_EQ(disk_device_number("51712"), 51712u);
    EXPECT_EQ(disk_device_number("0xca00"), 51712u);
}

// ---- in a config file -----------------------------------------------------------

TEST(DiskConfigFile, ErrorsCarryFileLineAndColumnOfTheBadPart) {
    EXPECT_EQ(build_error("name='a'\ndisk = [ 'phy:/dev/vg/a,xvd1,w' ]\n"),
              "t.cfg:2:25: disk: vdev: 'xvd1' is not a virtual disk name; expected "
              "xvd<letters>[N] (xvda, xvdb1, xvdaa), hd<a-d>[1-63], sd<a-p>[1-15], d<N>p<M> or a "
              "device number");
    EXPECT_EQ(build_error("name='a'\ndisk = [ '/a,,xvda',\n         'vdev=xvdb,frob=1,target=/b' ]\n"),
              "t.cfg:3:21: disk: unknown disk parameter 'frob'; expected target, format, vdev, "
              "access, devtype, backend, backendtype, script, specification, grant_usage or a flag");
}

TEST(DiskConfigFile, DuplicateVdev_IsAnError) {
    EXPECT_EQ(build_error("name='a'\ndisk=['/a,,xvda',\n'/b,,xvdb',\n'/c,,d0p0']\n"),
              "t.cfg:4:2: disk: vdev 'd0p0' is the same device as 'xvda' (line 2); each disk needs "
              "its own vdev");
    EXPECT_EQ(build_error("name='a'\ndisk=['/a,,hda','/b,,768']\n"),
              "t.cfg:2:18: disk: vdev '768' is the same device as 'hda' (line 2); each disk needs "
              "its own vdev");
}

TEST(DiskConfigFile, NotAListOrNested_IsAnError) {
    EXPECT_EQ(build_error("name='a'\ndisk='/a,,xvda'\n"),
              "t.cfg:2:6: disk: expected a list such as disk = [ '...' ], got \"/a,,xvda\"");
    EXPECT_EQ(build_error("name='a'\ndisk=[['/a,,xvda']]\n"),
              "t.cfg:2:7: disk: expected a string, got a nested list");
}

TEST(DiskConfigFile, NoWarning_SpecsKeptForTheDaemon) {
    auto b = build_ok("name='a'\ndisk=['/a,,xvda','/b,,xvdb']\n");
    EXPECT_EQ(b.cfg.disks.size(), 2u);
    EXPECT_TRUE(b.warnings.empty());  // disks are attached at create
    EXPECT_EQ(b.cfg.disks[1].spec, "/b,,xvdb");
    EXPECT_EQ(b.cfg.disks[1].where.line, 2u);
    auto none = build_ok("name='a'\ndisk=[]\n");
    EXPECT_TRUE(none.cfg.disks.empty());
    EXPECT_TRUE(none.warnings.empty());
}

TEST(DiskConfigFile, OverridesAppendDisks) {
    auto parsed = parse_config("name='a'\ndisk=['/a,,xvda']\n", "t.cfg");
    ASSERT_TRUE(parsed.ok());
    ASSERT_TRUE(apply_override(*parsed, "disk+=['/b,,xvdb']").ok());
    std::vector<Warning> ws;
    auto c = build_domain_config(*parsed, ws);
    ASSERT_TRUE(c.ok()) << c.error().what;
    ASSERT_EQ(c->disks.size(), 2u);
    EXPECT_EQ(c->disks[1].where.file, "<command line>");
}

TEST(DiskJson, LibxlShape) {
    auto b = build_ok("name='a'\n"
                      "disk=['backend=sd, backendtype=phy, script=block-x, direct-io-safe, "
                      "no-discard, trusted, vdev=xvda, access=ro, target=/dev/sda']\n");
    EXPECT_EQ(to_json(b.cfg)["disks"], nlohmann::json::parse(
              R"([{"backend_domname":"sd","pdev_path":"/dev/sda","vdev":"xvda","backend":"phy",)"
              R"("format":"raw","script":"block-x","direct_io_safe":true,"discard_enable":"False",)"
              R"("trusted":"True"}])"));
    // No disks: no "disks" key, as libxl prints nothing for an empty array.
    EXPECT_FALSE(to_json(build_ok("name='a'\n").cfg).contains("disks"));
}

}  // namespace
}  // namespace xenolith::config
