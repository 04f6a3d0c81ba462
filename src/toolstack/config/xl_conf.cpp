#include "toolstack/config/xl_conf.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <functional>
#include <map>

#include <fmt/format.h>

#include "toolstack/config/number.hpp"
#include "toolstack/config/parser.hpp"

namespace xenolith::config {

namespace {

Error bad(const Setting& s, std::string_view why) {
    return make_error(fmt::format("{}:{}: {}: {}", s.pos.file, s.pos.line, s.key, why));
}

void warn(XlConf& c, const Setting& s, std::string message) {
    add_warning(c.warnings, Warning{s.pos.file, s.pos.line, s.key + ": " + std::move(message)});
}

// xlu_cfg_get_string: any single value, as its text.
Result<std::string> string_of(const Setting& s) {
    if (!s.value.is_atom()) return bad(s, "expected a string, got a list");
    return s.value.text;
}

// xlu_cfg_get_long: strtol over the whole text, bounded as xl bounds it.
Result<std::int64_t> long_of(const Setting& s, std::int64_t min, std::int64_t max) {
    if (!s.value.is_atom()) return bad(s, "expected a number, got a list");
    if (s.appended) return bad(s, "a number cannot be appended to with +=");
    auto n = parse_xl_long(s.value.text);
    if (n.status != ParsedNumber::Status::ok || n.value < min || n.value > max) {
        return bad(s, fmt::format("\"{}\" is not a number from {} to {}", shorten(s.value.text),
                                  min, max));
    }
    return n.value;
}

using Handler = std::function<Status(XlConf&, const Setting&)>;

Handler string_into(std::optional<std::string> XlConf::*field) {
    return [field](XlConf& c, const Setting& s) -> Status {
        auto v = string_of(s);
        if (!v) return v.error();
        c.*field = *v;
        return ok_status();
    };
}

Handler flag_into(bool XlConf::*field) {
    return [field](XlConf& c, const Setting& s) -> Status {
        auto v = long_of(s, LONG_MIN, LONG_MAX);
        if (!v) return v.error();
        c.*field = *v != 0;
        return ok_status();
    };
}

Handler frames_into(std::optional<std::uint32_t> XlConf::*field) {
    return [field](XlConf& c, const Setting& s) -> Status {
        auto v = long_of(s, 0, INT_MAX);
        if (!v) return v.error();
        c.*field = static_cast<std::uint32_t>(*v);
        return ok_status();
    };
}

Handler cpumask_into(std::optional<CpuList> XlConf::*field) {
    return [field](XlConf& c, const Setting& s) -> Status {
        auto v = string_of(s);
        if (!v) return v.error();
        auto list = parse_cpulist(*v);
        if (!list) return bad(s, list.error().what);
        c.*field = *list;
        return ok_status();
    };
}

template <class E>
Handler choice_into(E XlConf::*field, std::vector<std::pair<std::string_view, E>> names,
                    std::string_view expected) {
    return [=](XlConf& c, const Setting& s) -> Status {
        auto v = string_of(s);
        if (!v) return v.error();
        for (const auto& [name, e] : names) {
            if (*v == name) {
                c.*field = e;
                return ok_status();
            }
        }
        return bad(s, fmt::format("\"{}\" is not {}", shorten(*v), expected));
    };
}

// A key xl reads but xenolith has nothing to do with: kept, and said so.
Handler unsupported(std::optional<std::string> XlConf::*field, std::string_view why) {
    return [=](XlConf& c, const Setting& s) -> Status {
        if (Status st = string_into(field)(c, s); !st) return st;
        warn(c, s, std::string(why));
        return ok_status();
    };
}

Handler deprecated(std::optional<std::string> XlConf::*field, std::string_view instead) {
    return [=](XlConf& c, const Setting& s) -> Status {
        if (Status st = string_into(field)(c, s); !st) return st;
        warn(c, s, fmt::format("deprecated, please switch to {}", instead));
        return ok_status();
    };
}

const std::map<std::string_view, Handler>& handlers() {
    static const std::map<std::string_view, Handler> table{
        {"autoballoon",
         choice_into(&XlConf::autoballoon,
                     {{"on", Autoballoon::on}, {"1", Autoballoon::on}, {"off", Autoballoon::off},
                      {"0", Autoballoon::off}, {"auto", Autoballoon::automatic}},
                     "\"on\", \"off\" or \"auto\"")},
        {"run_hotplug_scripts", flag_into(&XlConf::run_hotplug_scripts)},
        {"lockfile",
         [](XlConf& c, const Setting& s) -> Status {
             auto v = string_of(s);
             if (!v) return v.error();
             c.lockfile = *v;
             return ok_status();
         }},
        {"max_grant_frames", frames_into(&XlConf::max_grant_frames)},
        {"max_maptrack_frames", frames_into(&XlConf::max_maptrack_frames)},
        {"max_grant_version", frames_into(&XlConf::max_grant_version)},
        {"vif.default.script", string_into(&XlConf::vif_default_script)},
        {"vifscript", deprecated(&XlConf::vif_default_script, "vif.default.script")},
        {"vif.default.bridge", string_into(&XlConf::vif_default_bridge)},
        {"defaultbridge", deprecated(&XlConf::vif_default_bridge, "vif.default.bridge")},
        {"vif.default.backend", string_into(&XlConf::vif_default_backend)},
        {"vif.default.gatewaydev", string_into(&XlConf::vif_default_gatewaydev)},
        {"remus.default.netbufscript",
         unsupported(&XlConf::remus_default_netbufscript, "Remus is not supported by xenolith")},
        {"colo.default.proxyscript",
         unsupported(&XlConf::colo_default_proxyscript, "COLO is not supported by xenolith")},
        {"output_format",
         choice_into(&XlConf::output_format,
                     {{"json", OutputFormat::json}, {"sxp", OutputFormat::sxp}},
                     "\"json\" or \"sxp\"")},
        {"blkdev_start", string_into(&XlConf::blkdev_start)},
        {"claim_mode", flag_into(&XlConf::claim_mode)},
        {"vm.cpumask", cpumask_into(&XlConf::vm_cpumask)},
        {"vm.pv.cpumask", cpumask_into(&XlConf::vm_pv_cpumask)},
        {"vm.hvm.cpumask",
         [](XlConf& c, const Setting& s) -> Status {
             if (Status st = cpumask_into(&XlConf::vm_hvm_cpumask)(c, s); !st) return st;
             warn(c, s, "xenolith runs no HVM guests; ignored");
             return ok_status();
         }},
        {"domid_policy",
         choice_into(&XlConf::domid_policy,
                     {{"xen", DomidPolicy::xen}, {"random", DomidPolicy::random}},
                     "\"xen\" or \"random\"")},
    };
    return table;
}

Result<XlConf> from_parsed(const ParsedConfig& parsed) {
    XlConf c;
    c.source = parsed.source;
    c.warnings = parsed.warnings;
    // xl reads vifscript before vif.default.script, so the new name wins
    // whatever the order in the file.
    std::vector<const Setting*> order;
    for (const auto& s : parsed.settings) {
        if (s.key == "vifscript" || s.key == "defaultbridge") order.push_back(&s);
    }
    for (const auto& s : parsed.settings) {
        if (s.key != "vifscript" && s.key != "defaultbridge") order.push_back(&s);
    }
    for (const Setting* s : order) {
        auto h = handlers().find(s->key);
        if (h == handlers().end()) {
            warn(c, *s, "unknown xl.conf setting, ignored");
            continue;
        }
        if (Status st = h->second(c, *s); !st) return st.error();
    }
    return c;
}

}  // namespace

Result<XlConf> parse_xl_conf(std::string_view text, std::string_view source_name) {
    auto parsed = parse_config(text, source_name);
    if (!parsed) return parsed.error();
    return from_parsed(*parsed);
}

Result<XlConf> load_xl_conf(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) return XlConf{};
    auto parsed = parse_config_file(path);
    if (!parsed) return parsed.error();
    return from_parsed(*parsed);
}

}  // namespace xenolith::config
