// DomainConfig as libxl's domain config JSON (libxl_domain_config_gen_json),
// and that JSON printed byte for byte as xl 4.17 prints it:
//
//   {
//       "c_info": {
//           "type": "pvh",
//           "name": "web",
//           "uuid": "5d3e4f5a-1b2c-4d5e-8f90-a1b2c3d4e5f6",
//           "run_hotplug_scripts": "True"
//       },
//       "b_info": {
//           "max_memkb": 524288,
//           "target_memkb": 524288,
//           "sched_params": {
//
//           },
//           "claim_mode": "True",
//           "kernel": "/boot/vmlinuz",
//           "type.pvh": {
//
//           },
//           ...
//
// What is in it is what xl's parse_config_data leaves different from
// libxl's initial values (gentypes.py omits the rest): settings the file did
// not write are absent (no memory= means no max_memkb), settings xenolith
// does not act on but xl passes to libxl are present (cpu_weight=, pool=,
// nomigrate=, bootloader=, the type.hvm ones: DomainConfig::libxl), and xl's
// own defaults are there ("run_hotplug_scripts" and "claim_mode" "True", as
// with no /etc/xen/xl.conf; on_reboot "restart"; on_soft_reset "soft_reset").
// Keys come in libxl_types.idl order; printing follows yajl's beautifier as
// libxl configures it (4-space indent, "key": value, an empty object or
// array over two lines, a final newline). Strings that are not valid UTF-8
// get U+FFFD for the bad bytes (libxl would refuse to print them at all).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "toolstack/config/cpulist.hpp"
#include "toolstack/config/domain_config.hpp"

namespace xenolith::config {

// The libxl config object. `host` resolves cpus=/cpus_soft= into
// "vcpu_hard_affinity"/"vcpu_soft_affinity" as xl does; without it they are
// left out. The uuid is printed only if set (xl create generates one first).
nlohmann::json to_json(const DomainConfig& cfg, const HostTopology* host = nullptr);

// `v` printed as libxl's yajl generator prints it: objects whose keys are
// libxl's (a domain config, an `xl list -l` element {"domid", "config"},
// and everything inside them) in libxl_types.idl order, other keys after
// them in their own order.
std::string libxl_json_text(const nlohmann::json& v);

// One libxl_device_disk, as the "disks" of a domain config hold it.
nlohmann::json disk_to_json(const DiskConfig& disk);
// What `xl -N block-attach` prints for `disk` (libxl_device_disk_to_json
// after "disk: "), final newline included.
std::string disk_to_libxl_json(const DiskConfig& disk);

// One libxl_device_nic, as the "nics" of a domain config hold it.
nlohmann::json nic_to_json(const NicConfig& nic);
// What `xl -N network-attach` prints for `nic` (libxl_device_nic_to_json
// after "vif: "), final newline included. `devid_given`: xl's devid stays
// -1 (left out) unless devid= was written.
std::string nic_to_libxl_json(const NicConfig& nic, bool devid_given);

// What `xl create -n` prints for `cfg`.
std::string to_libxl_json(const DomainConfig& cfg, const HostTopology* host = nullptr);

}  // namespace xenolith::config
