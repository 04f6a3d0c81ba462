// xl mem-set and xl mem-max: libxl_set_memory_target (relative = 0,
// enforce = 1) and libxl_domain_setmaxmem of Xen 4.17 (tools/libs/light/
// libxl_mem.c) against xenolithd's own xenstore and GuestMemory's
// max_pages. The guest's balloon driver watches memory/target and gives
// pages back or takes them (memory_op); nothing here waits for it.
//
// Failures reply with libxl's error lines in "log" (xl prints them, then
// its own "cannot set domid ..." line) and xl's exit status 1.
#include "daemon/request_util.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>

#include <unistd.h>

#include <fmt/format.h>

#include "control/libxl_compat.hpp"
#include "daemon/uuid.hpp"
#include "xenstore/domain_nodes.hpp"

namespace xenolith::daemon {
namespace {

using nlohmann::json;

// libxl's LIBXL_MIN_DOM0_MEM (128 MiB).
constexpr std::uint64_t kMinDom0MemKib = 128 * 1024;
// libxl's ERROR_FAIL.
constexpr int kLibxlFail = -3;
using toolstack::kLibxlMaxmemKib;

// libxl's lock on the domain's userdata: one memory change at a time.
std::mutex memory_change_mu;

json libxl_fail(const std::string& log) {
    json r = fail(log, 1);
    r["log"] = log;
    return r;
}

// One libxl log line as xl's stderr logger prints it. `domid` is prefixed
// for a guest (libxl__logv: "Domain N:"); `errnoval` >= 0 appends its text
// (LOGED/LOGEVD).
std::string libxl_line(int line, const char* func, std::optional<domid_t> domid,
                       const std::string& msg, int errnoval = -1) {
    return control::libxl_log_line("error", fmt::format("libxl_mem.c:{}:{}", line, func),
                                   domid.value_or(0), msg, errnoval);
}

// strtoull(value, &end, 10) with libxl's "*endptr != '\0'" test.
std::optional<std::uint64_t> parse_kib(const std::string& value) {
    char* end = nullptr;
    const std::uint64_t v = std::strtoull(value.c_str(), &end, 10);
    if (*end != '\0') return std::nullopt;
    return v;
}

// The request's domid when it can be a domain's (0 or a guest).
std::optional<domid_t> valid_domid(const json& req) {
    const auto v = request_domid(req);
    if (!v || *v >= control::kDomidFirstReserved) return std::nullopt;
    return static_cast<domid_t>(*v);
}

// The request's domid and its size in KiB under `key`: xl sends an
// int64_t, libxl takes it as uint64_t, so a negative size wraps as there.
std::optional<std::pair<domid_t, std::uint64_t>> domid_and_kib(const json& req, const char* key) {
    auto domid = valid_domid(req);
    if (!domid || !req.contains(key) || !req[key].is_number_integer()) return std::nullopt;
    return std::pair{*domid, static_cast<std::uint64_t>(req[key].get<std::int64_t>())};
}

std::string host_is_dom0(const char* func) {
    return fmt::format(
        "libxl: error: {}: domain 0 is the Linux host under xenolith: its memory is not "
        "ballooned",
        func);
}

// libxl_set_memory_target(ctx, domid, target_memkb, relative = 0, enforce = 1).
json mem_set(Hypervisor& hv, const json& req) {
    const auto args = domid_and_kib(req, "target_kib");
    if (!args) return fail("mem-set: a domid and a target_kib are required");
    const auto [domid, target] = *args;
    constexpr const char* kFunc = "libxl_set_memory_target";
    std::lock_guard lock(memory_change_mu);

    if (domid == 0) {
        // libxl__fill_dom0_memory_info: the nodes, or the domain's figures.
        const std::uint64_t host = host_memory_kib();
        if (target > host)
            return libxl_fail(libxl_line(278, kFunc, 0,
                                         "memory_dynamic_max must be less than or equal to "
                                         "memory_static_max\n"));
        if (target < kMinDom0MemKib)
            return libxl_fail(libxl_line(
                287, kFunc, 0,
                fmt::format("New target {} for dom0 is below the minimum threshold", target)));
        return libxl_fail(host_is_dom0(kFunc));
    }
    auto d = hv.domains().get(domid);
    if (!d) return fail("", 1);  // libxl__lock_domain_userdata fails silently
    const std::string home = xenstore::domain_home(domid);
    const auto target_s = hv.xenstore().read(home + "/memory/target");
    if (!target_s)
        return libxl_fail(libxl_line(
            234, kFunc, domid,
            fmt::format("Cannot get target memory info from {}/memory/target", home), ENOENT));
    if (!parse_kib(*target_s))
        return libxl_fail(libxl_line(
            242, kFunc, domid,
            fmt::format("Invalid memory target {} from {}/memory/target\n", *target_s, home), 0));
    const auto max_s = hv.xenstore().read(home + "/memory/static-max");
    if (!max_s)
        return libxl_fail(libxl_line(
            251, kFunc, domid,
            fmt::format("Cannot get memory info from {}/memory/static-max", home), ENOENT));
    const auto static_max = parse_kib(*max_s);
    if (!static_max)
        return libxl_fail(libxl_line(
            259, kFunc, domid,
            fmt::format("Invalid max memory {} from {}/memory/static-max\n", *max_s, home), 0));
    const auto videoram_s = hv.xenstore().read(home + "/memory/videoram");
    const auto videoram =
        static_cast<std::uint64_t>(videoram_s ? std::atoi(videoram_s->c_str()) : 0);

    const std::uint64_t new_target = target - videoram;
    if (new_target > *static_max)
        return libxl_fail(libxl_line(278, kFunc, domid,
                                     "memory_dynamic_max must be less than or equal to "
                                     "memory_static_max\n"));
    // enforce: xc_domain_setmaxmem(target + LIBXL_MAXMEM_CONSTANT). A guest
    // above it may only shrink ("ratchet down", XEN_DOMCTL_max_mem).
    d->memory().set_max_pages((new_target + videoram + kLibxlMaxmemKib) / 4);
    hv.xenstore().write(home + "/memory/target", fmt::format("{}", new_target));
    hv.xenstore().write(fmt::format("/vm/{}/memory", uuid_string(d->identity().uuid)),
                        fmt::format("{}", new_target / 1024));
    hv.toolstack().set_target_kib(domid, new_target);
    return {{"ok", true}};
}

// libxl_domain_setmaxmem(ctx, domid, max_memkb).
json mem_max(Hypervisor& hv, const json& req) {
    const auto args = domid_and_kib(req, "max_kib");
    if (!args) return fail("mem-max: a domid and a max_kib are required");
    const auto [domid, max_kib] = *args;
    constexpr const char* kFunc = "libxl_domain_setmaxmem";
    std::lock_guard lock(memory_change_mu);

    if (domid == 0) return libxl_fail(host_is_dom0(kFunc));
    auto d = hv.domains().get(domid);
    if (!d) return fail("", 1);  // libxl__lock_domain_userdata fails silently
    const std::string home = xenstore::domain_home(domid);
    const auto target_s = hv.xenstore().read(home + "/memory/target");
    if (!target_s)
        return libxl_fail(libxl_line(
            47, kFunc, domid, fmt::format("Cannot get memory info from {}/memory/target", home),
            ENOENT));
    const auto target = parse_kib(*target_s);
    if (!target)
        return libxl_fail(libxl_line(
            53, kFunc, domid,
            fmt::format("Invalid memory {} from {}/memory/target\n", *target_s, home), 0));
    if (max_kib < *target)
        return libxl_fail(libxl_line(59, kFunc, domid,
                                     "memory_static_max must be greater than or or equal to "
                                     "memory_dynamic_max",
                                     0));
    d->memory().set_max_pages((max_kib + kLibxlMaxmemKib) / 4);
    if (auto e = hv.xenstore().write(home + "/memory/static-max", fmt::format("{}", max_kib));
        e != xenstore::XsErr::ok)
        return libxl_fail(libxl_line(
            88, kFunc, domid,
            fmt::format("Couldn't set {}/memory/static-max, rc={}\n", home, kLibxlFail), 0));
    hv.toolstack().set_static_max_kib(domid, max_kib);
    return {{"ok", true}};
}

constexpr RequestHandler kMemoryRequests[] = {
    {"mem-set", mem_set},
    {"mem-max", mem_max},
};

}  // namespace

std::span<const RequestHandler> memory_requests() { return kMemoryRequests; }

}  // namespace xenolith::daemon
