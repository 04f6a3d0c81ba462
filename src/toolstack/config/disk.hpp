// One disk= entry, as xl-disk-configuration(5) defines it and libxlu's disk
// scanner (libxlu_disk_l.l) reads it:
//
//   [<key>=<value>|<flag>,]* [<target>,[<format>,[<vdev>,[<access>]]]],
//   [<key>=<value>|<flag>,]* [target=<target>]
//
// plus the xend-era forms "phy:/dev/vg/x,xvda,w", "tap:aio:/img,xvda,w",
// "raw:/img,hdc:cdrom,r" and ",hdc:cdrom,r" (an empty cdrom drive).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "toolstack/config/device_spec.hpp"
#include "toolstack/config/value.hpp"

namespace xenolith::config {

// libxl_disk_format, without UNKNOWN: xl resolves that to raw.
enum class DiskFormat { raw, qcow, qcow2, vhd, empty, qed };
// libxl_disk_backend: which kind of back-end serves the disk.
enum class DiskBackendType { unknown, phy, tap, qdisk, standalone };
// libxl_disk_specification: the protocol the guest sees.
enum class DiskSpecification { unknown, xen, virtio };

// libxl's spellings, which are also the xl.cfg ones: "raw", "qcow2", "phy", ...
std::string_view to_string(DiskFormat format);
std::string_view to_string(DiskBackendType type);
std::string_view to_string(DiskSpecification spec);

struct DiskConfig {
    SourcePos where;  // the spec string in the config file
    std::string spec;  // as written, for the daemon to parse again

    // libxl's pdev_path: absent when no target was given (only a cdrom may
    // lack one); "" for an empty cdrom written ",hdc:cdrom,r" or "target=".
    std::optional<std::string> target;
    std::string vdev;                  // as written: "xvda", "hdc", "d0p1", "51712"
    std::uint32_t device_number = 0;   // libxl's encoding of vdev (xenstore device id)
    DiskFormat format = DiskFormat::raw;
    DiskBackendType backend_type = DiskBackendType::unknown;
    std::optional<std::string> backend_domain;  // backend=: a driver domain's name
    std::optional<std::string> script;          // script=, or block-nbd etc. from a prefix
    bool readwrite = true;
    bool is_cdrom = false;
    bool removable = false;  // cdroms are
    bool direct_io_safe = false;
    std::optional<bool> discard;      // absent: the back-end's default
    std::optional<bool> trusted;      // absent: libxl's default (trusted)
    DiskSpecification specification = DiskSpecification::unknown;
    std::optional<bool> grant_usage;  // virtio only
    bool colo = false;                // COLO settings were given (xenolith ignores them)
};

// libxl's device number for a virtual disk name (libxl__device_disk_dev_number):
// xvd<letters>[<partition>], hd<a-d>[<1-63>], sd<a-p>[<1-15>], d<N>p<M> or a
// plain number. nullopt for anything else.
std::optional<std::uint32_t> disk_device_number(std::string_view vdev);

// Parses one disk spec. On success `out` is filled in (`where` excepted) and
// true is returned; otherwise issues.error says what and where.
bool parse_disk_spec(std::string_view spec, DiskConfig& out, SpecIssues& issues);

}  // namespace xenolith::config
