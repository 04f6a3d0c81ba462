#include "toolstack/config/libxl_json_reader.hpp"

#include <cstdint>
#include <limits>
#include <optional>

#include <fmt/format.h>

#include "control/protocol.hpp"

#include "toolstack/config/cpulist.hpp"
#include "toolstack/config/disk.hpp"
#include "toolstack/config/nic.hpp"
#include "toolstack/config/uuid.hpp"

namespace xenolith::config {
namespace {

using nlohmann::json;

// A libxl config nests 4 deep (b_info."type.hvm".vnc.enable); device lists
// and affinities add 2. Deeper text is refused before it is parsed, so a
// hostile "[[[[..." costs nothing.
constexpr unsigned kMaxDepth = 16;
// Every string in it is a path, a name or a command line.
constexpr std::size_t kMaxStringBytes = 64 * 1024;

class Reader {
public:
    explicit Reader(std::string_view source) : source_(source) {}

    Result<DomainConfig> read(const json& j) {
        if (!j.is_object()) return fail("", "the config is not a JSON object");
        cfg_.source = source_;
        const json* c_info = object(j, "c_info", "c_info");
        const json* b_info = object(j, "b_info", "b_info");
        if (error_) return *error_;
        if (!c_info) return fail("c_info", "missing");
        read_c_info(*c_info);
        if (b_info) read_b_info(*b_info);
        read_actions(j);
        read_disks(j);
        read_nics(j);
        if (const json* own = object(j, "xenolith", "xenolith")) read_own(*own);
        if (error_) return *error_;
        return std::move(cfg_);
    }

private:
    Error fail(std::string_view field, std::string_view why) {
        Error e = make_error(field.empty() ? fmt::format("{}: {}", source_, why)
                                           : fmt::format("{}: {}: {}", source_, field, why));
        if (!error_) error_ = e;
        return e;
    }

    const json* object(const json& parent, const char* key, std::string_view field) {
        const auto it = parent.find(key);
        if (it == parent.end() || it->is_null()) return nullptr;
        if (!it->is_object()) return fail(field, "must be an object"), nullptr;
        return &*it;
    }

    std::optional<std::string> string(const json& parent, const char* key, std::string_view field) {
        const auto it = parent.find(key);
        if (it == parent.end() || it->is_null()) return std::nullopt;
        if (!it->is_string()) return fail(field, "must be a string"), std::nullopt;
        const std::string& s = it->get_ref<const std::string&>();
        if (s.size() > kMaxStringBytes) return fail(field, "too long"), std::nullopt;
        if (s.find('\0') != std::string::npos) return fail(field, "contains a NUL"), std::nullopt;
        return s;
    }

    std::optional<std::uint64_t> number(const json& parent, const char* key, std::string_view field,
                                        std::uint64_t max) {
        const auto it = parent.find(key);
        if (it == parent.end() || it->is_null()) return std::nullopt;
        if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<std::int64_t>() >= 0))
            return fail(field, "must be a non-negative whole number"), std::nullopt;
        const std::uint64_t v = it->get<std::uint64_t>();
        if (v > max) return fail(field, fmt::format("{} is above the limit {}", v, max)), std::nullopt;
        return v;
    }

    // libxl_defbool: "True"/"False" ("default" means unset); plain
    // booleans are taken too.
    std::optional<bool> defbool(const json& parent, const char* key, std::string_view field) {
        const auto it = parent.find(key);
        if (it == parent.end() || it->is_null()) return std::nullopt;
        if (it->is_boolean()) return it->get<bool>();
        if (it->is_string()) {
            const std::string& s = it->get_ref<const std::string&>();
            if (s == "True") return true;
            if (s == "False") return false;
            if (s == "default") return std::nullopt;
        }
        return fail(field, "must be \"True\" or \"False\""), std::nullopt;
    }

