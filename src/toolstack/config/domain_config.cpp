#include "toolstack/config/domain_config.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <algorithm>
#include <cstdint>
#include <limits>
#include <unordered_map>
#include <tuple>
#include <utility>

#include <fmt/format.h>

#include "toolstack/config/keys.hpp"
#include "toolstack/config/number.hpp"

namespace xenolith::config {

namespace {

struct ActionName {
    ShutdownAction action;
    std::string_view config;  // xl.cfg
    std::string_view json;    // libxl enum, lower-cased
};

constexpr std::array<ActionName, 7> kActions = {{
    {ShutdownAction::destroy, "destroy", "destroy"},
    {ShutdownAction::restart, "restart", "restart"},
    {ShutdownAction::rename_restart, "rename-restart", "restart_rename"},
    {ShutdownAction::preserve, "preserve", "preserve"},
    {ShutdownAction::coredump_destroy, "coredump-destroy", "coredump_destroy"},
    {ShutdownAction::coredump_restart, "coredump-restart", "coredump_restart"},
    {ShutdownAction::soft_reset, "soft-reset", "soft_reset"},
}};

// Larger than any machine: 2^40 MiB is 1 EiB, and KiB still fit in 64 bits.
constexpr std::int64_t kMaxMemoryMib = std::int64_t{1} << 40;

// A value as it would be written in the file, shortened for messages.
std::string shown(const Value& v) {
    if (v.is_list()) return "a list";
    Value copy = v;
    copy.text = shorten(v.text);
    return copy.to_config_text();
}

std::string shown(std::string_view text) { return shown(Value::string(std::string(text))); }

bool is_prefix_of(std::string_view text, std::string_view word) {
    return text.size() <= word.size() && word.substr(0, text.size()) == text;
}

class Builder {
public:
    Builder(const ParsedConfig& in, std::vector<Warning>& warnings) : in_(in), warnings_(warnings) {
        out_.source = in.source;
    }

    Result<DomainConfig> build() {
        warn_about_keys();
        for (Status (Builder::*step)() : {&Builder::type, &Builder::name, &Builder::uuid,
                                          &Builder::memory, &Builder::vcpus, &Builder::affinity,
                                          &Builder::grants_and_events, &Builder::actions,
                                          &Builder::kernel, &Builder::firmware_override,
                                          &Builder::global_virqs, &Builder::libxl_settings}) {
            if (Status st = (this->*step)(); !st) return st.error();
        }

        if (Status st = devices(); !st) return st.error();
        return std::move(out_);
    }

private:
    // ---- messages -------------------------------------------------------

    // At the value: where a user looks to fix it.
    static Error fail(const Setting& s, std::string_view what) {
        return make_error(fmt::format("{}:{}:{}: {}: {}", s.pos.file, s.value.line,
                                      s.value.column, s.key, what));
    }

    void warn(const Setting& s, std::string message) {
        add_warning(warnings_, Warning{s.pos.file, s.pos.line, std::move(message)});
    }

    // ---- typed reads, as xlu_cfg_get_string / xlu_cfg_get_long ----------

    Status get_string(std::string_view key, std::optional<std::string>& out,
                      const Setting** where = nullptr) {
        const Setting* s = in_.find(key);
        if (where) *where = s;
        if (!s) return ok_status();
        if (s->value.is_list()) return fail(*s, "expected a string, got a list");
        out = s->value.text;
        return ok_status();
    }

    // `what` completes "expected ...": "a number of MiB".
    Status get_number(std::string_view key, std::string_view what, std::optional<std::int64_t>& out,
                      const Setting** where = nullptr) {
        const Setting* s = in_.find(key);
        if (where) *where = s;
        if (!s) return ok_status();
        if (s->value.is_list()) return fail(*s, fmt::format("expected {}, got a list", what));
        if (s->appended) return fail(*s, "+= cannot be used with a number");
        const ParsedNumber n = parse_xl_long(s->value.text);
        switch (n.status) {
        case ParsedNumber::Status::invalid:
            return fail(*s, fmt::format("expected {}, got {}", what, shown(s->value)));
        case ParsedNumber::Status::out_of_range:
            return fail(*s, fmt::format("{} is out of range", shown(s->value)));
        case ParsedNumber::Status::ok: break;
        }
        if (n.octal && n.value != decimal_reading(s->value.text)) {
            warn(*s, fmt::format("{}: {} has a leading 0, so xl reads it as octal: {}", key,
                                 s->value.text, n.value));
        }
        out = n.value;
        return ok_status();
    }

