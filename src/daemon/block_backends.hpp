// The real DeviceBackends of xenolithd: every vbd is served by its own
// xenolith-blkback process (src/backend/blk/blkback_host.hpp), launched in
// its sandbox with the disk opened here with the requester's rights, a
// link to the guest's memory, grants and event channels
// (DomainLinkProvider), and a xenstore connection confined to the device's
// two directories. One thread serves every back-end's link and supervisor.
// A back-end that dies takes its device to Closed (the front end sees
// errors, not a hang) and is relaunched, as BlkbackHost describes.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "backend/blk/blkback_host.hpp"
#include "backend/link/domain_link_provider.hpp"
#include "base/unique_fd.hpp"
#include "evtchn/event_channels.hpp"
#include "grant/foreign_domain.hpp"
#include "toolstack/daemon/device_backends.hpp"
#include "xenstore/xenstore_service.hpp"

namespace xenolith::daemon {

class BlockBackends final : public toolstack::DeviceBackends {
public:
    // `binary`: the xenolith-blkback executable (next to xenolithd). A
    // missing binary is reported at the first start_vbd, naming it.
    // A domain's event-channel table by domid (nullptr: no such domain).
    using GuestEvents = std::function<std::shared_ptr<evtchn::EventChannels>(domid_t)>;

    BlockBackends(grant::DomainLookup grant_domains, GuestEvents guest_events,
                  std::shared_ptr<evtchn::EventChannels> host_events,
                  xenstore::XenstoreService& store, std::string binary);
    ~BlockBackends() override;
    BlockBackends(const BlockBackends&) = delete;
    BlockBackends& operator=(const BlockBackends&) = delete;

    Status start_vbd(domid_t domid, const toolstack::VbdNodes& nodes,
                     const config::DiskConfig& disk, const toolstack::VbdOpen& open) override;
    void stop_vbd(domid_t domid, std::uint32_t devid) override;
    // Network back-ends are not launched here yet: start_vif refuses (the
    // toolstack then undoes the vif), stop_vif has nothing to stop.
    Status start_vif(domid_t domid, const toolstack::VifNodes& nodes,
                     const config::NicConfig& nic, std::vector<UniqueFd> taps) override;
    void stop_vif(domid_t domid, std::uint32_t devid) override;
    void stop_all(domid_t domid) override;

    // The process serving vbd `devid` of `domid` (-1: none right now).
    pid_t backend_pid(domid_t domid, std::uint32_t devid);

    // Where xenolithd looks for the back-end binary: beside its own
    // executable.
    static std::string default_binary();

private:
    struct Served {
        std::uint64_t key = 0;  // epoll tag: survives the entry's removal
        std::unique_ptr<backend::link::DomainLinkProvider> provider;
        std::unique_ptr<backend::blk::BlkbackHost> host;
    };
    void serve();
    void remove_locked(std::map<std::pair<domid_t, std::uint32_t>, Served>::iterator it);

    GuestEvents guest_events_;
    grant::DomainLookup grant_domains_;
    std::shared_ptr<evtchn::EventChannels> host_events_;
    xenstore::XenstoreService& store_;
    std::string binary_;

    std::mutex mu_;
    std::map<std::pair<domid_t, std::uint32_t>, Served> served_;
    std::uint64_t next_key_ = 1;
    UniqueFd epoll_;
    UniqueFd wake_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace xenolith::daemon