    void read_c_info(const json& c) {
        if (auto type = string(c, "type", "c_info.type")) {
            if (*type == "pv") cfg_.type = DomainType::pv;
            else if (*type == "pvh") cfg_.type = DomainType::pvh;
            else if (*type == "hvm") cfg_.type = DomainType::hvm;
            else fail("c_info.type", fmt::format("unknown domain type \"{}\"", *type));
        }
        auto name = string(c, "name", "c_info.name");
        if (!name || name->empty()) {
            if (!error_) fail("c_info.name", "missing");
        } else {
            cfg_.name = *name;
        }
        if (auto uuid = string(c, "uuid", "c_info.uuid")) {
            cfg_.uuid = Uuid::parse(*uuid);
            if (!cfg_.uuid) fail("c_info.uuid", fmt::format("\"{}\" is not a UUID", *uuid));
        }
        if (auto pool = string(c, "pool_name", "c_info.pool_name")) cfg_.libxl.pool = *pool;
    }

    // libxl keeps memory in KiB; xenolith's config in MiB, as xl.cfg has it.
    std::optional<std::uint64_t> mib(const json& b, const char* key) {
        const std::string field = std::string("b_info.") + key;
        auto kib = number(b, key, field, std::uint64_t{1} << 40);
        if (!kib) return std::nullopt;
        if (*kib % 1024) return fail(field, "must be a whole number of MiB"), std::nullopt;
        return *kib / 1024;
    }

    void read_b_info(const json& b) {
        LibxlSettings& x = cfg_.libxl;
        if (auto max = number(b, "max_vcpus", "b_info.max_vcpus", kMaxVcpus)) {
            if (*max == 0) fail("b_info.max_vcpus", "must be at least 1");
            cfg_.max_vcpus = static_cast<std::uint32_t>(*max);
            cfg_.vcpus = cfg_.max_vcpus;  // libxl: no avail_vcpus means all online
            x.maxvcpus = true;
        }
        if (const auto it = b.find("avail_vcpus"); it != b.end() && !it->is_null()) {
            // libxl_bitmap as JSON: the indices of the set bits.
            if (!it->is_array() || it->size() > kMaxVcpus) {
                fail("b_info.avail_vcpus", "must be a list of vCPU numbers");
            } else {
                for (const json& v : *it)
                    if (!v.is_number_unsigned() || v.get<std::uint64_t>() >= cfg_.max_vcpus)
                        fail("b_info.avail_vcpus", "must be a list of vCPU numbers below max_vcpus");
                cfg_.vcpus = static_cast<std::uint32_t>(it->size());
                x.vcpus = true;
                if (!x.maxvcpus) cfg_.max_vcpus = cfg_.vcpus;
            }
        }
        read_affinity(b, "vcpu_hard_affinity", cfg_.vcpu_hard_affinity);
        read_affinity(b, "vcpu_soft_affinity", cfg_.vcpu_soft_affinity);
        if (auto max = mib(b, "max_memkb")) {
            cfg_.maxmem_mib = cfg_.memory_mib = *max;
            x.maxmem = true;
        }
        if (auto target = mib(b, "target_memkb")) {
            cfg_.memory_mib = *target;
            if (!x.maxmem) cfg_.maxmem_mib = *target;
            x.memory = true;
        }
        if (cfg_.memory_mib > cfg_.maxmem_mib)
            fail("b_info.target_memkb", "is above max_memkb");
        if (auto v = defbool(b, "disable_migrate", "b_info.disable_migrate")) x.nomigrate = *v;
        if (auto v = number(b, "max_grant_frames", "b_info.max_grant_frames",
                            std::numeric_limits<std::uint32_t>::max())) {
            cfg_.max_grant_frames = static_cast<std::uint32_t>(*v);
            x.max_grant_frames = true;
        }
        if (auto v = number(b, "max_maptrack_frames", "b_info.max_maptrack_frames",
                            std::numeric_limits<std::uint32_t>::max())) {
            cfg_.max_maptrack_frames = static_cast<std::uint32_t>(*v);
            x.max_maptrack_frames = true;
        }
        if (auto v = number(b, "event_channels", "b_info.event_channels",
                            std::numeric_limits<std::uint32_t>::max())) {
            cfg_.max_event_channels = static_cast<std::uint32_t>(*v);
            x.max_event_channels = *v != 0;
        }
        cfg_.kernel = string(b, "kernel", "b_info.kernel");
        cfg_.cmdline = string(b, "cmdline", "b_info.cmdline");
        cfg_.ramdisk = string(b, "ramdisk", "b_info.ramdisk");
        if (auto v = string(b, "bootloader", "b_info.bootloader")) x.bootloader = *v;
        if (auto v = defbool(b, "acpi", "b_info.acpi")) x.acpi = *v;
        if (auto v = defbool(b, "nested_hvm", "b_info.nested_hvm")) x.nestedhvm = *v;
        if (auto v = defbool(b, "apic", "b_info.apic")) x.apic = *v;
        if (const json* sched = object(b, "sched_params", "b_info.sched_params")) {
            const std::pair<const char*, std::optional<std::int64_t>*> params[] = {
                {"weight", &x.weight},       {"cap", &x.cap},     {"period", &x.period},
                {"extratime", &x.extratime}, {"slice", &x.slice}, {"latency", &x.latency}};
            for (auto [key, out] : params)
                if (auto v = number(*sched, key, std::string("b_info.sched_params.") + key,
                                    std::numeric_limits<std::int32_t>::max()))
                    *out = static_cast<std::int64_t>(*v);
        }
        if (const auto it = b.find("bootloader_args"); it != b.end() && !it->is_null()) {
            if (!it->is_array() || it->size() > 1024) {
                fail("b_info.bootloader_args", "must be a list of strings");
            } else {
                x.bootloader_args.emplace();
                for (const json& a : *it) {
                    if (!a.is_string() || a.get_ref<const std::string&>().size() > kMaxStringBytes)
                        return (void)fail("b_info.bootloader_args", "must be a list of strings");
                    x.bootloader_args->push_back(a.get<std::string>());
                }
            }
        }
        // xl turns NUMA placement off for per-vCPU hard maps (a list cpus=)
        // or any soft map: keep that said.
        if (auto placement = defbool(b, "numa_placement", "b_info.numa_placement");
            placement && !*placement && cfg_.vcpu_soft_affinity.empty())
            cfg_.cpus = Value::list({});
        if (!cfg_.vcpu_soft_affinity.empty()) cfg_.cpus_soft = Value::list({});
        if (cfg_.type == DomainType::hvm)
            if (const json* hvm = object(b, "type.hvm", "b_info.type.hvm")) read_hvm(*hvm);
    }

