#include "toolstack/config/disk.hpp"

#include <array>
#include <climits>
#include <utility>

#include <fmt/format.h>

#include "toolstack/config/number.hpp"

namespace xenolith::config {

namespace {

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// A number as strtoul(s, &end, 0) reads it with nothing left over: 0x hex,
// leading-0 octal, or decimal. No sign or leading space (strtoul would take
// "-1" as ULONG_MAX).
std::optional<std::uint64_t> c_number(std::string_view s, std::uint64_t max) {
    unsigned base = 10;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s.remove_prefix(2);
    } else if (s.size() > 1 && s[0] == '0') {
        base = 8;
        s.remove_prefix(1);
    }
    if (s.empty()) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : s) {
        unsigned d;
        if (is_digit(c)) d = static_cast<unsigned>(c - '0');
        else if (c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') d = static_cast<unsigned>(c - 'A' + 10);
        else return std::nullopt;
        if (d >= base) return std::nullopt;
        v = v * base + d;
        if (v > max) return std::nullopt;
    }
    return v;
}

struct DiskAndPartition {
    std::uint32_t disk;
    std::uint32_t partition;
};

// "<prefix><letters>[<partition>]": the letters count a, b, ..., z, aa, ab, ...
// from 0. A partition number has no leading zero.
std::optional<DiskAndPartition> lettered(std::string_view name, std::string_view prefix,
                                         std::uint32_t max_disk, std::uint32_t max_partition) {
    if (!starts_with(name, prefix)) return std::nullopt;
    std::string_view rest = name.substr(prefix.size());
    std::int64_t index = -1;
    std::size_t i = 0;
    for (; i < rest.size() && is_lower(rest[i]); ++i) {
        index = (index + 1) * 26 + (rest[i] - 'a');
        if (index > max_disk) return std::nullopt;
    }
    if (index < 0) return std::nullopt;  // no letter: libxl takes this as disk -1
    rest.remove_prefix(i);
    if (rest.empty()) return DiskAndPartition{static_cast<std::uint32_t>(index), 0};
    if (rest[0] == '0') return std::nullopt;
    const auto part = parse_decimal(rest, max_partition);
    if (!part) return std::nullopt;
    return DiskAndPartition{static_cast<std::uint32_t>(index), static_cast<std::uint32_t>(*part)};
}

std::uint32_t xen_vbd_number(DiskAndPartition d) {
    if (d.disk <= 15 && d.partition <= 15) return (202u << 8) | (d.disk << 4) | d.partition;
    return (1u << 28) | (d.disk << 8) | d.partition;  // the extended scheme
}

// ---- the spec scanner -------------------------------------------------------

// Where each part came from, for messages about the whole.
struct Offsets {
    std::size_t vdev = 0;
    std::size_t target = 0;
    std::size_t format = 0;
};

class DiskSpecParser {
public:
    DiskSpecParser(std::string_view spec, DiskConfig& out, SpecIssues& issues)
        : spec_(spec), out_(out), issues_(issues) {}

    bool parse() {
        out_ = DiskConfig{};
        std::size_t pos = 0;
        while (!issues_.failed()) {
            while (pos < spec_.size() && is_space(spec_[pos])) ++pos;
            if (pos >= spec_.size()) break;
            pos = token(pos);
        }
        if (issues_.failed()) return false;
        return finish();
    }

private:
    static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n'; }

    // Reads one token at `pos`; returns where the next one starts.
    std::size_t token(std::size_t pos) {
        const std::string_view rest = spec_.substr(pos);
        if (starts_with(rest, "target=")) {
            // Everything after target= is the target, commas included (but
            // not one trailing comma, which libxlu strips).
            std::string_view value = rest.substr(7);
            if (!value.empty() && value.back() == ',') value.remove_suffix(1);
            save("target", out_.target, value, pos + 7);
            offsets_.target = pos + 7;
            return spec_.size();
        }
        if (std::size_t length = prefix(rest, pos); length != 0) return pos + length;

        const std::size_t comma = rest.find(',');
        const std::string_view tok = rest.substr(0, comma);
        const std::size_t next = comma == std::string_view::npos ? spec_.size() : pos + comma + 1;
        if (const std::size_t eq = tok.find('='); eq != std::string_view::npos) {
            keyword(tok.substr(0, eq), tok.substr(eq + 1), pos, pos + eq + 1);
        } else if (!flag(tok)) {
            positional(tok, pos);
        }
        return next;
    }

