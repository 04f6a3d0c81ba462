#include "toolstack/autostart/auto_domains.hpp"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "toolstack/config/domain_config.hpp"
#include "toolstack/config/parser.hpp"

namespace xenolith::autostart {
namespace {

// What a domain name may be, as the config parser requires of name= (so a
// start_after entry can name any domain a config can define).
Status check_domain_name(std::string_view n) {
    if (n.empty()) return make_error("an empty domain name");
    if (n.size() > kMaxDomainNameBytes)
        return make_error(fmt::format("\"{}\" is longer than {} bytes", config::shorten(n),
                                      kMaxDomainNameBytes));
    if (std::all_of(n.begin(), n.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return make_error(fmt::format("\"{}\" is a domain id, not a name", n));
    for (char c : n) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f)
            return make_error(fmt::format("\"{}\" contains a control character",
                                          config::shorten(n)));
    }
    return ok_status();
}

}  // namespace

Result<std::vector<std::string>> read_start_after(const config::ParsedConfig& parsed) {
    std::vector<std::string> names;
    const config::Setting* s = parsed.find(kStartAfterKey);
    if (!s) return names;
    // file:line:column of the offending value, as the config parser says it.
    auto fail = [&](const config::Value& at, std::string_view what) {
        return make_error(
            fmt::format("{}:{}:{}: {}: {}", s->pos.file, at.line, at.column, s->key, what));
    };
    std::vector<const config::Value*> items;
    if (s->value.is_atom()) {
        items.push_back(&s->value);
    } else {
        for (const config::Value& v : s->value.items) items.push_back(&v);
    }
    for (const config::Value* v : items) {
        if (v->is_list())
            return fail(*v, "expected a domain name or a list of names, got a list in the list");
        if (Status st = check_domain_name(v->text); !st) return fail(*v, st.error().what);
        if (std::find(names.begin(), names.end(), v->text) == names.end()) names.push_back(v->text);
    }
    return names;
}

Result<AutoDomain> read_auto_domain(const std::string& path) {
    auto parsed = config::parse_config_file(path);
    if (!parsed) return parsed.error();
    std::vector<config::Warning> warnings;  // xl create prints them when it runs
    auto cfg = config::build_domain_config(*parsed, warnings);
    if (!cfg) return cfg.error();
    auto after = read_start_after(*parsed);
    if (!after) return after.error();
    AutoDomain d;
    d.file = path;
    d.name = cfg->name;
    d.start_after = std::move(*after);
    if (const config::Setting* s = parsed->find(kStartAfterKey)) d.start_after_line = s->pos.line;
    return d;
}

AutoDirScan scan_auto_dir(const std::string& dir) {
    namespace fs = std::filesystem;
    AutoDirScan scan;
    std::error_code ec;
    scan.dir_exists = fs::exists(dir, ec);
    if (!scan.dir_exists) return scan;
    if (!fs::is_directory(dir, ec)) {
        scan.errors.push_back(dir + ": not a directory");
        return scan;
    }
    std::vector<std::string> entries;
    fs::directory_iterator it(dir, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
        const std::string leaf = it->path().filename().string();
        if (leaf.empty() || leaf[0] == '.') continue;
        if (entries.size() == kMaxAutoFiles) {
            scan.errors.push_back(
                fmt::format("{}: more than {} entries; not reading it", dir, kMaxAutoFiles));
            return scan;
        }
        entries.push_back(leaf);
    }
    if (ec) {
        scan.errors.push_back(fmt::format("{}: {}", dir, ec.message()));
        return scan;
    }
    std::sort(entries.begin(), entries.end());
    const std::string prefix = dir.empty() || dir.back() == '/' ? dir : dir + "/";
    for (const std::string& leaf : entries) {
        const std::string path = prefix + leaf;
        std::error_code st_ec;
        const fs::file_status st = fs::status(path, st_ec);  // follows symlinks
        if (st_ec || !fs::is_regular_file(st)) {
            scan.errors.push_back(fmt::format(
                "{}: {}", path,
                fs::is_symlink(fs::symlink_status(path, st_ec)) && !fs::exists(st)
                    ? "a symlink to nothing"
                    : "not a regular file"));
            continue;
        }
        auto d = read_auto_domain(path);
        if (!d) {
            scan.errors.push_back(d.error().what);
            continue;
        }
        scan.domains.push_back(std::move(*d));
    }
    return scan;
}

}  // namespace xenolith::autostart
