#include "daemon/backend_processes.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "base/log.hpp"
#include "daemon/caller.hpp"
#include "xenstore/scope.hpp"

extern "C" {
#include <xen/io/xenbus.h>
}

namespace xenolith::daemon {

namespace {

// Xen's default maptrack size for a back-end domain (gnttab_max_maptrack_frames).
constexpr unsigned kBackendMaptrackFrames = 1024;
constexpr std::uint64_t kWakeTag = 0;

struct DeviceNumber {
    unsigned long major = 0, minor = 0;
};

// A hotplug script's physical-device ("fe:0", hex major:minor, as Xen's
// block script writes it).
std::optional<DeviceNumber> parse_physical_device(const std::string& physical) {
    auto colon = physical.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == physical.size()) return std::nullopt;
    try {
        std::size_t a = 0, b = 0;
        DeviceNumber dev{std::stoul(physical.substr(0, colon), &a, 16),
                         std::stoul(physical.substr(colon + 1), &b, 16)};
        if (a != colon || b != physical.size() - colon - 1) return std::nullopt;
        return dev;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

// The node to open for a block device number: udev's /dev/block/M:N, or,
// on hosts without udev's links, /dev/<DEVNAME> as sysfs names it. The
// opened file is checked against the number either way.
std::string device_node(DeviceNumber dev) {
    std::string link = fmt::format("/dev/block/{}:{}", dev.major, dev.minor);
    if (::access(link.c_str(), F_OK) == 0) return link;
    std::ifstream uevent(fmt::format("/sys/dev/block/{}:{}/uevent", dev.major, dev.minor));
    for (std::string line; std::getline(uevent, line);)
        if (line.rfind("DEVNAME=", 0) == 0 && line.find("..") == std::string::npos)
            return "/dev/" + line.substr(8);
    return link;
}

}  // namespace

BackendBinaries BackendBinaries::beside_daemon() {
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return {"xenolith-blkback", "xenolith-netback"};
    return {(self.parent_path() / "xenolith-blkback").string(),
            (self.parent_path() / "xenolith-netback").string()};
}

BackendProcesses::BackendProcesses(grant::DomainLookup grant_domains, GuestEvents guest_events,
                             std::shared_ptr<evtchn::EventChannels> host_events,
                             xenstore::XenstoreService& store, BackendBinaries binaries)
    : guest_events_(std::move(guest_events)), grant_domains_(std::move(grant_domains)),
      host_events_(std::move(host_events)), store_(store), binaries_(std::move(binaries)),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)), wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kWakeTag;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev);
    thread_ = std::thread([this] { serve(); });
}

BackendProcesses::~BackendProcesses() {
    stop_ = true;
    std::uint64_t one = 1;
    (void)::write(wake_.get(), &one, sizeof one);
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(mu_);
    while (!served_.empty()) remove_locked(served_.begin());
}