    // What someone who did not mean octal meant.
    static std::int64_t decimal_reading(std::string_view text) {
        std::size_t i = 0;
        while (i + 1 < text.size() && (text[i] == '0' || text[i] == ' ' || text[i] == '\t')) ++i;
        const ParsedNumber n = parse_xl_long(text.substr(i));
        return n.status == ParsedNumber::Status::ok ? n.value : -1;
    }

    // ---- steps ------------------------------------------------------------

    void warn_about_keys() {
        for (const Setting& s : in_.settings) {
            const KeyInfo* info = find_key(s.key);
            if (info && info->implemented) {
                continue;
            }
            if (info) {
                warn(s, fmt::format("'{}' is not supported by xenolith yet; ignored", s.key));
                continue;
            }
            const std::string key = shorten(s.key);
            std::string hint(xm_key_hint(s.key));
            // The suggestion costs an edit distance per known key: skip it
            // once the warnings are no longer kept anyway.
            if (hint.empty() && warnings_.size() < kMaxWarnings) {
                const std::string_view guess = suggest_key(s.key);
                if (!guess.empty()) hint = fmt::format("did you mean '{}'?", guess);
            }
            warn(s, hint.empty()
                        ? fmt::format("'{}' is not an xl.cfg key; ignored", key)
                        : fmt::format("'{}' is not an xl.cfg key ({}); ignored", key, hint));
        }
    }

    Status type() {
        const Setting* type_at = nullptr;
        std::optional<std::string> type;
        if (Status st = get_string("type", type, &type_at); !st) return st;
        if (type) {
            // xl matches any prefix: strncmp(buf, "hvm", strlen(buf)).
            static constexpr std::pair<std::string_view, DomainType> kTypes[] = {
                {"hvm", DomainType::hvm}, {"pv", DomainType::pv}, {"pvh", DomainType::pvh}};
            bool found = false;
            for (const auto& [word, t] : kTypes) {
                if (!type->empty() && is_prefix_of(*type, word)) {
                    out_.type = t;
                    found = true;
                    if (*type != word) {
                        warn(*type_at, fmt::format("type: {} is taken as \"{}\", as xl does",
                                                   shown(*type), word));
                    }
                    break;
                }
            }
            if (!found) {
                return fail(*type_at,
                            fmt::format("expected \"pv\", \"pvh\" or \"hvm\", got {}", shown(*type)));
            }
        }

        const Setting* builder_at = nullptr;
        std::optional<std::string> builder;
        if (Status st = get_string("builder", builder, &builder_at); !st) return st;
        if (!builder) return ok_status();
        DomainType bt;
        if (!builder->empty() && is_prefix_of(*builder, "hvm")) {
            bt = DomainType::hvm;
        } else if (!builder->empty() && is_prefix_of(*builder, "generic")) {
            bt = DomainType::pv;
        } else {
            return fail(*builder_at,
                        fmt::format("expected \"hvm\" or \"generic\", got {}", shown(*builder)));
        }
        if (type && out_.type != bt) {
            return fail(*builder_at, fmt::format("{} contradicts type={} (line {})", shown(*builder),
                                                 shown(*type), type_at->pos.line));
        }
        warn(*builder_at, fmt::format("'builder' is deprecated; write type=\"{}\" instead",
                                      to_string(bt)));
        out_.type = bt;
        return ok_status();
    }

    Status name() {
        const Setting* at = nullptr;
        std::optional<std::string> name;
        if (Status st = get_string("name", name, &at); !st) return st;
        if (!name) {
            return make_error(fmt::format("{}: name: missing; every domain needs name=\"...\"",
                                          in_.source));
        }
        if (name->empty()) return fail(*at, "must not be empty");
        bool all_digits = true;
        for (unsigned char c : *name) {
            if (c < 0x20 || c == 0x7f) return fail(*at, "contains a control character");
            if (c < '0' || c > '9') all_digits = false;
        }
        if (all_digits) {
            return fail(*at, fmt::format("{} is all digits, which xl commands would read as a "
                                         "domain id",
                                         shown(*name)));
        }
        out_.name = std::move(*name);
        return ok_status();
    }

