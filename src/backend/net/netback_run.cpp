#include "backend/net/netback_run.hpp"

#include <unistd.h>

#include <memory>

#include "backend/link/link_client.hpp"
#include "backend/net/vif_device.hpp"
#include "backend/xs_client.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::backend::net {

NetbackExit run_netback(const NetbackArgs& args, int link_fd, int xenstore_fd, std::vector<int> tap_fds,
                        std::string& why) {
    std::vector<UniqueFd> taps;
    for (int fd : tap_fds) taps.emplace_back(fd);
    auto link = link::LinkClient::connect(link_fd);
    if (!link) {
        ::close(xenstore_fd);
        why = "link: " + link.error().what;
        return NetbackExit::setup;
    }
    if ((*link)->frontend() != args.frontend) {
        ::close(xenstore_fd);
        why = "link: serves another domain than --frontend-domid";
        return NetbackExit::setup;
    }
    auto xs = SocketXenstore::open(xenstore_fd);
    if (!xs) {
        why = "xenstore: " + xs.error().what;
        return NetbackExit::setup;
    }
    if (taps.size() != args.queues || taps.empty()) {
        why = "TAP: not one fd per queue";
        return NetbackExit::setup;
    }

    VifConfig cfg;
    cfg.backend_path = args.backend_path;
    cfg.frontend_path = args.frontend_path;
    cfg.frontend = args.frontend;
    cfg.devid = args.devid;
    for (const UniqueFd& t : taps) cfg.tap_fds.push_back(t.get());
    cfg.csum_offload = args.csum_offload;
    cfg.relaunched = args.relaunched;
    Services services{(*link)->evtchn(), (*link)->grants(), **xs};
    auto device = VifDevice::create(cfg, services, (*link)->holder());
    if (!device) {
        why = device.error().what;
        return NetbackExit::setup;
    }
    while (!(*device)->done()) {
        if (!(*link)->linked()) {
            why = "the link to its server is gone";
            return NetbackExit::lost;
        }
        if ((*xs)->failure() != 0) {
            why = "the xenstore connection is gone";
            return NetbackExit::lost;
        }
        (*device)->poll_once(1000);
    }
    return NetbackExit::done;
}

}  // namespace xenolith::backend::net
