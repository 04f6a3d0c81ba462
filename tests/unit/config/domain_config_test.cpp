#include "toolstack/config/domain_config.hpp"

#include <gtest/gtest.h>

#include "toolstack/config/json.hpp"

#include "test_util.hpp"

namespace xenolith::config {
namespace {

using test::build_error;
using test::build_ok;
using Strings = std::vector<std::string>;

// ---- defaults ---------------------------------------------------------------

TEST(DomainConfig, NameAlone_GetsXlDefaults) {
    auto b = build_ok("name = 'min'\n");
    const DomainConfig& c = b.cfg;
    EXPECT_EQ(c.source, "t.cfg");
    EXPECT_EQ(c.name, "min");
    EXPECT_EQ(c.type, DomainType::pv);
    EXPECT_FALSE(c.uuid);
    EXPECT_EQ(c.memory_mib, 32u);
    EXPECT_EQ(c.maxmem_mib, 32u);
    EXPECT_EQ(c.vcpus, 1u);
    EXPECT_EQ(c.max_vcpus, 1u);
    EXPECT_EQ(c.on_poweroff, ShutdownAction::destroy);
    EXPECT_EQ(c.on_reboot, ShutdownAction::restart);
    EXPECT_EQ(c.on_watchdog, ShutdownAction::destroy);
    EXPECT_EQ(c.on_crash, ShutdownAction::destroy);
    EXPECT_EQ(c.on_soft_reset, ShutdownAction::soft_reset);
    EXPECT_EQ(c.max_grant_frames, 64u);
    EXPECT_EQ(c.max_maptrack_frames, 1024u);
    EXPECT_EQ(c.max_event_channels, 1023u);
    EXPECT_FALSE(c.kernel);
    EXPECT_FALSE(c.cmdline);
    EXPECT_FALSE(c.cpus);
    EXPECT_TRUE(b.warnings.empty());
}

// ---- name -------------------------------------------------------------------

TEST(DomainConfigName, MissingName_IsAnError) {
    EXPECT_EQ(build_error("memory = 512\n"),
              "t.cfg: name: missing; every domain needs name=\"...\"");
}

TEST(DomainConfigName, InvalidNames_AreErrors) {
    EXPECT_EQ(build_error("name = ''\n"), "t.cfg:1:8: name: must not be empty");
    EXPECT_EQ(build_error("name = '123'\n"),
              "t.cfg:1:8: name: \"123\" is all digits, which xl commands would read as a domain id");
    EXPECT_EQ(build_error("name = 42\n"),
              "t.cfg:1:8: name: \"42\" is all digits, which xl commands would read as a domain id");
    EXPECT_EQ(build_error("name = 'a\\nb'\n"), "t.cfg:1:8: name: contains a control character");
    EXPECT_EQ(build_error("name = ['a']\n"), "t.cfg:1:8: name: expected a string, got a list");
}

TEST(DomainConfigName, UnusualButValidNames_AreKept) {
    EXPECT_EQ(build_ok("name = 'web-01.example_net'").cfg.name, "web-01.example_net");
    EXPECT_EQ(build_ok("name = '0x1'").cfg.name, "0x1");
    EXPECT_EQ(build_ok("name = 'caf\xc3\xa9'").cfg.name, "caf\xc3\xa9");
}

// ---- type -------------------------------------------------------------------

TEST(DomainConfigType, ExactNames) {
    EXPECT_EQ(build_ok("name='a'\ntype='pvh'").cfg.type, DomainType::pvh);
    EXPECT_EQ(build_ok("name='a'\ntype='hvm'").cfg.type, DomainType::hvm);
    EXPECT_EQ(build_ok("name='a'\ntype='pv'").cfg.type, DomainType::pv);
}

TEST(DomainConfigType, PrefixesAreAcceptedAsXlDoes_WithAWarning) {
    auto b = build_ok("name='a'\ntype='h'");
    EXPECT_EQ(b.cfg.type, DomainType::hvm);
    EXPECT_EQ(b.warnings, Strings{"t.cfg:2: warning: type: \"h\" is taken as \"hvm\", as xl does"});
    EXPECT_EQ(build_ok("name='a'\ntype='p'").cfg.type, DomainType::pv);
}

TEST(DomainConfigType, UnknownType_IsAnError) {
    EXPECT_EQ(build_error("name='a'\ntype='kvm'"),
              "t.cfg:2:6: type: expected \"pv\", \"pvh\" or \"hvm\", got \"kvm\"");
    EXPECT_EQ(build_error("name='a'\ntype=''"),
              "t.cfg:2:6: type: expected \"pv\", \"pvh\" or \"hvm\", got \"\"");
    EXPECT_EQ(build_error("name='a'\ntype='PVH'"),
              "t.cfg:2:6: type: expected \"pv\", \"pvh\" or \"hvm\", got \"PVH\"");
}

TEST(DomainConfigType, OldBuilderKey_IsHonouredAndFlaggedDeprecated) {
    auto b = build_ok("name='a'\nbuilder='hvm'");
    EXPECT_EQ(b.cfg.type, DomainType::hvm);
    EXPECT_EQ(b.warnings,
              Strings{"t.cfg:2: warning: 'builder' is deprecated; write type=\"hvm\" instead"});
    EXPECT_EQ(build_ok("name='a'\nbuilder='generic'").cfg.type, DomainType::pv);
    EXPECT_EQ(build_ok("name='a'\ntype='hvm'\nbuilder='hvm'").cfg.type, DomainType::hvm);
}

TEST(DomainConfigType, BuilderContradictingType_IsAnError) {
    EXPECT_EQ(build_error("name='a'\ntype='pvh'\nbuilder='hvm'\n"),
              "t.cfg:3:9: builder: \"hvm\" contradicts type=\"pvh\" (line 2)");
    EXPECT_EQ(build_error("name='a'\nbuilder='linux'\n"),
              "t.cfg:2:9: builder: expected \"hvm\" or \"generic\", got \"linux\"");
}

// ---- uuid -------------------------------------------------------------------

TEST(DomainConfigUuid, ValidUuid_IsParsedAndPrintedLowerCase) {
    auto b = build_ok("name='a'\nuuid='5D3EC8A0-5f2d-4b9c-9d3e-2a1b0c9d8e7f'");
    ASSERT_TRUE(b.cfg.uuid);
    EXPECT_EQ(b.cfg.uuid->str(), "5d3ec8a0-5f2d-4b9c-9d3e-2a1b0c9d8e7f");
    EXPECT_EQ(b.cfg.uuid->bytes[0], 0x5d);
    EXPECT_EQ(b.cfg.uuid->bytes[15], 0x7f);
}

TEST(DomainConfigUuid, MalformedUuids_AreErrors) {
    const std::string msg =
        "t.cfg:2:6: uuid: expected a UUID such as \"5d3ec8a0-5f2d-4b9c-9d3e-2a1b0c9d8e7f\", got ";
    EXPECT_EQ(build_error("name='a'\nuuid='xyz'"), msg + "\"xyz\"");
    EXPECT_EQ(build_error("name='a'\nuuid='5d3ec8a05f2d4b9c9d3e2a1b0c9d8e7f'"),
              msg + "\"5d3ec8a05f2d4b9c9d3e2a1b0c9d8e7f\"");
    EXPECT_EQ(build_error("name='a'\nuuid='5d3ec8a0-5f2d-4b9c-9d3e-2a1b0c9d8e7g'"),
              msg + "\"5d3ec8a0-5f2d-4b9c-9d3e-2a1b0c9d8e7g\"");
    EXPECT_EQ(build_error("name='a'\nuuid='{5d3ec8a0-5f2d-4b9c-9d3e-2a1b0c9d8e7f}'"),
              msg + "\"{5d3ec8a0-5f2d-4b9c-9d3e-2a1b0c9d8e7f}\"");
}

// ---- memory -----------------------------------------------------------------

TEST(DomainConfigMemory, MaxmemDefaultsToMemoryAndViceVersa) {
    auto a = build_ok("name='a'\nmemory=512");
    EXPECT_EQ(a.cfg.memory_mib, 512u);
    EXPECT_EQ(a.cfg.maxmem_mib, 512u);
    auto b = build_ok("name='a'\nmaxmem=2048");
    EXPECT_EQ(b.cfg.memory_mib, 2048u);
    EXPECT_EQ(b.cfg.maxmem_mib, 2048u);
    auto c = build_ok("name='a'\nmemory=1024\nmaxmem=4096");
    EXPECT_EQ(c.cfg.memory_mib, 1024u);
    EXPECT_EQ(c.cfg.maxmem_mib, 4096u);
}

TEST(DomainConfigMemory, NumbersAsXlReadsThem) {
    EXPECT_EQ(build_ok("name='a'\nmemory=0x400").cfg.memory_mib, 1024u);
    EXPECT_EQ(build_ok("name='a'\nmemory='768'").cfg.memory_mib, 768u);
    auto oct = build_ok("name='a'\nmemory=0100");
    EXPECT_EQ(oct.cfg.memory_mib, 64u);
    EXPECT_EQ(oct.warnings,
              Strings{"t.cfg:2: warning: memory: 0100 has a leading 0, so xl reads it as octal: 64"});
    EXPECT_TRUE(build_ok("name='a'\nmemory=01").warnings.empty());
}

TEST(DomainConfigMemory, BadValues_NameKeyAndLine) {
    EXPECT_EQ(build_error("name='a'\n\n\nmemory='lots'"),
              "t.cfg:4:8: memory: expected a number of MiB, got \"lots\"");
    EXPECT_EQ(build_error("name='a'\nmemory=12abc"),
              "t.cfg:2:8: memory: expected a number of MiB, got 12abc");
    EXPECT_EQ(build_error("name='a'\nmemory=08"),
              "t.cfg:2:8: memory: expected a number of MiB, got 08");
    EXPECT_EQ(build_error("name='a'\nmemory=[512]"),
              "t.cfg:2:8: memory: expected a number of MiB, got a list");
    EXPECT_EQ(build_error("name='a'\nmemory=0"), "t.cfg:2:8: memory: must be at least 1 MiB, got 0");
    EXPECT_EQ(build_error("name='a'\nmemory='-512'"),
              "t.cfg:2:8: memory: must be at least 1 MiB, got -512");
    EXPECT_EQ(build_error("name='a'\nmemory=99999999999999999999"),
              "t.cfg:2:8: memory: 99999999999999999999 is out of range");
    EXPECT_EQ(build_error("name='a'\nmemory=2000000000000"),
              "t.cfg:2:8: memory: 2000000000000 MiB is too large");
    EXPECT_EQ(build_error("name='a'\nmaxmem='1G'"),
              "t.cfg:2:8: maxmem: expected a number of MiB, got \"1G\"");
}

TEST(DomainConfigMemory, AppendToNumber_IsRefusedAsXlDoes) {
    EXPECT_EQ(build_error("name='a'\nmemory=5\nmemory+=12"),
              "t.cfg:3:9: memory: += cannot be used with a number");
    EXPECT_EQ(build_error("name='a'\nvcpus+=2"), "t.cfg:2:8: vcpus: += cannot be used with a number");
}

TEST(DomainConfigMemory, MemoryAboveMaxmem_IsAnError) {
    EXPECT_EQ(build_error("name='a'\nmemory=1024\nmaxmem=512\n"),
              "t.cfg:3:8: maxmem: 512 MiB is less than memory (1024 MiB, line 2)");
}

// ---- vcpus ------------------------------------------------------------------

TEST(DomainConfigVcpus, MaxvcpusDefaultsToVcpus) {
    auto b = build_ok("name='a'\nvcpus=4");
    EXPECT_EQ(b.cfg.vcpus, 4u);
    EXPECT_EQ(b.cfg.max_vcpus, 4u);
    auto c = build_ok("name='a'\nvcpus=2\nmaxvcpus=8");
    EXPECT_EQ(c.cfg.vcpus, 2u);
    EXPECT_EQ(c.cfg.max_vcpus, 8u);
    auto d = build_ok("name='a'\nmaxvcpus=8");
    EXPECT_EQ(d.cfg.vcpus, 1u);
    EXPECT_EQ(d.cfg.max_vcpus, 8u);
    // xl treats maxvcpus=0 as unset.
    EXPECT_EQ(build_ok("name='a'\nvcpus=3\nmaxvcpus=0").cfg.max_vcpus, 3u);
}

TEST(DomainConfigVcpus, ZeroVcpus_IsTakenAsOneLikeXl) {
    auto b = build_ok("name='a'\nvcpus=0");
    EXPECT_EQ(b.cfg.vcpus, 1u);
    EXPECT_EQ(b.warnings, Strings{"t.cfg:2: warning: vcpus: 0 is taken as 1, as xl does"});
}

TEST(DomainConfigVcpus, Errors) {
    EXPECT_EQ(build_error("name='a'\nvcpus=4\nmaxvcpus=2"),
              "t.cfg:3:10: maxvcpus: 2 is less than vcpus (4, line 2)");
    EXPECT_EQ(build_error("name='a'\nmaxvcpus='-1'"),
              "t.cfg:2:10: maxvcpus: must not be negative, got -1");
    EXPECT_EQ(build_error("name='a'\nvcpus=5000"),
              "t.cfg:2:7: vcpus: 5000 is more than the 4096 vCPUs a domain can have");
    EXPECT_EQ(build_error("name='a'\nmaxvcpus=100000"),
              "t.cfg:2:10: maxvcpus: 100000 is more than the 4096 vCPUs a domain can have");
    EXPECT_EQ(build_error("name='a'\nvcpus='two'"),
              "t.cfg:2:7: vcpus: expected a number of vCPUs, got \"two\"");
}

TEST(DomainConfigVcpus, AffinityIsKeptAsWritten) {
    auto b = build_ok("name='a'\ncpus='0-3,^1'\ncpus_soft=['2', '3']");
    ASSERT_TRUE(b.cfg.cpus);
    EXPECT_EQ(b.cfg.cpus->text, "0-3,^1");
    ASSERT_TRUE(b.cfg.cpus_soft);
    ASSERT_TRUE(b.cfg.cpus_soft->is_list());
    EXPECT_EQ(b.cfg.cpus_soft->items.size(), 2u);
    EXPECT_EQ(build_ok("name='a'\ncpus=3").cfg.cpus->text, "3");
    EXPECT_EQ(build_error("name='a'\ncpus=[['0']]"),
              "t.cfg:2:6: cpus: expected a list of CPU ranges, got a nested list");
}

// ---- grants and event channels ---------------------------------------------

TEST(DomainConfigLimits, ExplicitValues) {
    auto b = build_ok("name='a'\nmax_grant_frames=128\nmax_maptrack_frames=0x800\n"
                      "max_event_channels=4095");
    EXPECT_EQ(b.cfg.max_grant_frames, 128u);
    EXPECT_EQ(b.cfg.max_maptrack_frames, 2048u);
    EXPECT_EQ(b.cfg.max_event_channels, 4095u);
    EXPECT_EQ(build_ok("name='a'\nmax_event_channels=0").cfg.max_event_channels, 1023u);
}

TEST(DomainConfigLimits, OutOfBounds_AreErrors) {
    EXPECT_EQ(build_error("name='a'\nmax_grant_frames='-1'"),
              "t.cfg:2:18: max_grant_frames: -1 is outside 0..2147483647");
    EXPECT_EQ(build_error("name='a'\nmax_maptrack_frames=0x80000000"),
              "t.cfg:2:21: max_maptrack_frames: 2147483648 is outside 0..2147483647");
    EXPECT_EQ(build_error("name='a'\nmax_event_channels=0x100000000"),
              "t.cfg:2:20: max_event_channels: 4294967296 is outside 0..4294967295");
    EXPECT_EQ(build_error("name='a'\nmax_grant_frames='many'"),
              "t.cfg:2:18: max_grant_frames: expected a number of frames, got \"many\"");
}

// ---- actions ----------------------------------------------------------------

TEST(DomainConfigActions, AllXenActionNames) {
    auto b = build_ok("name='a'\non_poweroff='preserve'\non_reboot='rename-restart'\n"
                      "on_watchdog='coredump-destroy'\non_crash='coredump-restart'\n"
                      "on_soft_reset='destroy'\n");
    EXPECT_EQ(b.cfg.on_poweroff, ShutdownAction::preserve);
    EXPECT_EQ(b.cfg.on_reboot, ShutdownAction::rename_restart);
    EXPECT_EQ(b.cfg.on_watchdog, ShutdownAction::coredump_destroy);
    EXPECT_EQ(b.cfg.on_crash, ShutdownAction::coredump_restart);
    EXPECT_EQ(b.cfg.on_soft_reset, ShutdownAction::destroy);
    EXPECT_EQ(build_ok("name='a'\non_crash='soft-reset'").cfg.on_crash,
              ShutdownAction::soft_reset);
    EXPECT_EQ(build_ok("name='a'\non_poweroff='restart'").cfg.on_poweroff,
              ShutdownAction::restart);
}

TEST(DomainConfigActions, NamesRoundTrip) {
    for (auto a : {ShutdownAction::destroy, ShutdownAction::restart,
                   ShutdownAction::rename_restart, ShutdownAction::preserve,
                   ShutdownAction::coredump_destroy, ShutdownAction::coredump_restart,
                   ShutdownAction::soft_reset}) {
        EXPECT_EQ(parse_shutdown_action(to_config_name(a)), a);
    }
    EXPECT_EQ(to_json_name(ShutdownAction::rename_restart), "restart_rename");
    EXPECT_FALSE(parse_shutdown_action("restart_rename"));
}

TEST(DomainConfigActions, UnknownAction_IsAnError) {
    EXPECT_EQ(build_error("name='a'\non_crash='explode'"),
              "t.cfg:2:10: on_crash: unknown action \"explode\"; expected destroy, restart, "
              "rename-restart, preserve, coredump-destroy, coredump-restart or soft-reset");
    EXPECT_EQ(build_error("name='a'\non_reboot=['restart']"),
              "t.cfg:2:11: on_reboot: expected a string, got a list");
    EXPECT_EQ(build_error("name='a'\non_poweroff='Destroy'"),
              "t.cfg:2:13: on_poweroff: unknown action \"Destroy\"; expected destroy, restart, "
              "rename-restart, preserve, coredump-destroy, coredump-restart or soft-reset");
}

// ---- kernel and command line -----------------------------------------------

TEST(DomainConfigKernel, PathsAreKept) {
    auto b = build_ok("name='a'\nkernel='/boot/vmlinuz'\nramdisk='/boot/initrd.img'\n");
    EXPECT_EQ(b.cfg.kernel, "/boot/vmlinuz");
    EXPECT_EQ(b.cfg.ramdisk, "/boot/initrd.img");
    EXPECT_FALSE(b.cfg.cmdline);
}

TEST(DomainConfigKernel, CmdlineComposedFromRootAndExtra) {
    EXPECT_EQ(build_ok("name='a'\nroot='/dev/xvda1 ro'\nextra='console=hvc0'").cfg.cmdline,
              "root=/dev/xvda1 ro console=hvc0");
    EXPECT_EQ(build_ok("name='a'\nroot='/dev/xvda1'").cfg.cmdline, "root=/dev/xvda1");
    EXPECT_EQ(build_ok("name='a'\nextra='console=hvc0'").cfg.cmdline, "console=hvc0");
    EXPECT_EQ(build_ok("name='a'\nextra='console=hvc0'\nextra+=' quiet'").cfg.cmdline,
              "console=hvc0 quiet");
    auto b = build_ok("name='a'\nroot='/dev/xvda1'\nextra='quiet'");
    EXPECT_EQ(b.cfg.root, "/dev/xvda1");
    EXPECT_EQ(b.cfg.extra, "quiet");
}

TEST(DomainConfigKernel, CmdlineWins_OverRootAndExtraWithWarnings) {
    auto b = build_ok("name='a'\nroot='/dev/xvda1'\ncmdline='console=hvc0'\nextra='quiet'\n");
    EXPECT_EQ(b.cfg.cmdline, "console=hvc0");
    EXPECT_EQ(b.warnings,
              (Strings{"t.cfg:2: warning: 'root' is ignored because cmdline= is set (line 3), as in xl",
                       "t.cfg:4: warning: 'extra' is ignored because cmdline= is set (line 3), as in xl"}));
}

TEST(DomainConfigKernel, HvmloaderAsKernel_IsDroppedForHvmAsXlDoes) {
    auto b = build_ok("name='a'\ntype='hvm'\nkernel='/usr/lib/xen/boot/hvmloader'\n");
    EXPECT_FALSE(b.cfg.kernel);
    EXPECT_EQ(b.warnings,
              Strings{"t.cfg:3: warning: kernel= naming hvmloader is ignored for HVM guests, as in "
                      "xl; use firmware_override= for a non-default firmware"});
    EXPECT_EQ(build_ok("name='a'\ntype='pvh'\nkernel='hvmloader'").cfg.kernel, "hvmloader");
}

TEST(DomainConfigKernel, FirmwareOverride_OnlyForHvm) {
    auto hvm = build_ok("name='a'\ntype='hvm'\nfirmware_override='/opt/fw/hvmloader'\n");
    EXPECT_EQ(hvm.cfg.firmware_override, "/opt/fw/hvmloader");
    EXPECT_TRUE(hvm.warnings.empty());
    auto pvh = build_ok("name='a'\ntype='pvh'\nfirmware_override='/opt/fw/hvmloader'\n");
    EXPECT_FALSE(pvh.cfg.firmware_override);
    EXPECT_EQ(pvh.warnings,
              Strings{"t.cfg:3: warning: 'firmware_override' only applies to HVM guests; ignored"});
}

TEST(DomainConfigKernel, ListWhereAStringBelongs_IsAnError) {
    EXPECT_EQ(build_error("name='a'\nkernel=['/boot/vmlinuz']"),
              "t.cfg:2:8: kernel: expected a string, got a list");
    EXPECT_EQ(build_error("name='a'\nextra=[]"), "t.cfg:2:7: extra: expected a string, got a list");
}

// ---- key warnings -----------------------------------------------------------

TEST(DomainConfigKeys, UnsupportedKeys_WarnOncePerKey) {
    auto b = build_ok("name='a'\nvnc=1\ndisk=['phy:/dev/vg/a,xvda,w']\nvnc=0\n");
    EXPECT_EQ(b.warnings,
              (Strings{"t.cfg:4: warning: 'vnc' is set again (previously set at line 2); xl uses "
                       "the last value",
                       "t.cfg:4: warning: 'vnc' is not supported by xenolith yet; ignored"}));
}

TEST(DomainConfigKeys, UnknownKeys_WarnWithHints) {
    auto b = build_ok("name='a'\nmemroy=512\nnics=1\nfrobnicate=1\n");
    EXPECT_EQ(b.warnings,
              (Strings{"t.cfg:2: warning: 'memroy' is not an xl.cfg key (did you mean 'memory'?); "
                       "ignored",
                       "t.cfg:3: warning: 'nics' is not an xl.cfg key (xl creates one network "
                       "interface per vif= entry); ignored",
                       "t.cfg:4: warning: 'frobnicate' is not an xl.cfg key; ignored"}));
}

TEST(DomainConfigKeys, OverrideWarnings_NameTheCommandLine) {
    auto parsed = parse_config("name='a'\n", "t.cfg");
    ASSERT_TRUE(parsed.ok());
    ASSERT_TRUE(apply_override(*parsed, "vnc=1").ok());
    std::vector<Warning> ws;
    ASSERT_TRUE(build_domain_config(*parsed, ws).ok());
    EXPECT_EQ(test::strs(ws),
              Strings{"<command line>:1: warning: 'vnc' is not supported by xenolith yet; ignored"});
}

TEST(DomainConfigKeys, OverrideErrors_NameTheCommandLine) {
    auto parsed = parse_config("name='a'\nmemory=512\n", "t.cfg");
    ASSERT_TRUE(parsed.ok());
    ASSERT_TRUE(apply_override(*parsed, "memory='big'").ok());
    std::vector<Warning> ws;
    auto r = build_domain_config(*parsed, ws);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "<command line>:1:8: memory: expected a number of MiB, got \"big\"");
}

// ---- xenolith's own keys --------------------------------------------------------

TEST(DomainConfigGlobalVirqs, NamesBecomeVirqNumbers_OncePerVirq) {
    auto b = build_ok("name = 'mon'\nglobal_virqs = ['dom_exc', 'console', 'dom_exc']\n");
    EXPECT_EQ(b.cfg.global_virqs, (std::vector<std::uint32_t>{3, 2}));
    EXPECT_TRUE(b.warnings.empty());
    EXPECT_EQ(to_json(b.cfg)["xenolith"]["global_virqs"], nlohmann::json::array({3, 2}));
}

TEST(DomainConfigGlobalVirqs, AbsentMeansDomainZeroKeepsThem) {
    auto b = build_ok("name = 'plain'\n");
    EXPECT_TRUE(b.cfg.global_virqs.empty());
    EXPECT_FALSE(to_json(b.cfg).contains("xenolith"));
}

TEST(DomainConfigGlobalVirqs, PerVcpuOrUnknownVirqs_AreErrors) {
    EXPECT_EQ(build_error("name = 'x'\nglobal_virqs = ['timer']\n"),
              "t.cfg:2:16: global_virqs: \"timer\" is not a global VIRQ (expected one of console, "
              "dom_exc, tbuf, debugger, con_ring, pcpu_state, mem_event, argo, enomem)");
    EXPECT_NE(build_error("name = 'x'\nglobal_virqs = 'dom_exc'\n").find("expected a list"),
              std::string::npos);
}

}  // namespace
}  // namespace xenolith::config