    // The HVM settings xl shows (`xl create -n`, `xl list -l`).
    void read_hvm(const json& h) {
        LibxlSettings& x = cfg_.libxl;
        cfg_.firmware_override = string(h, "firmware", "b_info.type.hvm.firmware");
        if (auto v = defbool(h, "pae", "b_info.type.hvm.pae")) x.pae = *v;
        if (auto v = defbool(h, "viridian", "b_info.type.hvm.viridian")) x.viridian = *v;
        if (auto v = defbool(h, "hpet", "b_info.type.hvm.hpet")) x.hpet = *v;
        if (auto v = string(h, "serial", "b_info.type.hvm.serial")) x.serial = *v;
        if (auto v = string(h, "boot", "b_info.type.hvm.boot")) x.boot = *v;
        if (const json* vnc = object(h, "vnc", "b_info.type.hvm.vnc")) {
            if (auto v = defbool(*vnc, "enable", "b_info.type.hvm.vnc.enable")) x.vnc = *v;
            if (auto v = string(*vnc, "listen", "b_info.type.hvm.vnc.listen")) x.vnclisten = *v;
            if (auto v = string(*vnc, "passwd", "b_info.type.hvm.vnc.passwd")) x.vncpasswd = *v;
            if (auto v = number(*vnc, "display", "b_info.type.hvm.vnc.display", 65535))
                x.vncdisplay = static_cast<std::int64_t>(*v);
            if (auto v = defbool(*vnc, "findunused", "b_info.type.hvm.vnc.findunused"))
                x.vncunused = *v;
        }
    }

