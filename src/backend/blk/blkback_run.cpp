#include "backend/blk/blkback_run.hpp"

#include <unistd.h>

#include <memory>

#include "backend/blk/uring_disk.hpp"
#include "backend/blk/vbd_device.hpp"
#include "backend/link/link_client.hpp"
#include "backend/xs_client.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::backend::blk {

BlkbackExit run_blkback(const BlkbackArgs& args, int link_fd, int xenstore_fd, int disk_fd,
                        std::string& why) {
    UniqueFd disk_owner(disk_fd);
    auto link = link::LinkClient::connect(link_fd);
    if (!link) {
        ::close(xenstore_fd);
        why = "link: " + link.error().what;
        return BlkbackExit::setup;
    }
    if ((*link)->frontend() != args.frontend) {
        ::close(xenstore_fd);
        why = "link: serves another domain than --frontend-domid";
        return BlkbackExit::setup;
    }
    auto xs = SocketXenstore::open(xenstore_fd);
    if (!xs) {
        why = "xenstore: " + xs.error().what;
        return BlkbackExit::setup;
    }

    std::unique_ptr<UringDisk> disk;
    if (args.has_disk) {
        DiskOpen how;
        how.path = args.backend_path + "/params";  // messages only: the fd is the disk
        how.fd = disk_owner.get();
        how.readonly = args.readonly || args.cdrom;
        how.direct = args.direct;
        auto opened = UringDisk::open(how);
        if (!opened) {
            why = "disk: " + opened.error().what;
            return BlkbackExit::setup;
        }
        disk = std::move(opened).value();
        disk_owner.reset();  // UringDisk holds its own duplicate
    }

    VbdConfig cfg;
    cfg.backend_path = args.backend_path;
    cfg.frontend_path = args.frontend_path;
    cfg.frontend = args.frontend;
    cfg.devid = args.devid;
    cfg.readonly = args.readonly;
    cfg.cdrom = args.cdrom;
    cfg.relaunched = args.relaunched;
    cfg.offer.max_queues = args.max_queues;  // resolved by the launcher (0 in-process: the device resolves it)
    Services services{(*link)->evtchn(), (*link)->grants(), **xs};
    auto device = VbdDevice::create(cfg, services, disk.get());
    if (!device) {
        why = device.error().what;
        return BlkbackExit::setup;
    }
    while (!(*device)->done()) {
        if (!(*link)->linked()) {
            why = "the link to its server is gone";
            return BlkbackExit::lost;
        }
        if ((*xs)->failure() != 0) {
            why = "the xenstore connection is gone";
            return BlkbackExit::lost;
        }
        (*device)->poll_once(1000);
    }
    return BlkbackExit::done;
}

}  // namespace xenolith::backend::blk