    Status uuid() {
        const Setting* at = nullptr;
        std::optional<std::string> text;
        if (Status st = get_string("uuid", text, &at); !st) return st;
        if (!text) return ok_status();
        out_.uuid = Uuid::parse(*text);
        if (!out_.uuid) {
            return fail(*at, fmt::format("expected a UUID such as "
                                         "\"5d3ec8a0-5f2d-4b9c-9d3e-2a1b0c9d8e7f\", got {}",
                                         shown(*text)));
        }
        return ok_status();
    }

    Status memory() {
        const Setting* mem_at = nullptr;
        const Setting* max_at = nullptr;
        std::optional<std::int64_t> mem, max;
        if (Status st = get_number("memory", "a number of MiB", mem, &mem_at); !st) return st;
        if (Status st = get_number("maxmem", "a number of MiB", max, &max_at); !st) return st;
        for (auto [v, at] : {std::pair{mem, mem_at}, std::pair{max, max_at}}) {
            if (!v) continue;
            if (*v < 1) return fail(*at, fmt::format("must be at least 1 MiB, got {}", *v));
            if (*v > kMaxMemoryMib) return fail(*at, fmt::format("{} MiB is too large", *v));
        }
        // xl: maxmem defaults to memory; libxl: memory defaults to maxmem.
        if (mem && !max) max = mem;
        if (max && !mem) mem = max;
        if (mem && max && *mem > *max) {
            return fail(*max_at, fmt::format("{} MiB is less than memory ({} MiB, line {})", *max,
                                             *mem, mem_at->pos.line));
        }
        if (mem) out_.memory_mib = static_cast<std::uint64_t>(*mem);
        if (max) out_.maxmem_mib = static_cast<std::uint64_t>(*max);
        return ok_status();
    }

    Status vcpus() {
        const Setting* at = nullptr;
        std::optional<std::int64_t> n;
        if (Status st = get_number("vcpus", "a number of vCPUs", n, &at); !st) return st;
        if (n && *n < 1) {
            warn(*at, fmt::format("vcpus: {} is taken as 1, as xl does", *n));
            n = 1;
        }
        if (n && *n > kMaxVcpus) {
            return fail(*at, fmt::format("{} is more than the {} vCPUs a domain can have", *n,
                                         kMaxVcpus));
        }
        if (n) out_.vcpus = static_cast<std::uint32_t>(*n);

        const Setting* max_at = nullptr;
        std::optional<std::int64_t> max;
        if (Status st = get_number("maxvcpus", "a number of vCPUs", max, &max_at); !st) return st;
        if (max && *max < 0) return fail(*max_at, fmt::format("must not be negative, got {}", *max));
        if (max && *max > kMaxVcpus) {
            return fail(*max_at, fmt::format("{} is more than the {} vCPUs a domain can have",
                                             *max, kMaxVcpus));
        }
        // xl: maxvcpus=0 means "not set".
        out_.max_vcpus = (max && *max != 0) ? static_cast<std::uint32_t>(*max) : out_.vcpus;
        if (out_.max_vcpus < out_.vcpus) {
            return fail(*max_at, fmt::format("{} is less than vcpus ({}{})", out_.max_vcpus,
                                             out_.vcpus,
                                             at ? fmt::format(", line {}", at->pos.line) : ""));
        }
        return ok_status();
    }

    Status affinity() {
        const std::tuple<const char*, std::optional<Value>*, VcpuAffinityConfig*> keys[] = {
            {"cpus", &out_.cpus, &out_.vcpu_hard_affinity},
            {"cpus_soft", &out_.cpus_soft, &out_.vcpu_soft_affinity}};
        for (auto [key, out, parsed] : keys) {
            const Setting* s = in_.find(key);
            if (!s) continue;
            for (const Value& item : s->value.items) {
                if (item.is_list()) return fail(*s, "expected a list of CPU ranges, got a nested list");
            }
            *out = s->value;
            // xl: a string is every vCPU's; list entries past maxvcpus are
            // never read.
            const std::vector<Value> one{s->value};
            const std::vector<Value>& values = s->value.is_list() ? s->value.items : one;
            const std::size_t n = std::min<std::size_t>(values.size(), out_.max_vcpus);
            for (std::size_t i = 0; i < n; ++i) {
                auto list = parse_cpulist(values[i].text);
                if (!list) return fail_at(*s, values[i], list.error().what);
                parsed->lists.push_back(std::move(*list));
            }
            parsed->same_for_every_vcpu = !s->value.is_list();
        }
        return ok_status();
    }