    // Per vCPU, the host CPUs it may run on (to_json's form: the CPU
    // numbers a libxl bitmap has set).
    void read_affinity(const json& b, const char* key, VcpuAffinityConfig& out) {
        const std::string field = std::string("b_info.") + key;
        const auto it = b.find(key);
        if (it == b.end() || it->is_null()) return;
        if (!it->is_array() || it->size() > kMaxVcpus)
            return (void)fail(field, "must be a list of CPU lists, one per vCPU");
        for (const json& cpus : *it) {
            if (!cpus.is_array() || cpus.size() > 65536)
                return (void)fail(field, "must be a list of CPU lists, one per vCPU");
            std::string text;
            for (const json& cpu : cpus) {
                if (!cpu.is_number_unsigned() || cpu.get<std::uint64_t>() > 65535)
                    return (void)fail(field, "CPU numbers must be 0..65535");
                if (!text.empty()) text += ',';
                text += std::to_string(cpu.get<std::uint64_t>());
            }
            auto list = parse_cpulist(text);
            if (!list) return (void)fail(field, list.error().what);
            out.lists.push_back(std::move(*list));
        }
    }

    void read_actions(const json& j) {
        const std::pair<const char*, ShutdownAction*> actions[] = {
            {"on_poweroff", &cfg_.on_poweroff}, {"on_reboot", &cfg_.on_reboot},
            {"on_watchdog", &cfg_.on_watchdog}, {"on_crash", &cfg_.on_crash},
            {"on_soft_reset", &cfg_.on_soft_reset}};
        // libxl's defaults: destroy, except where xl's differ (to_json
        // leaves out only destroy).
        for (auto [key, out] : actions) *out = ShutdownAction::destroy;
        for (auto [key, out] : actions) {
            auto name = string(j, key, key);
            if (!name) continue;
            bool known = false;
            for (ShutdownAction a :
                 {ShutdownAction::destroy, ShutdownAction::restart, ShutdownAction::rename_restart,
                  ShutdownAction::preserve, ShutdownAction::coredump_destroy,
                  ShutdownAction::coredump_restart, ShutdownAction::soft_reset})
                if (to_json_name(a) == *name) *out = a, known = true;
            if (!known) fail(key, fmt::format("unknown action \"{}\"", *name));
        }
    }

    // A value placed in an xl.cfg device spec, where ',' separates settings.
    bool spec_value(std::string_view field, const std::string& v) {
        if (v.find(',') == std::string::npos) return true;
        return fail(field, "contains ',' and cannot be expressed as an xl.cfg setting"), false;
    }

    void read_disks(const json& j) {
        const auto it = j.find("disks");
        if (it == j.end() || it->is_null()) return;
        if (!it->is_array() || it->size() > 4096) return (void)fail("disks", "must be a list");
        for (std::size_t i = 0; i < it->size() && !error_; ++i) {
            const std::string field = fmt::format("disks[{}]", i);
            const json& d = (*it)[i];
            if (!d.is_object()) return (void)fail(field, "must be an object");
            std::string spec;
            auto add = [&](const char* key, const char* setting) {
                auto v = string(d, key, field + "." + key);
                if (v && spec_value(field + "." + key, *v)) spec += fmt::format("{}={}, ", setting, *v);
            };
            add("format", "format");
            add("vdev", "vdev");
            add("backend", "backendtype");
            add("backend_domname", "backend");
            add("script", "script");
            add("specification", "specification");
            const auto rw = number(d, "readwrite", field + ".readwrite", 1);
            spec += rw.value_or(0) ? "access=rw, " : "access=ro, ";
            if (number(d, "is_cdrom", field + ".is_cdrom", 1).value_or(0)) spec += "devtype=cdrom, ";
            if (defbool(d, "direct_io_safe", field + ".direct_io_safe").value_or(false))
                spec += "direct-io-safe, ";
            if (auto v = defbool(d, "discard_enable", field + ".discard_enable"))
                spec += *v ? "discard, " : "no-discard, ";
            if (auto v = defbool(d, "trusted", field + ".trusted"))
                spec += *v ? "trusted, " : "untrusted, ";
            // target= takes the rest of the spec, commas and all: last.
            if (auto v = string(d, "pdev_path", field + ".pdev_path")) spec += "target=" + *v;
            else if (spec.size() >= 2) spec.resize(spec.size() - 2);
            if (error_) return;
            DiskConfig disk;
            SpecIssues issues;
            if (!parse_disk_spec(spec, disk, issues))
                return (void)fail(field, issues.error ? issues.error->message : "invalid disk");
            disk.spec = spec;
            disk.where = SourcePos{std::string(source_), 0, 0};
            cfg_.disks.push_back(std::move(disk));
        }
    }

