// The real DeviceBackends of xenolithd: every vbd is served by its own
// xenolith-blkback process (src/backend/blk/blkback_host.hpp) and every
// vif by its own xenolith-netback (src/backend/net/netback_host.hpp), each
// launched in its sandbox with its device's fds (the disk opened here with
// the requester's rights; the vif's TAP queues, created by the toolstack),
// a link to the guest's memory, grants and event channels
// (DomainLinkProvider), and a xenstore connection confined to the device's
// two directories. One thread serves every back-end's link and supervisor.
// A back-end that dies takes its device to Closed (the front end sees
// errors, not a hang) and is relaunched (sandbox/backend_host.hpp).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <utility>

#include "backend/blk/blkback_host.hpp"
#include "backend/net/netback_host.hpp"
#include "backend/link/domain_link_provider.hpp"
#include "base/unique_fd.hpp"
#include "evtchn/event_channels.hpp"
#include "grant/foreign_domain.hpp"
#include "toolstack/daemon/device_backends.hpp"
#include "xenstore/xenstore_service.hpp"

namespace xenolith::daemon {

// The back-end executables. A missing one is reported when a device needs
// it, naming it.
struct BackendBinaries {
    std::string blkback;  // xenolith-blkback
    std::string netback;  // xenolith-netback
    // Where xenolithd looks for them: beside its own executable.
    static BackendBinaries beside_daemon();
};

class BackendProcesses final : public toolstack::DeviceBackends {
public:
    // A domain's event-channel table by domid (nullptr: no such domain).
    using GuestEvents = std::function<std::shared_ptr<evtchn::EventChannels>(domid_t)>;

    BackendProcesses(grant::DomainLookup grant_domains, GuestEvents guest_events,
                     std::shared_ptr<evtchn::EventChannels> host_events,
                     xenstore::XenstoreService& store, BackendBinaries binaries);
    ~BackendProcesses() override;
    BackendProcesses(const BackendProcesses&) = delete;
    BackendProcesses& operator=(const BackendProcesses&) = delete;

    Status start_vbd(domid_t domid, const toolstack::VbdNodes& nodes,
                     const config::DiskConfig& disk, const toolstack::VbdOpen& open) override;
    void stop_vbd(domid_t domid, std::uint32_t devid) override;
    void stop_all(domid_t domid) override;

    Status start_vif(domid_t domid, const toolstack::VifNodes& nodes, const config::NicConfig& nic,
                     std::vector<UniqueFd> taps) override;
    void stop_vif(domid_t domid, std::uint32_t devid) override;

    enum class Kind { vbd, vif };
    // The process serving device `devid` of `domid` (-1: none right now).
    pid_t backend_pid(domid_t domid, Kind kind, std::uint32_t devid);

private:
    // One device's back-end: exactly one of blk and net is set.
    struct Served {
        std::uint64_t key = 0;  // epoll tag: survives the entry's removal
        std::unique_ptr<backend::link::DomainLinkProvider> provider;
        std::unique_ptr<backend::blk::BlkbackHost> blk;
        std::unique_ptr<backend::net::NetbackHost> net;
        int fd() const { return blk ? blk->fd() : net->fd(); }
        void handle() { blk ? blk->handle() : net->handle(); }
        void stop() { blk ? blk->stop() : net->stop(); }
        pid_t pid() const { return blk ? blk->pid() : net->pid(); }
    };
    using Key = std::tuple<domid_t, Kind, std::uint32_t>;
    using ServedMap = std::map<Key, Served>;

    // What start_vbd and start_vif share: the link to the guest and the
    // hooks of the device at `nodes`.
    Result<std::unique_ptr<backend::link::DomainLinkProvider>> link_to(domid_t domid,
                                                                      const toolstack::DeviceNodes& nodes);
    backend::sandbox::BackendHostHooks hooks_for(const toolstack::DeviceNodes& nodes, std::string name);
    void add_locked(Key key, Served s);
    void stop_one(Key key);
    void serve();
    void remove_locked(ServedMap::iterator it);

    GuestEvents guest_events_;
    grant::DomainLookup grant_domains_;
    std::shared_ptr<evtchn::EventChannels> host_events_;
    xenstore::XenstoreService& store_;
    BackendBinaries binaries_;

    std::mutex mu_;
    ServedMap served_;
    std::uint64_t next_key_ = 1;
    UniqueFd epoll_;
    UniqueFd wake_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace xenolith::daemon
