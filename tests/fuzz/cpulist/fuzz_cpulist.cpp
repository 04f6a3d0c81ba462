// Fuzzes xl's CPU-list grammar. Checked beyond "no crash": errors are one
// of xl's two messages, resolution never names a CPU the host lacks, and
// what xl prints for a map (CpuMap::str) parses back to the same map.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "toolstack/config/cpulist.hpp"

namespace cfg = xenolith::config;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

// 6 CPUs, nodes {0,1,2}, {3,4}, {} and {5}.
const cfg::HostTopology kHost{6, {{0, 1, 2}, {3, 4}, {}, {5}}};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto list = cfg::parse_cpulist(text);
    if (!list) {
        const std::string& e = list.error().what;
        check(e == "Can't combine \"^\" and \"all\"." ||
              (e.starts_with("Invalid pcpu range: ") && e.ends_with(".")));
        return 0;
    }
    check(list->text == text);
    const cfg::CpuMap map = cfg::resolve(*list, kHost);
    check(map.size() == kHost.nr_cpus);
    for (unsigned cpu : map.cpus()) check(cpu < kHost.nr_cpus);
    const std::string shown = map.str();
    if (shown == "none") {
        check(map.empty());
        return 0;
    }
    auto again = cfg::parse_cpulist(shown);
    check(again.ok());
    check(cfg::resolve(*again, kHost) == map);
    return 0;
}