    // "file:line:column: key: what", pointing at `v` inside the setting.
    static Error fail_at(const Setting& s, const Value& v, std::string_view what) {
        return make_error(fmt::format("{}:{}:{}: {}: {}", s.pos.file, v.line ? v.line : s.pos.line,
                                      v.line ? v.column : s.pos.column, s.key, what));
    }

    Status bounded(std::string_view key, std::string_view what, std::int64_t min, std::int64_t max,
                   std::uint32_t& out) {
        const Setting* at = nullptr;
        std::optional<std::int64_t> n;
        if (Status st = get_number(key, what, n, &at); !st) return st;
        if (!n) return ok_status();
        if (*n < min || *n > max) {
            return fail(*at, fmt::format("{} is outside {}..{}", *n, min, max));
        }
        out = static_cast<std::uint32_t>(*n);
        return ok_status();
    }

    Status grants_and_events() {
        // xl bounds these to 0..INT_MAX.
        if (Status st = bounded("max_grant_frames", "a number of frames", 0, INT_MAX,
                                out_.max_grant_frames);
            !st) {
            return st;
        }
        if (Status st = bounded("max_maptrack_frames", "a number of frames", 0, INT_MAX,
                                out_.max_maptrack_frames);
            !st) {
            return st;
        }
        if (Status st = bounded("max_event_channels", "a number of event channels", 0,
                                std::numeric_limits<std::uint32_t>::max(), out_.max_event_channels);
            !st) {
            return st;
        }
        // libxl: 0 means its default.
        out_.libxl.max_event_channels = out_.max_event_channels != kDefaultMaxEventChannels ||
                                        in_.find("max_event_channels") != nullptr;
        if (out_.max_event_channels == 0) {
            out_.max_event_channels = kDefaultMaxEventChannels;
            out_.libxl.max_event_channels = false;
        }
        return ok_status();
    }

    // xlu_cfg_get_defbool: any number, non-zero is true.
    Status get_flag(std::string_view key, std::optional<bool>& out) {
        std::optional<std::int64_t> n;
        if (Status st = get_number(key, "a number (0 or 1)", n); !st) return st;
        if (n) out = *n != 0;
        return ok_status();
    }

    // A string setting, ignoring a list (as xl's xlu_cfg_get_string does
    // for keys that also take a list form xenolith does not show).
    void get_string_only(std::string_view key, std::optional<std::string>& out) {
        const Setting* s = in_.find(key);
        if (s && !s->value.is_list()) out = s->value.text;
    }