    // A deprecated "xxx:" prefix at `rest`: its length including the colon,
    // or 0 if `rest` does not start with one.
    std::size_t prefix(std::string_view rest, std::size_t pos) {
        std::size_t n = 0;
        if (rest.empty() || !is_lower(rest[0])) return 0;
        while (n < rest.size() && (is_lower(rest[n]) || is_digit(rest[n]))) ++n;
        if (n >= rest.size() || rest[n] != ':') return 0;
        const std::string_view word = rest.substr(0, n);
        static constexpr std::pair<std::string_view, DiskFormat> kFormats[] = {
            {"raw", DiskFormat::raw}, {"qcow", DiskFormat::qcow},
            {"qcow2", DiskFormat::qcow2}, {"vhd", DiskFormat::vhd}};
        for (const auto& [name, format] : kFormats) {
            if (word == name) {
                had_prefix_ = true;
                set_format(format, word, pos);
                return n + 1;
            }
        }
        for (std::string_view script : {"iscsi", "nbd", "enbd", "drbd"}) {
            if (word == script) {
                had_prefix_ = true;
                save("script", out_.script, fmt::format("block-{}", word), pos);
                return n + 1;
            }
        }
        for (std::string_view ignored : {"tapdisk", "tap", "tap2", "aio", "ioemu", "file", "phy"}) {
            if (word == ignored) {
                had_prefix_ = true;
                return n + 1;
            }
        }
        // libxlu: a lower-case word and a colon not followed by a letter or
        // digit is a prefix it does not know ("hdc:cdrom" is a vdev).
        const bool followed_by_word =
            n + 1 < rest.size() && (is_lower(rest[n + 1]) || is_digit(rest[n + 1]));
        if (followed_by_word) return 0;
        issues_.fail(pos, fmt::format("unknown prefix '{}:'; the known ones are phy:, file:, "
                                      "tap:, tap2:, tapdisk:, aio:, ioemu:, raw:, qcow:, qcow2:, "
                                      "vhd:, iscsi:, nbd:, enbd: and drbd:",
                                      shorten(word)));
        return spec_.size();
    }

    bool flag(std::string_view tok) {
        if (tok == "cdrom") out_.is_cdrom = true;
        else if (tok == "direct-io-safe") out_.direct_io_safe = true;
        else if (tok == "discard") out_.discard = true;
        else if (tok == "no-discard") out_.discard = false;
        else if (tok == "trusted") out_.trusted = true;
        else if (tok == "untrusted") out_.trusted = false;
        else if (tok == "colo" || tok == "no-colo") out_.colo = true;
        else return false;
        return true;
    }

