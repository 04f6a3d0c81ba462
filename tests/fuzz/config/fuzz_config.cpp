// Fuzzes the whole xl.cfg pipeline. Input: config text, then optionally
// NUL-separated `xl create` override arguments (a NUL byte can never be
// part of a valid config, so it is free to use as the separator).
//
// Checked beyond "no crash": errors name their source, settings are unique,
// every value survives being written back and parsed again, and the JSON
// of a built config always serialises; disks and vifs do not collide.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "toolstack/config/domain_config.hpp"
#include "toolstack/config/json.hpp"
#include "toolstack/config/parser.hpp"

namespace cfg = xenolith::config;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

void check_round_trip(const cfg::Setting& s) {
    const std::string text = s.value.to_config_text();
    auto again = cfg::parse_config("k = " + text + "\n", "rt");
    check(again.ok());
    const cfg::Setting* k = again->find("k");
    check(k != nullptr);
    check(k->value.to_config_text() == text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::size_t nul = input.find('\0');
    const std::string_view text = input.substr(0, nul);

    auto parsed = cfg::parse_config(text, "f.cfg");
    if (!parsed.ok()) {
        check(starts_with(parsed.error().what, "f.cfg"));
        return 0;
    }

    if (nul != std::string_view::npos) {
        std::string_view rest = input.substr(nul + 1);
        while (true) {
            const std::size_t next = rest.find('\0');
            auto st = cfg::apply_override(*parsed, rest.substr(0, next));
            if (!st.ok()) check(starts_with(st.error().what, cfg::kCommandLineSource));
            if (next == std::string_view::npos) break;
            rest = rest.substr(next + 1);
        }
    }

    std::set<std::string_view> keys;
    for (const auto& s : parsed->settings) {
        check(!s.key.empty());
        check(keys.insert(s.key).second);
        check_round_trip(s);
    }
    check(parsed->warnings.size() <= cfg::kMaxWarnings + 1);

    std::vector<cfg::Warning> warnings;
    auto built = cfg::build_domain_config(*parsed, warnings);
    check(warnings.size() <= cfg::kMaxWarnings + 1);
    if (!built.ok()) {
        check(!built.error().what.empty());
        return 0;
    }
    check(!built->name.empty());
    check(built->memory_mib <= built->maxmem_mib);
    check(built->vcpus >= 1 && built->vcpus <= built->max_vcpus);
    // Each disk is its own device, each vif has its own devid.
    std::set<std::uint32_t> devices, devids;
    for (const auto& d : built->disks) check(devices.insert(d.device_number).second);
    for (const auto& n : built->nics) check(devids.insert(n.devid).second);
    (void)cfg::to_libxl_json(*built);
    (void)cfg::to_json(*built).dump();
    return 0;
}