    Status libxl_settings() {
        LibxlSettings& l = out_.libxl;
        l.memory = in_.find("memory") != nullptr;
        l.maxmem = in_.find("maxmem") != nullptr;
        l.vcpus = in_.find("vcpus") != nullptr;
        l.maxvcpus = in_.find("maxvcpus") != nullptr;
        l.max_grant_frames = in_.find("max_grant_frames") != nullptr;
        l.max_maptrack_frames = in_.find("max_maptrack_frames") != nullptr;
        if (Status st = get_string("pool", l.pool); !st) return st;
        const std::pair<const char*, std::optional<std::int64_t>*> sched[] = {
            {"cpu_weight", &l.weight}, {"cap", &l.cap},         {"period", &l.period},
            {"slice", &l.slice},       {"latency", &l.latency}, {"extratime", &l.extratime}};
        for (auto [key, out] : sched)
            if (Status st = get_number(key, "a number", *out); !st) return st;
        if (Status st = get_flag("nomigrate", l.nomigrate); !st) return st;
        if (Status st = get_string("bootloader", l.bootloader); !st) return st;
        if (const Setting* s = in_.find("bootloader_args")) {
            std::vector<std::string> args;
            if (s->value.is_list()) {
                for (const Value& v : s->value.items) args.push_back(v.text);
            } else {  // deprecated string form: xl splits it on blanks
                std::string_view rest = s->value.text;
                while (!rest.empty()) {
                    const std::size_t at = rest.find_first_of(" \t\n");
                    if (at != 0) args.emplace_back(rest.substr(0, at));
                    if (at == std::string_view::npos) break;
                    rest.remove_prefix(at + 1);
                }
            }
            l.bootloader_args = std::move(args);
        }
        if (Status st = get_flag("acpi", l.acpi); !st) return st;
        if (Status st = get_flag("nestedhvm", l.nestedhvm); !st) return st;
        if (out_.type != DomainType::hvm) return ok_status();
        if (Status st = get_flag("apic", l.apic); !st) return st;
        if (Status st = get_flag("pae", l.pae); !st) return st;
        if (Status st = get_flag("hpet", l.hpet); !st) return st;
        if (const Setting* s = in_.find("viridian"); s && !s->value.is_list())
            if (Status st = get_flag("viridian", l.viridian); !st) return st;
        get_string_only("serial", l.serial);
        if (Status st = get_string("boot", l.boot); !st) return st;
        if (Status st = get_flag("vnc", l.vnc); !st) return st;
        if (Status st = get_string("vnclisten", l.vnclisten); !st) return st;
        if (Status st = get_string("vncpasswd", l.vncpasswd); !st) return st;
        if (Status st = get_number("vncdisplay", "a display number", l.vncdisplay); !st) return st;
        if (Status st = get_flag("vncunused", l.vncunused); !st) return st;
        return ok_status();
    }

    // global_virqs = ["dom_exc", ...]: Xen's global VIRQ names (xen.h,
    // lower case without VIRQ_).
    Status global_virqs() {
        static constexpr std::pair<std::string_view, std::uint32_t> kGlobalVirqs[] = {
            {"console", 2},  {"dom_exc", 3},   {"tbuf", 4},      {"debugger", 6},
            {"con_ring", 8}, {"pcpu_state", 9}, {"mem_event", 10}, {"argo", 11},
            {"enomem", 12}};
        const Setting* s = in_.find("global_virqs");
        if (!s) return ok_status();
        if (!s->value.is_list()) return fail(*s, "expected a list of VIRQ names");
        for (const Value& item : s->value.items) {
            const auto* it = std::find_if(std::begin(kGlobalVirqs), std::end(kGlobalVirqs),
                                          [&](const auto& v) { return v.first == item.text; });
            if (item.is_list() || it == std::end(kGlobalVirqs))
                return fail(*s, fmt::format("{} is not a global VIRQ (expected one of console, "
                                            "dom_exc, tbuf, debugger, con_ring, pcpu_state, "
                                            "mem_event, argo, enomem)",
                                            shown(item)));
            if (std::find(out_.global_virqs.begin(), out_.global_virqs.end(), it->second) ==
                out_.global_virqs.end())
                out_.global_virqs.push_back(it->second);
        }
        return ok_status();
    }

    Status actions() {
        const std::pair<std::string_view, ShutdownAction*> keys[] = {
            {"on_poweroff", &out_.on_poweroff}, {"on_reboot", &out_.on_reboot},
            {"on_watchdog", &out_.on_watchdog}, {"on_crash", &out_.on_crash},
            {"on_soft_reset", &out_.on_soft_reset}};
        for (const auto& [key, out] : keys) {
            const Setting* at = nullptr;
            std::optional<std::string> text;
            if (Status st = get_string(key, text, &at); !st) return st;
            if (!text) continue;
            auto action = parse_shutdown_action(*text);
            if (!action) {
                return fail(*at, fmt::format("unknown action {}; expected destroy, restart, "
                                             "rename-restart, preserve, coredump-destroy, "
                                             "coredump-restart or soft-reset",
                                             shown(*text)));
            }
            *out = *action;
        }
        return ok_status();
    }