    void keyword(std::string_view key, std::string_view value, std::size_t pos,
                 std::size_t value_pos) {
        if (key == "format") {
            const auto format = parse_format(value);
            if (!format) {
                issues_.fail(value_pos, fmt::format("format: unknown format '{}'; expected raw, "
                                                    "qcow, qcow2, vhd, qed or empty",
                                                    shorten(value)));
                return;
            }
            set_format(*format, value, value_pos);
        } else if (key == "vdev") {
            save("vdev", vdev_, value, value_pos);
            offsets_.vdev = value_pos;
        } else if (key == "access") {
            set_access(value, value_pos);
        } else if (key == "devtype") {
            if (value == "cdrom") out_.is_cdrom = true;
            else if (value == "disk") out_.is_cdrom = false;
            else issues_.fail(value_pos, fmt::format("devtype: expected cdrom or disk, got '{}'",
                                                     shorten(value)));
        } else if (key == "backend") {
            save("backend", out_.backend_domain, value, value_pos);
        } else if (key == "backendtype") {
            static constexpr std::pair<std::string_view, DiskBackendType> kTypes[] = {
                {"phy", DiskBackendType::phy}, {"tap", DiskBackendType::tap},
                {"qdisk", DiskBackendType::qdisk}, {"standalone", DiskBackendType::standalone}};
            set_enum("backendtype", "phy, tap, qdisk or standalone", kTypes, value, value_pos,
                     out_.backend_type, DiskBackendType::unknown);
        } else if (key == "specification") {
            static constexpr std::pair<std::string_view, DiskSpecification> kSpecs[] = {
                {"xen", DiskSpecification::xen}, {"virtio", DiskSpecification::virtio}};
            set_enum("specification", "xen or virtio", kSpecs, value, value_pos,
                     out_.specification, DiskSpecification::unknown);
        } else if (key == "script") {
            save("script", out_.script, value, value_pos);
        } else if (key == "grant_usage") {
            if (value == "1") out_.grant_usage = true;
            else if (value == "0") out_.grant_usage = false;
            else issues_.fail(value_pos, fmt::format("grant_usage: expected 0 or 1, got '{}'",
                                                     shorten(value)));
        } else if (key == "colo-port") {
            if (!parse_decimal(value, 65535).value_or(0)) {
                issues_.fail(value_pos, fmt::format("colo-port: expected a port number, got '{}'",
                                                    shorten(value)));
            }
            out_.colo = true;
        } else if (key == "colo-host" || key == "colo-export" || key == "active-disk" ||
                   key == "hidden-disk") {
            out_.colo = true;
        } else if (!key.empty() && is_lower(key[0]) &&
                   key.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-_") ==
                       std::string_view::npos) {
            issues_.fail(pos, fmt::format("unknown disk parameter '{}'; expected target, format, "
                                          "vdev, access, devtype, backend, backendtype, script, "
                                          "specification, grant_usage or a flag",
                                          shorten(key)));
        } else {
            issues_.fail(pos, fmt::format("a target written in place contains '=' ('{}'); write "
                                          "it last as target=...",
                                          shorten(std::string(key) + "=" + std::string(value))));
        }
    }

    // The next unset positional parameter, in libxlu's order.
    void positional(std::string_view tok, std::size_t pos) {
        if (!out_.target) {
            save("target", out_.target, tok, pos);
            offsets_.target = pos;
        } else if (!had_prefix_ && !format_) {
            // ",hdc:cdrom,r": the xend spelling of an empty cdrom drive.
            if (out_.target->empty() && vdev_and_devtype(tok, pos)) {
                format_ = DiskFormat::empty;
            } else {
                const auto format = parse_format(tok);
                if (!format) {
                    issues_.fail(pos, fmt::format("unknown format '{}' in the second position; "
                                                  "expected raw, qcow, qcow2, vhd, qed or empty "
                                                  "(target, format, vdev, access)",
                                                  shorten(tok)));
                    return;
                }
                set_format(*format, tok, pos);
            }
        } else if (!vdev_) {
            if (had_prefix_ && !tok.empty() && parse_format(tok)) {
                // "file:/img.qcow2,qcow2,xvda,w": after a prefix xl has no format position.
                issues_.fail(pos, fmt::format("vdev: '{}' is a format, but after a prefix such as "
                                              "phy: or file: the positions are target, vdev, "
                                              "access; write format={} or the {}: prefix",
                                              tok, tok, tok));
                return;
            }
            if (!vdev_and_devtype(tok, pos)) {
                save("vdev", vdev_, tok, pos);
                offsets_.vdev = pos;
            }
        } else if (!access_set_) {
            access_set_ = true;
            set_access(tok, pos);
        } else {
            issues_.fail(pos, fmt::format("too many positional parameters at '{}'; the order is "
                                          "target, format, vdev, access",
                                          shorten(tok)));
        }
    }