Status BackendProcesses::start_vbd(domid_t domid, const toolstack::VbdNodes& nodes,
                                const config::DiskConfig& disk, const toolstack::VbdOpen& open) {
    const std::string what = fmt::format("disk '{}'", disk.vdev);
    if (disk.format != config::DiskFormat::raw && disk.format != config::DiskFormat::empty)
        return make_error(fmt::format(
            "{}: format {} is not supported: xenolith's block back-end serves raw images and "
            "block devices (convert with: qemu-img convert -O raw)",
            what, config::to_string(disk.format)));
    const bool empty = !disk.target || disk.target->empty() || disk.format == config::DiskFormat::empty;
    if (empty && !disk.is_cdrom) return make_error(fmt::format("{}: no target", what));

    // The disk, opened with the rights of whoever named it: a guest never
    // gets a disk its owner could not open.
    UniqueFd fd;
    if (!empty) {
        std::string path = *disk.target;
        std::optional<DeviceNumber> physical;
        if (open.physical_device) {
            auto dev = parse_physical_device(*open.physical_device);
            if (!dev)
                return make_error(fmt::format("{}: hotplug script's physical-device '{}' is not "
                                              "major:minor",
                                              what, *open.physical_device));
            path = device_node(*dev);
            physical = dev;
        }
        ActAsCaller as(open.as ? &*open.as : nullptr);
        if (!as.ok()) return make_error(fmt::format("{}: cannot take the requester's identity", what));
        const bool writable = disk.readwrite && !disk.is_cdrom;
        fd.reset(::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY));
        if (!fd.valid()) return make_error(fmt::format("{}: {}: {}", what, path, std::strerror(errno)));
        struct stat st{};
        if (physical && (::fstat(fd.get(), &st) != 0 || !S_ISBLK(st.st_mode) ||
                         st.st_rdev != makedev(physical->major, physical->minor)))
            return make_error(fmt::format("{}: {} is not block device {:x}:{:x}", what, path,
                                          physical->major, physical->minor));
    }
    UniqueFd binary(::open(binaries_.blkback.c_str(), O_RDONLY | O_CLOEXEC));
    if (!binary.valid())
        return make_error(
            fmt::format("{}: block back-end {}: {}", what, binaries_.blkback, std::strerror(errno)));
    auto provider = link_to(domid, nodes);
    if (!provider) return make_error(fmt::format("{}: {}", what, provider.error().what));

    backend::blk::BlkbackArgs args;
    args.frontend = domid;
    args.devid = nodes.devid;
    args.backend_path = nodes.backend_path;
    args.frontend_path = nodes.frontend_path;
    args.readonly = !disk.readwrite;
    args.cdrom = disk.is_cdrom;
    args.direct = disk.direct_io_safe;
    args.has_disk = !empty;

    const Key key{domid, Kind::vbd, nodes.devid};
    std::lock_guard lock(mu_);
    if (served_.count(key)) return make_error(fmt::format("{}: already served", what));
    auto host = backend::blk::BlkbackHost::start(args, std::move(binary), std::move(fd), **provider,
                                                 hooks_for(nodes, backend::blk::blkback_name(args)));
    if (!host) return make_error(fmt::format("{}: {}", what, host.error().what));
    Served s;
    s.provider = std::move(provider).value();
    s.blk = std::move(host).value();
    add_locked(key, std::move(s));
    return ok_status();
}

Status BackendProcesses::start_vif(domid_t domid, const toolstack::VifNodes& nodes,
                                   const config::NicConfig& nic, std::vector<UniqueFd> taps) {
    const std::string what = fmt::format("vif {}", nic.devid);
    UniqueFd binary(::open(binaries_.netback.c_str(), O_RDONLY | O_CLOEXEC));
    if (!binary.valid())
        return make_error(
            fmt::format("{}: network back-end {}: {}", what, binaries_.netback, std::strerror(errno)));
    auto provider = link_to(domid, nodes);
    if (!provider) return make_error(fmt::format("{}: {}", what, provider.error().what));

    backend::net::NetbackArgs args;
    args.frontend = domid;
    args.devid = nodes.devid;
    args.backend_path = nodes.backend_path;
    args.frontend_path = nodes.frontend_path;
    // The back-end offers as many queues as it is handed TAP queues.
    args.queues = static_cast<unsigned>(taps.size());

    const Key key{domid, Kind::vif, nodes.devid};
    std::lock_guard lock(mu_);
    if (served_.count(key)) return make_error(fmt::format("{}: already served", what));
    auto host = backend::net::NetbackHost::start(args, std::move(binary), std::move(taps), **provider,
                                                 hooks_for(nodes, backend::net::netback_name(args)));
    if (!host) return make_error(fmt::format("{}: {}", what, host.error().what));
    Served s;
    s.provider = std::move(provider).value();
    s.net = std::move(host).value();
    add_locked(key, std::move(s));
    return ok_status();
}