    Status kernel() {
        const Setting* kernel_at = nullptr;
        const Setting* cmdline_at = nullptr;
        const Setting* root_at = nullptr;
        const Setting* extra_at = nullptr;
        if (Status st = get_string("kernel", out_.kernel, &kernel_at); !st) return st;
        if (Status st = get_string("ramdisk", out_.ramdisk); !st) return st;
        std::optional<std::string> cmdline;
        if (Status st = get_string("cmdline", cmdline, &cmdline_at); !st) return st;
        if (Status st = get_string("root", out_.root, &root_at); !st) return st;
        if (Status st = get_string("extra", out_.extra, &extra_at); !st) return st;

        // xl's parse_cmdline().
        if (cmdline) {
            for (const Setting* s : {root_at, extra_at}) {
                if (!s) continue;
                warn(*s, fmt::format("'{}' is ignored because cmdline= is set (line {}), as in xl",
                                     s->key, cmdline_at->pos.line));
            }
            out_.cmdline = std::move(cmdline);
        } else if (out_.root && out_.extra) {
            out_.cmdline = fmt::format("root={} {}", *out_.root, *out_.extra);
        } else if (out_.root) {
            out_.cmdline = fmt::format("root={}", *out_.root);
        } else if (out_.extra) {
            out_.cmdline = *out_.extra;
        }

        // xl drops kernel="/usr/lib/xen/boot/hvmloader" for HVM guests.
        if (out_.type == DomainType::hvm && out_.kernel) {
            const std::string& k = *out_.kernel;
            const auto slash = k.find_last_of('/');
            const std::string_view base =
                slash == std::string::npos ? std::string_view(k) : std::string_view(k).substr(slash + 1);
            if (base == "hvmloader") {
                warn(*kernel_at, "kernel= naming hvmloader is ignored for HVM guests, as in xl; "
                                 "use firmware_override= for a non-default firmware");
                out_.kernel.reset();
            }
        }
        return ok_status();
    }

    Status firmware_override() {
        const Setting* at = nullptr;
        std::optional<std::string> fw;
        if (Status st = get_string("firmware_override", fw, &at); !st) return st;
        if (!fw) return ok_status();
        if (out_.type != DomainType::hvm) {
            warn(*at, "'firmware_override' only applies to HVM guests; ignored");
            return ok_status();
        }
        out_.firmware_override = std::move(fw);
        return ok_status();
    }

    // ---- devices ------------------------------------------------------------

    // Where byte `offset` of a disk/vif string lies in the file. Exact unless
    // the string has escapes before that point.
    static SourcePos pos_in(const Setting& s, const Value& item, std::size_t offset) {
        const std::uint64_t column = std::uint64_t{item.column} +
                                     (item.kind == Value::Kind::string ? 1 : 0) + offset;
        return SourcePos{s.pos.file, item.line,
                         static_cast<std::uint32_t>(std::min<std::uint64_t>(column, UINT32_MAX))};
    }

    static Error fail_at(const Setting& s, const SourcePos& at, std::string_view what) {
        return make_error(fmt::format("{}:{}:{}: {}: {}", at.file, at.line, at.column, s.key, what));
    }

    // The entries of a device list; each must be a string (a number is taken
    // as its text, as xl does).
    Status device_items(const Setting& s) {
        if (!s.value.is_list()) {
            return fail(s, fmt::format("expected a list such as {} = [ '...' ], got {}", s.key,
                                       shown(s.value)));
        }
        for (const Value& item : s.value.items) {
            if (item.is_list()) {
                return fail_at(s, pos_in(s, item, 0), "expected a string, got a nested list");
            }
        }
        return ok_status();
    }

    // Reports what a spec parser found; the error, if any, as an Error.
    Status report(const Setting& s, const Value& item, const SpecIssues& issues) {
        for (const SpecIssue& w : issues.warnings) {
            warn(s, fmt::format("{}: {}", s.key, w.message));
        }
        if (issues.error) return fail_at(s, pos_in(s, item, issues.error->offset), issues.error->message);
        return ok_status();
    }

    Status devices() {
        if (const Setting* s = in_.find("disk")) {
            if (Status st = disks(*s); !st) return st;
        }
        if (const Setting* s = in_.find("vif")) {
            if (Status st = nics(*s); !st) return st;
        }
        return ok_status();
    }