    // "hdc:cdrom" / "xvda:disk": the xend way of giving devtype with vdev.
    bool vdev_and_devtype(std::string_view tok, std::size_t pos) {
        const std::size_t colon = tok.rfind(':');
        if (colon == std::string_view::npos) return false;
        save("vdev", vdev_, tok.substr(0, colon), pos);
        offsets_.vdev = pos;
        const std::string_view type = tok.substr(colon + 1);
        if (type == "cdrom") out_.is_cdrom = true;
        else if (type == "disk") out_.is_cdrom = false;
        else issues_.fail(pos + colon + 1, fmt::format("expected cdrom or disk after '{}:', got '{}'",
                                                       shorten(tok.substr(0, colon)), shorten(type)));
        return true;
    }

    static std::optional<DiskFormat> parse_format(std::string_view s) {
        static constexpr std::pair<std::string_view, DiskFormat> kFormats[] = {
            {"", DiskFormat::raw},         {"raw", DiskFormat::raw},
            {"qcow", DiskFormat::qcow},    {"qcow2", DiskFormat::qcow2},
            {"vhd", DiskFormat::vhd},      {"empty", DiskFormat::empty},
            {"qed", DiskFormat::qed}};
        for (const auto& [name, format] : kFormats) {
            if (s == name) return format;
        }
        return std::nullopt;
    }

    void set_format(DiskFormat format, std::string_view as_written, std::size_t pos) {
        if (format_ && *format_ != format) {
            issues_.fail(pos, fmt::format("format given twice: {} and '{}'", to_string(*format_),
                                          shorten(as_written)));
            return;
        }
        format_ = format;
        offsets_.format = pos;
    }

    void set_access(std::string_view s, std::size_t pos) {
        if (s == "r" || s == "ro") out_.readwrite = false;
        else if (s == "rw" || s == "w" || s.empty()) out_.readwrite = true;
        else issues_.fail(pos, fmt::format("access: expected ro, r, rw or w, got '{}'", shorten(s)));
    }

    template <class Enum, std::size_t N>
    void set_enum(std::string_view key, std::string_view expected,
                  const std::pair<std::string_view, Enum> (&table)[N], std::string_view value,
                  std::size_t pos, Enum& out, Enum unset) {
        for (const auto& [name, e] : table) {
            if (value != name) continue;
            if (out != unset && out != e) {
                issues_.fail(pos, fmt::format("{} given twice", key));
            }
            out = e;
            return;
        }
        issues_.fail(pos, fmt::format("{}: expected {}, got '{}'", key, expected, shorten(value)));
    }

    // libxlu's savestring: a second non-empty value is an error; an empty
    // one may be overwritten.
    void save(std::string_view what, std::optional<std::string>& slot, std::string_view value,
              std::size_t pos) {
        if (slot && !slot->empty()) {
            issues_.fail(pos, fmt::format("{} given twice: '{}' and '{}'", what, shorten(*slot),
                                          shorten(value)));
            return;
        }
        slot = std::string(value);
    }

    bool finish() {
        out_.format = format_.value_or(DiskFormat::raw);
        if (out_.is_cdrom) {
            out_.removable = true;
            out_.readwrite = false;
            if (!out_.target || out_.target->empty()) out_.format = DiskFormat::empty;
        }
        if (!vdev_) {
            if (out_.target && out_.target->find("vdev=") != std::string::npos) {
                return issues_.fail(offsets_.target,
                                    "no vdev: target= takes the rest of the spec, so the vdev= "
                                    "after it became part of the target; write target= last");
            }
            return issues_.fail(0, "no vdev: say which device the guest sees, e.g. "
                                   "'/dev/vg/guest,raw,xvda,rw' or vdev=xvda");
        }
        out_.vdev = std::move(*vdev_);
        if (!out_.target && !out_.removable) {
            return issues_.fail(0, "no target: name the image or block device, e.g. "
                                   "target=/dev/vg/guest (only a cdrom may be empty)");
        }
        if (out_.target && out_.target->empty() && !out_.is_cdrom) {
            return issues_.fail(offsets_.target,
                                "empty target: only a cdrom drive may be empty (add devtype=cdrom)");
        }
        if (out_.format == DiskFormat::empty && !out_.is_cdrom) {
            return issues_.fail(offsets_.format, "format empty is only for cdrom drives");
        }
        const auto number = disk_device_number(out_.vdev);
        if (!number) {
            return issues_.fail(
                offsets_.vdev,
                fmt::format("vdev: '{}' is not a virtual disk name; expected xvd<letters>[N] "
                            "(xvda, xvdb1, xvdaa), hd<a-d>[1-63], sd<a-p>[1-15], d<N>p<M> or a "
                            "device number",
                            shorten(out_.vdev)));
        }
        out_.device_number = *number;
        if (out_.colo) issues_.warn(0, "COLO settings are not supported by xenolith; ignored");
        return true;
    }