Result<std::unique_ptr<backend::link::DomainLinkProvider>> BackendProcesses::link_to(
    domid_t domid, const toolstack::DeviceNodes& nodes) {
    auto guest_events = guest_events_(domid);
    if (!guest_events) return make_error(fmt::format("domain {} is gone", domid));
    return backend::link::DomainLinkProvider::create(nodes.backend_domid, domid, grant_domains_,
                                                     kBackendMaptrackFrames, *host_events_,
                                                     std::move(guest_events));
}

backend::sandbox::BackendHostHooks BackendProcesses::hooks_for(const toolstack::DeviceNodes& nodes,
                                                               std::string name) {
    // The back-end's whole view of xenstore: its own directory and its
    // front end's (xenstore/scope.hpp).
    xenstore::Scope scope{nodes.backend_domid, {nodes.backend_path}, {nodes.frontend_path}};
    const std::string state_path = nodes.backend_path + "/state";
    backend::sandbox::BackendHostHooks hooks;
    hooks.connect_xenstore = [this, scope] { return store_.connect_scoped(scope); };
    hooks.gone = [this, state_path, name = std::move(name)](const backend::sandbox::ExitInfo& e,
                                                           bool again) {
        log::warn("{}: {}{}", name, e.describe(), again ? "; relaunching" : "; not relaunched");
        // The front end must see the device Closed rather than wait on a
        // ring nobody serves (XenbusStateClosed).
        (void)store_.write(state_path, std::to_string(static_cast<int>(XenbusStateClosed)));
    };
    return hooks;
}

void BackendProcesses::add_locked(Key key, Served s) {
    s.key = next_key_++;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = s.key;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, s.fd(), &ev);
    served_.emplace(key, std::move(s));
}

void BackendProcesses::remove_locked(ServedMap::iterator it) {
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second.fd(), nullptr);
    it->second.stop();  // killed and reaped, its pins and ports released
    it->second.blk.reset();
    it->second.net.reset();  // the TAP fds it held are closed with it
    served_.erase(it);       // the provider last: the host released through it
}

void BackendProcesses::stop_one(Key key) {
    std::lock_guard lock(mu_);
    auto it = served_.find(key);
    if (it != served_.end()) remove_locked(it);
}

void BackendProcesses::stop_vbd(domid_t domid, std::uint32_t devid) { stop_one({domid, Kind::vbd, devid}); }

void BackendProcesses::stop_vif(domid_t domid, std::uint32_t devid) { stop_one({domid, Kind::vif, devid}); }

void BackendProcesses::stop_all(domid_t domid) {
    std::lock_guard lock(mu_);
    auto it = served_.lower_bound({domid, Kind::vbd, 0});
    while (it != served_.end() && std::get<0>(it->first) == domid) remove_locked(it++);
}

pid_t BackendProcesses::backend_pid(domid_t domid, Kind kind, std::uint32_t devid) {
    std::lock_guard lock(mu_);
    auto it = served_.find({domid, kind, devid});
    return it == served_.end() ? -1 : it->second.pid();
}

void BackendProcesses::serve() {
    epoll_event evs[32];
    while (!stop_.load()) {
        int n = ::epoll_wait(epoll_.get(), evs, 32, 1000);
        if (n < 0 && errno != EINTR) {
            log::warn("device back-ends: epoll_wait: {}", std::strerror(errno));
            return;
        }
        std::lock_guard lock(mu_);
        for (int i = 0; i < n; ++i) {
            if (evs[i].data.u64 == kWakeTag) {
                std::uint64_t v;
                (void)::read(wake_.get(), &v, sizeof v);
                continue;
            }
            // The entry may have been removed between the wait and the lock.
            for (auto& [key, s] : served_)
                if (s.key == evs[i].data.u64) {
                    s.handle();
                    break;
                }
        }
    }
}

}  // namespace xenolith::daemon
