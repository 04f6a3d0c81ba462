#include "backend/blk/blkback_args.hpp"

#include "backend/blk/queues.hpp"

#include <charconv>
#include <string_view>

#include <fmt/format.h>

extern "C" {
#include <xen/xen.h>
}

namespace xenolith::backend::blk {

namespace {

constexpr std::string_view kProgram = "xenolith-blkback";

template <class T>
bool parse_number(std::string_view s, T& out) {
    if (s.empty() || s.size() > 10) return false;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && end == s.data() + s.size();
}

// An absolute xenstore path: what VbdDevice will watch and write.
bool plausible_path(std::string_view p) {
    return p.size() > 1 && p.size() <= 1024 && p.front() == '/' && p.back() != '/' &&
           p.find("//") == std::string_view::npos;
}

}  // namespace

std::vector<std::string> to_argv(const BlkbackArgs& a) {
    std::vector<std::string> v{std::string(kProgram),
                               fmt::format("--frontend-domid={}", a.frontend),
                               fmt::format("--devid={}", a.devid),
                               "--backend-path=" + a.backend_path,
                               "--frontend-path=" + a.frontend_path};
    if (a.readonly) v.emplace_back("--readonly");
    if (a.cdrom) v.emplace_back("--cdrom");
    if (a.direct) v.emplace_back("--direct");
    if (!a.has_disk) v.emplace_back("--no-disk");
    if (a.relaunched) v.emplace_back("--relaunched");
    v.push_back(fmt::format("--max-queues={}", a.max_queues != 0 ? a.max_queues : default_max_queues()));
    return v;
}

Result<BlkbackArgs> parse_blkback_args(const std::vector<std::string>& argv) {
    BlkbackArgs a;
    a.max_queues = 1;
    bool have_domid = false, have_devid = false;
    for (std::size_t i = 1; i < argv.size(); ++i) {
        std::string_view arg = argv[i];
        auto eq = arg.find('=');
        std::string_view key = arg.substr(0, eq);
        std::string_view value = eq == std::string_view::npos ? std::string_view{} : arg.substr(eq + 1);
        bool flag = eq == std::string_view::npos;
        if (key == "--frontend-domid" && !flag) {
            unsigned d = 0;
            if (!parse_number(value, d) || d == 0 || d >= DOMID_FIRST_RESERVED)
                return make_error(fmt::format("{}: bad --frontend-domid '{}'", kProgram, value));
            a.frontend = static_cast<DomId>(d);
            have_domid = true;
        } else if (key == "--devid" && !flag) {
            if (!parse_number(value, a.devid))
                return make_error(fmt::format("{}: bad --devid '{}'", kProgram, value));
            have_devid = true;
        } else if (key == "--max-queues" && !flag) {
            if (!parse_number(value, a.max_queues) || a.max_queues == 0 || a.max_queues > kMaxQueuesCeiling)
                return make_error(fmt::format("{}: bad --max-queues '{}'", kProgram, value));
        } else if (key == "--backend-path" && !flag && plausible_path(value)) {
            a.backend_path = value;
        } else if (key == "--frontend-path" && !flag && plausible_path(value)) {
            a.frontend_path = value;
        } else if (arg == "--readonly") {
            a.readonly = true;
        } else if (arg == "--cdrom") {
            a.cdrom = true;
        } else if (arg == "--direct") {
            a.direct = true;
        } else if (arg == "--no-disk") {
            a.has_disk = false;
        } else if (arg == "--relaunched") {
            a.relaunched = true;
        } else {
            return make_error(fmt::format("{}: bad argument '{}'", kProgram, arg));
        }
    }
    if (!have_domid || !have_devid || a.backend_path.empty() || a.frontend_path.empty())
        return make_error(fmt::format(
            "{}: needs --frontend-domid, --devid, --backend-path and --frontend-path", kProgram));
    if (!a.has_disk && !a.cdrom)
        return make_error(fmt::format("{}: --no-disk is only for an empty cdrom", kProgram));
    return a;
}

std::string blkback_name(const BlkbackArgs& a) {
    return fmt::format("blkback d{} {}", a.frontend, a.devid);
}

}  // namespace xenolith::backend::blk
