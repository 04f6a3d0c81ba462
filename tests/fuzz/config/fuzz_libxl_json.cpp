// Fuzzes the libxl JSON config reader (libxl_json_reader.hpp): the config
// a save file or a migration stream carries is untrusted input to xl
// restore and xl migrate-receive.
//
// Checked beyond "no crash": whatever it accepts, written back with
// to_json and read again, reads back to the same JSON (the reader and the
// writer agree), and the disk and vif specs it built parse on their own
// (the daemon parses them again).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "toolstack/config/disk.hpp"
#include "toolstack/config/json.hpp"
#include "toolstack/config/libxl_json_reader.hpp"
#include "toolstack/config/nic.hpp"

namespace cfg = xenolith::config;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto read = cfg::domain_config_from_json_text(text, "<saved>");
    if (!read) {
        if (read.error().what.empty()) std::abort();
        return 0;
    }
    const auto first = cfg::to_json(*read);
    auto again = cfg::domain_config_from_json(first, "<saved>");
    if (!again || cfg::to_json(*again) != first) std::abort();
    for (const auto& d : read->disks) {
        cfg::DiskConfig disk;
        cfg::SpecIssues issues;
        if (!cfg::parse_disk_spec(d.spec, disk, issues)) std::abort();
    }
    for (const auto& n : read->nics) {
        cfg::NicConfig nic;
        bool devid_given = false;
        std::size_t bridge_offset = 0;
        cfg::SpecIssues issues;
        if (!cfg::parse_nic_spec(n.spec, nic, devid_given, bridge_offset, issues)) std::abort();
    }
    return 0;
}
