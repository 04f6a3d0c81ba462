// CONTROL (alias DEBUG): xenstore-control's commands. The set follows C
// xenstored minus live-update, logfile and memreport; output formats match
// so that scripts reading "quota" output keep working.
#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "base/log.hpp"
#include "xenstore/args.hpp"
#include "xenstore/request.hpp"

namespace xenolith::xenstore {

namespace {

using Args = std::span<const std::string_view>;

void text_reply(Request& r, std::string text) {
    r.reply = std::move(text);
    r.reply += '\0';
}

XsErr control_check(Request& r, Args args) {
    if (!args.empty()) return XsErr::inval;
    auto st = r.core.store.check();
    if (!st) {
        log::error("{}", st.error().what);
        return XsErr::io;
    }
    r.ack();
    return XsErr::ok;
}

XsErr control_log(Request& r, Args args) {
    Core& core = r.core;
    if (args.empty()) {
        std::string out = "Log switch settings:\n";
        for (std::size_t i = 0; i < kTraceSwitches.size(); ++i)
            out += fmt::format("{:<8}: {}\n", kTraceSwitches[i], core.trace[i] ? "on" : "off");
        text_reply(r, std::move(out));
        return XsErr::ok;
    }
    if (args.size() != 1) return XsErr::inval;
    const std::string_view a = args[0];
    if (a == "on" || a == "off") {
        core.logging = a == "on";
    } else {
        if (a.size() < 2 || (a[0] != '+' && a[0] != '-')) return XsErr::inval;
        bool found = false;
        for (std::size_t i = 0; i < kTraceSwitches.size(); ++i) {
            if (a.substr(1) == kTraceSwitches[i]) {
                core.trace[i] = a[0] == '+';
                found = true;
            }
        }
        if (!found) return XsErr::inval;
    }
    r.ack();
    return XsErr::ok;
}

XsErr control_print(Request& r, Args args) {
    if (args.size() != 1) return XsErr::inval;
    if (r.core.logging) log::info("xenstore control: {}", args[0]);
    r.ack();
    return XsErr::ok;
}

XsErr quota_show(Request& r, bool soft) {
    std::string out = "Quota settings:\n";
    for (std::size_t i = 0; i < kQuotaCount; ++i) {
        const auto q = static_cast<Quota>(i);
        std::optional<std::uint32_t> v = soft ? r.core.quotas.soft(q) : r.core.quotas.hard(q);
        if (!v) continue;
        out += fmt::format("{:<17}: {:>8} {}\n", quota_info(q).name, *v, quota_info(q).description);
    }
    text_reply(r, std::move(out));
    return XsErr::ok;
}

XsErr quota_set(Request& r, Args args, bool soft) {
    if (args.size() != 2) return XsErr::inval;
    auto q = quota_by_name(args[0]);
    auto v = parse_decimal(args[1], INT32_MAX);
    if (!q || !v || *v < 1) return XsErr::inval;
    const auto value = static_cast<std::uint32_t>(*v);
    if (soft) {
        if (!r.core.quotas.set_soft(*q, value)) return XsErr::inval;
    } else {
        r.core.quotas.set_hard(*q, value);
    }
    r.ack();
    return XsErr::ok;
}

XsErr quota_domain(Request& r, std::string_view arg) {
    auto domid = parse_domid(arg);
    if (!domid) return XsErr::inval;
    Core& core = r.core;
    std::array<std::uint64_t, kQuotaCount> cur{};
    bool known = core.domains.count(*domid) || core.store.usage(*domid).nodes != 0;
    cur[Quotas::index(Quota::nodes)] = core.store.usage(*domid).nodes;
    cur[Quotas::index(Quota::memory)] = core.store.usage(*domid).bytes;
    for (const auto& [id, c] : core.conns) {
        if (c->domid != *domid) continue;
        known = true;
        cur[Quotas::index(Quota::watches)] += c->watches.size();
        cur[Quotas::index(Quota::transactions)] += c->transactions.size();
        cur[Quotas::index(Quota::outstanding)] += c->outstanding;
        cur[Quotas::index(Quota::memory)] += core.memory_used(*c) - core.store.usage(*domid).bytes;
    }
    if (!known) return XsErr::noent;
    std::string out = fmt::format("Domain {}:\n", *domid);
    for (std::size_t i = 0; i < kQuotaCount; ++i) {
        const auto q = static_cast<Quota>(i);
        out += fmt::format("{:<17}: {:>8} (max {:>8})\n", quota_info(q).name, cur[i],
                           std::max(cur[i], core.maxima.domain(*domid, q)));
    }
    text_reply(r, std::move(out));
    return XsErr::ok;
}

XsErr quota_max(Request& r, Args args) {
    if (args.size() > 1 || (args.size() == 1 && args[0] != "-r")) return XsErr::inval;
    if (args.size() == 1) r.core.maxima.reset();
    std::string out = "Max. seen accounting values:\n";
    for (std::size_t i = 0; i < kQuotaCount; ++i) {
        const auto q = static_cast<Quota>(i);
        out += fmt::format("{:<17}: {:>8}\n", quota_info(q).name, r.core.maxima.global(q));
    }
    text_reply(r, std::move(out));
    return XsErr::ok;
}

XsErr control_quota(Request& r, Args args) {
    if (args.empty()) return quota_show(r, false);
    if (args[0] == "set") return quota_set(r, args.subspan(1), false);
    if (args[0] == "max") return quota_max(r, args.subspan(1));
    if (args.size() != 1) return XsErr::inval;
    return quota_domain(r, args[0]);
}

XsErr control_quota_soft(Request& r, Args args) {
    if (args.empty()) return quota_show(r, true);
    if (args[0] == "set") return quota_set(r, args.subspan(1), true);
    return XsErr::inval;
}

XsErr control_help(Request& r, Args args);

struct Command {
    std::string_view name;
    XsErr (*fn)(Request&, Args);
    std::string_view params;
};

constexpr std::array<Command, 6> kCommands = {{
    {"check", control_check, ""},
    {"log", control_log, "[on|off|+<switch>|-<switch>]"},
    {"print", control_print, "<string>"},
    {"quota", control_quota, "[set <name> <val>|<domid>|max [-r]]"},
    {"quota-soft", control_quota_soft, "[set <name> <val>]"},
    {"help", control_help, ""},
}};

XsErr control_help(Request& r, Args args) {
    if (!args.empty()) return XsErr::inval;
    std::string out;
    for (const auto& c : kCommands) out += fmt::format("{:<15} {}\n", c.name, c.params);
    text_reply(r, std::move(out));
    return XsErr::ok;
}

}  // namespace

XsErr do_control(Request& r) {
    auto args = split_strings(r.payload());
    if (args.empty()) return XsErr::inval;
    for (const auto& c : kCommands) {
        if (c.name == args[0]) return c.fn(r, Args(args).subspan(1));
    }
    return XsErr::inval;
}

}  // namespace xenolith::xenstore
