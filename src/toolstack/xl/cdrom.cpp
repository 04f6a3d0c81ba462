// xl cd-insert and cd-eject (Xen 4.17 tools/xl/xl_cdrom.c): the drive is
// described as the disk spec "vdev=V,access=r,devtype=cdrom,target=T";
// an eject inserts nothing.
#include <sys/stat.h>

#include <cstdio>

#include "toolstack/xl/xl.hpp"

namespace xenolith::xl {

namespace {

int cd_insert(std::uint32_t domid, const std::string& vdev, const std::string* target) {
    auto disk = parse_disk_components(
        {"vdev=" + vdev + ",access=r,devtype=cdrom,target=" + (target ? *target : "")});
    if (!disk) return 1;
    // xl checks the file itself: libxl would accept a missing one.
    struct stat st {};
    if (disk->format != config::DiskFormat::empty && disk->target && !disk->target->empty() &&
        ::stat(disk->target->c_str(), &st) != 0) {
        std::fprintf(stderr, "Cannot stat file: %s\n", disk->target->c_str());
        return 1;
    }
    auto reply = request({{"cmd", "cd-insert"}, {"domid", domid}, {"spec", disk->spec}});
    if (!reply) return 1;
    if (reply->contains("log") && (*reply)["log"].is_array()) {
        for (const auto& line : (*reply)["log"])
            if (line.is_string() && !line.get<std::string>().empty())
                std::fprintf(stderr, "%s\n", line.get<std::string>().c_str());
    } else if (!reply->value("ok", false)) {
        std::fprintf(stderr, "%s\n", reply->value("error", std::string()).c_str());
    }
    return reply->value("ok", false) ? 0 : 1;
}

}  // namespace

int cmd_cd_eject(const Args& a) {
    int rc = 0;
    auto o = parse_options(a, "cd-eject", "", {}, 2, rc);
    if (!o) return rc;
    const std::uint32_t domid = domain_qualifier(o->args[0]);
    return cd_insert(domid, o->args[1], nullptr);
}

int cmd_cd_insert(const Args& a) {
    int rc = 0;
    auto o = parse_options(a, "cd-insert", "", {}, 3, rc);
    if (!o) return rc;
    const std::uint32_t domid = domain_qualifier(o->args[0]);
    return cd_insert(domid, o->args[1], &o->args[2]);
}

}  // namespace xenolith::xl
