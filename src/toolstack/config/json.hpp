// DomainConfig as libxl's domain config JSON (libxl_domain_config_gen_json),
// the object `xl create -n` and `xl list -l` print under "config":
//
//   {
//     "c_info": { "type": "pvh", "name": "web", "uuid": "5d3e..." },
//     "b_info": {
//       "max_vcpus": 2, "avail_vcpus": [0, 1],
//       "max_memkb": 1048576, "target_memkb": 524288,
//       "max_grant_frames": 64, "max_maptrack_frames": 1024,
//       "sched_params": {},
//       "event_channels": 1023,
//       "kernel": "/boot/vmlinuz", "cmdline": "root=/dev/xvda1 ro", "ramdisk": "/boot/initrd.img",
//       "type.pvh": {},                          // "type.hvm": { "firmware": "..." } for HVM
//       "arch_arm": {}, "arch_x86": {}
//     },
//     "disks": [ { "pdev_path": "/dev/vg0/web", "vdev": "xvda", "format": "raw", "readwrite": 1 } ],
//     "nics": [ { "mac": "00:16:3e:12:34:56", "bridge": "xenbr0" } ],
//     "on_reboot": "restart",
//     "on_soft_reset": "soft_reset"
//   }
//
// As libxl does, fields equal to libxl's initial value are left out: a
// missing uuid, strings not set, and on_* actions that are "destroy"; so
// are "disks"/"nics" when there are none, zero integers and unset
// booleans of devices (libxl's defbools print as "True"/"False").
// Memory is in KiB; actions use libxl's enum names ("restart_rename",
// "coredump_destroy", ...), not xl.cfg's ("rename-restart"). Grant and
// event-channel limits are printed as resolved (xl leaves them to Xen).
// Strings that are not valid UTF-8 get U+FFFD for the bad bytes, so dump()
// never throws.
#pragma once

#include <cstdint>
#include <optional>

#include <nlohmann/json.hpp>

#include "toolstack/config/domain_config.hpp"

namespace xenolith::config {

// Keys sorted (nlohmann::json's object is a std::map).
nlohmann::json to_json(const DomainConfig& cfg);

// The same, in libxl's field order: what to print.
nlohmann::ordered_json to_ordered_json(const DomainConfig& cfg);

// One element of `xl list -l`'s array: {"domid": N or null, "config": {...}}.
nlohmann::ordered_json to_xl_list_entry(std::optional<std::uint32_t> domid, const DomainConfig& cfg);

}  // namespace xenolith::config