    void read_nics(const json& j) {
        const auto it = j.find("nics");
        if (it == j.end() || it->is_null()) return;
        if (!it->is_array() || it->size() > 4096) return (void)fail("nics", "must be a list");
        for (std::size_t i = 0; i < it->size() && !error_; ++i) {
            const std::string field = fmt::format("nics[{}]", i);
            const json& n = (*it)[i];
            if (!n.is_object()) return (void)fail(field, "must be an object");
            std::string spec;
            auto add = [&](const char* key, const char* setting) {
                auto v = string(n, key, field + "." + key);
                if (!v || !spec_value(field + "." + key, *v)) return;
                if (!spec.empty()) spec += ',';
                spec += fmt::format("{}={}", setting, *v);
            };
            add("mac", "mac");
            add("bridge", "bridge");
            add("ip", "ip");
            add("script", "script");
            add("backend_domname", "backend");
            add("ifname", "vifname");
            add("model", "model");
            add("gatewaydev", "gatewaydev");
            add("vlan", "vlan");
            if (auto t = string(n, "nictype", field + ".nictype"); t && *t != "unknown") {
                if (*t != "vif" && *t != "vif_ioemu") fail(field + ".nictype", "unknown type");
                spec += std::string(spec.empty() ? "" : ",") + "type=" + (*t == "vif" ? "vif" : "ioemu");
            }
            if (auto mtu = number(n, "mtu", field + ".mtu", 65535))
                spec += fmt::format("{}mtu={}", spec.empty() ? "" : ",", *mtu);
            const auto bytes = number(n, "rate_bytes_per_interval", field + ".rate_bytes_per_interval",
                                      std::uint64_t{1} << 50);
            const auto usecs = number(n, "rate_interval_usecs", field + ".rate_interval_usecs",
                                      std::numeric_limits<std::uint32_t>::max());
            if (bytes && usecs && *bytes && *usecs)
                spec += fmt::format("{}rate={}B/s@{}us", spec.empty() ? "" : ",",
                                    *bytes * 1000000 / *usecs, *usecs);
            const auto devid = number(n, "devid", field + ".devid", 65535);
            if (error_) return;
            NicConfig nic;
            bool devid_given = false;
            std::size_t bridge_offset = 0;
            SpecIssues issues;
            if (!parse_nic_spec(spec, nic, devid_given, bridge_offset, issues))
                return (void)fail(field, issues.error ? issues.error->message : "invalid vif");
            if (bytes && usecs && *bytes && *usecs) nic.rate = NicRate{*bytes, static_cast<std::uint32_t>(*usecs)};
            if (auto t = defbool(n, "trusted", field + ".trusted")) nic.trusted = *t;
            nic.spec = spec;
            nic.devid = devid ? static_cast<std::uint32_t>(*devid) : static_cast<std::uint32_t>(i);
            nic.where = nic.bridge_pos = SourcePos{std::string(source_), 0, 0};
            cfg_.nics.push_back(std::move(nic));
        }
    }

    void read_own(const json& own) {
        const auto it = own.find("global_virqs");
        if (it == own.end() || it->is_null()) return;
        if (!it->is_array() || it->size() > 64)
            return (void)fail("xenolith.global_virqs", "must be a list of VIRQ numbers");
        for (const json& v : *it) {
            if (!v.is_number_unsigned() || v.get<std::uint64_t>() > 63)
                return (void)fail("xenolith.global_virqs", "must be a list of VIRQ numbers");
            cfg_.global_virqs.push_back(v.get<std::uint32_t>());
        }
    }

    std::string_view source_;
    DomainConfig cfg_;
    std::optional<Error> error_;
};

}  // namespace

Result<DomainConfig> domain_config_from_json(const json& config, std::string_view source) {
    return Reader(source).read(config);
}

Result<DomainConfig> domain_config_from_json_text(std::string_view text, std::string_view source) {
    // The control protocol's bracket count, values unbounded here.
    if (!control::check_json_shape(text, kMaxDepth, std::numeric_limits<std::size_t>::max()))
        return make_error(fmt::format("{}: the config nests too deeply", source));
    const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return make_error(fmt::format("{}: the config is not valid JSON", source));
    return domain_config_from_json(j, source);
}

}  // namespace xenolith::config
