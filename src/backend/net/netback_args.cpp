#include "backend/net/netback_args.hpp"

#include <charconv>
#include <string_view>

#include <fmt/format.h>

extern "C" {
#include <xen/xen.h>
}

namespace xenolith::backend::net {

namespace {

constexpr std::string_view kProgram = "xenolith-netback";

bool parse_number(std::string_view s, unsigned& out) {
    if (s.empty() || s.size() > 10) return false;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && end == s.data() + s.size();
}

// An absolute xenstore path: what VifDevice will watch and write.
bool plausible_path(std::string_view p) {
    return p.size() > 1 && p.size() <= 1024 && p.front() == '/' && p.back() != '/' &&
           p.find("//") == std::string_view::npos;
}

}  // namespace

std::vector<std::string> to_argv(const NetbackArgs& a) {
    std::vector<std::string> v{std::string(kProgram),
                               fmt::format("--frontend-domid={}", a.frontend),
                               fmt::format("--devid={}", a.devid),
                               "--backend-path=" + a.backend_path,
                               "--frontend-path=" + a.frontend_path,
                               fmt::format("--queues={}", a.queues)};
    if (!a.csum_offload) v.emplace_back("--no-csum-offload");
    if (a.relaunched) v.emplace_back("--relaunched");
    return v;
}

Result<NetbackArgs> parse_netback_args(const std::vector<std::string>& argv) {
    NetbackArgs a;
    bool have_domid = false, have_devid = false, have_queues = false;
    for (std::size_t i = 1; i < argv.size(); ++i) {
        std::string_view arg = argv[i];
        auto eq = arg.find('=');
        std::string_view key = arg.substr(0, eq);
        std::string_view value = eq == std::string_view::npos ? std::string_view{} : arg.substr(eq + 1);
        bool flag = eq == std::string_view::npos;
        if (key == "--frontend-domid" && !flag && !have_domid) {
            unsigned d = 0;
            if (!parse_number(value, d) || d == 0 || d >= DOMID_FIRST_RESERVED)
                return make_error(fmt::format("{}: bad --frontend-domid '{}'", kProgram, value));
            a.frontend = static_cast<DomId>(d);
            have_domid = true;
        } else if (key == "--devid" && !flag && !have_devid) {
            if (!parse_number(value, a.devid))
                return make_error(fmt::format("{}: bad --devid '{}'", kProgram, value));
            have_devid = true;
        } else if (key == "--queues" && !flag && !have_queues) {
            if (!parse_number(value, a.queues) || a.queues == 0 || a.queues > kMaxTapQueues)
                return make_error(fmt::format("{}: bad --queues '{}' (1 to {})", kProgram, value, kMaxTapQueues));
            have_queues = true;
        } else if (key == "--backend-path" && !flag && plausible_path(value)) {
            a.backend_path = value;
        } else if (key == "--frontend-path" && !flag && plausible_path(value)) {
            a.frontend_path = value;
        } else if (arg == "--no-csum-offload") {
            a.csum_offload = false;
        } else if (arg == "--relaunched") {
            a.relaunched = true;
        } else {
            return make_error(fmt::format("{}: bad argument '{}'", kProgram, arg));
        }
    }
    if (!have_domid || !have_devid || !have_queues || a.backend_path.empty() || a.frontend_path.empty())
        return make_error(fmt::format(
            "{}: needs --frontend-domid, --devid, --queues, --backend-path and --frontend-path", kProgram));
    return a;
}

std::string netback_name(const NetbackArgs& a) { return fmt::format("netback d{} {}", a.frontend, a.devid); }

}  // namespace xenolith::backend::net