    Status disks(const Setting& s) {
        if (Status st = device_items(s); !st) return st;
        out_.disks.reserve(s.value.items.size());
        // Device number -> index in out_.disks, to find two names for one device.
        std::unordered_map<std::uint32_t, std::size_t> by_number;
        for (const Value& item : s.value.items) {
            DiskConfig disk;
            SpecIssues issues;
            parse_disk_spec(item.text, disk, issues);
            if (Status st = report(s, item, issues); !st) return st;
            disk.where = pos_in(s, item, 0);
            const auto [it, fresh] = by_number.emplace(disk.device_number, out_.disks.size());
            if (!fresh) {
                const DiskConfig& first = out_.disks[it->second];
                return fail_at(s, disk.where,
                               fmt::format("vdev '{}' is the same device as '{}' (line {}); each "
                                           "disk needs its own vdev",
                                           shorten(disk.vdev), shorten(first.vdev),
                                           first.where.line));
            }
            out_.disks.push_back(std::move(disk));
        }
        return ok_status();
    }

    static std::uint64_t mac_key(const MacAddress& mac) {
        std::uint64_t key = 0;
        for (std::uint8_t b : mac) key = (key << 8) | b;
        return key;
    }

    Status nics(const Setting& s) {
        if (Status st = device_items(s); !st) return st;
        out_.nics.reserve(s.value.items.size());
        std::unordered_map<std::uint32_t, std::size_t> by_devid;
        std::unordered_map<std::uint64_t, std::size_t> by_mac;
        bool warned_hvm_only = false;
        for (std::size_t index = 0; index < s.value.items.size(); ++index) {
            const Value& item = s.value.items[index];
            NicConfig nic;
            // xl numbers vifs by their place in the list unless devid= is given.
            nic.devid = static_cast<std::uint32_t>(std::min<std::size_t>(index, INT_MAX));
            bool devid_given = false;
            std::size_t bridge_offset = 0;
            SpecIssues issues;
            parse_nic_spec(item.text, nic, devid_given, bridge_offset, issues);
            if (Status st = report(s, item, issues); !st) return st;
            nic.spec = item.text;
            nic.where = pos_in(s, item, 0);
            nic.bridge_pos = pos_in(s, item, bridge_offset);
            const auto [it, fresh] = by_devid.emplace(nic.devid, out_.nics.size());
            if (!fresh) {
                return fail_at(s, nic.where,
                               fmt::format("devid {} is taken by the vif at line {}{}", nic.devid,
                                           out_.nics[it->second].where.line,
                                           devid_given ? "" : " (this entry gets it from its "
                                                              "place in the list; give it devid=)"));
            }
            if (nic.mac) {
                const auto [first, unused] = by_mac.emplace(mac_key(*nic.mac), out_.nics.size());
                if (!unused) {
                    warn(s, fmt::format("vif: mac {} is also used by the vif at line {}",
                                        to_string(*nic.mac), out_.nics[first->second].where.line));
                }
            }
            const bool emulated_only = nic.model || nic.type == NicType::vif_ioemu;
            if (emulated_only && out_.type != DomainType::hvm && !warned_hvm_only) {
                warned_hvm_only = true;
                warn(s, fmt::format("vif: model= and type=ioemu only apply to HVM guests, and this "
                                    "one is {}; ignored",
                                    to_string(out_.type)));
            }
            out_.nics.push_back(std::move(nic));
        }
        return ok_status();
    }

    const ParsedConfig& in_;
    std::vector<Warning>& warnings_;
    DomainConfig out_;
};

}  // namespace

std::string_view to_string(DomainType type) {
    switch (type) {
    case DomainType::pv: return "pv";
    case DomainType::pvh: return "pvh";
    case DomainType::hvm: return "hvm";
    }
    return "?";
}

std::string_view to_config_name(ShutdownAction action) {
    for (const auto& a : kActions) {
        if (a.action == action) return a.config;
    }
    return "?";
}

std::string_view to_json_name(ShutdownAction action) {
    for (const auto& a : kActions) {
        if (a.action == action) return a.json;
    }
    return "?";
}

std::optional<ShutdownAction> parse_shutdown_action(std::string_view config_name) {
    for (const auto& a : kActions) {
        if (a.config == config_name) return a.action;
    }
    return std::nullopt;
}

Result<DomainConfig> build_domain_config(const ParsedConfig& parsed,
                                         std::vector<Warning>& warnings) {
    return Builder(parsed, warnings).build();
}

}  // namespace xenolith::config