    std::string_view spec_;
    DiskConfig& out_;
    SpecIssues& issues_;
    Offsets offsets_;
    std::optional<std::string> vdev_;
    std::optional<DiskFormat> format_;  // unset: raw
    bool had_prefix_ = false;           // a deprecated prefix removes format from the positions
    bool access_set_ = false;
};

}  // namespace

std::string_view to_string(DiskFormat format) {
    switch (format) {
    case DiskFormat::raw: return "raw";
    case DiskFormat::qcow: return "qcow";
    case DiskFormat::qcow2: return "qcow2";
    case DiskFormat::vhd: return "vhd";
    case DiskFormat::empty: return "empty";
    case DiskFormat::qed: return "qed";
    }
    return "?";
}

std::string_view to_string(DiskBackendType type) {
    switch (type) {
    case DiskBackendType::unknown: return "unknown";
    case DiskBackendType::phy: return "phy";
    case DiskBackendType::tap: return "tap";
    case DiskBackendType::qdisk: return "qdisk";
    case DiskBackendType::standalone: return "standalone";
    }
    return "?";
}

std::string_view to_string(DiskSpecification spec) {
    switch (spec) {
    case DiskSpecification::unknown: return "unknown";
    case DiskSpecification::xen: return "xen";
    case DiskSpecification::virtio: return "virtio";
    }
    return "?";
}

std::optional<std::uint32_t> disk_device_number(std::string_view vdev) {
    constexpr std::uint32_t kMaxXvdDisk = (1u << 20) - 1;
    // d<N>p<M>: Xen's own numbering of disk N, partition M.
    if (starts_with(vdev, "d")) {
        const std::size_t p = vdev.find('p');
        if (p != std::string_view::npos) {
            const auto disk = parse_decimal(vdev.substr(1, p - 1), kMaxXvdDisk);
            const auto part = parse_decimal(vdev.substr(p + 1), 255);
            if (disk && part) {
                return xen_vbd_number({static_cast<std::uint32_t>(*disk),
                                       static_cast<std::uint32_t>(*part)});
            }
        }
    }
    if (auto d = lettered(vdev, "xvd", kMaxXvdDisk, 255)) return xen_vbd_number(*d);
    if (auto n = c_number(vdev, INT_MAX)) return static_cast<std::uint32_t>(*n);
    // IDE: two controllers (majors 3 and 22) of two disks, 63 partitions.
    if (auto d = lettered(vdev, "hd", 3, 63)) {
        return ((d->disk < 2 ? 3u : 22u) << 8) | ((d->disk & 1u) << 6) | d->partition;
    }
    // SCSI: major 8, 16 disks of 15 partitions.
    if (auto d = lettered(vdev, "sd", 15, 15)) return (8u << 8) | (d->disk << 4) | d->partition;
    return std::nullopt;
}

bool parse_disk_spec(std::string_view spec, DiskConfig& out, SpecIssues& issues) {
    if (!DiskSpecParser(spec, out, issues).parse()) return false;
    out.spec = std::string(spec);
    return true;
}

}  // namespace xenolith::config
