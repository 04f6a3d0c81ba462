#include "daemon/block_backends.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

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

// A hotplug script's physical-device ("fe:0", hex major:minor, as Xen's
// block script writes it) as the device node to open.
std::optional<std::string> device_node(const std::string& physical) {
    auto colon = physical.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == physical.size()) return std::nullopt;
    try {
        std::size_t a = 0, b = 0;
        unsigned long major = std::stoul(physical.substr(0, colon), &a, 16);
        unsigned long minor = std::stoul(physical.substr(colon + 1), &b, 16);
        if (a != colon || b != physical.size() - colon - 1) return std::nullopt;
        return fmt::format("/dev/block/{}:{}", major, minor);
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

}  // namespace

std::string BlockBackends::default_binary() {
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return "xenolith-blkback";
    return (self.parent_path() / "xenolith-blkback").string();
}

BlockBackends::BlockBackends(grant::DomainLookup grant_domains, GuestEvents guest_events,
                             std::shared_ptr<evtchn::EventChannels> host_events,
                             xenstore::XenstoreService& store, std::string binary)
    : guest_events_(std::move(guest_events)), grant_domains_(std::move(grant_domains)),
      host_events_(std::move(host_events)), store_(store), binary_(std::move(binary)),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)), wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kWakeTag;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev);
    thread_ = std::thread([this] { serve(); });
}

BlockBackends::~BlockBackends() {
    stop_ = true;
    std::uint64_t one = 1;
    (void)::write(wake_.get(), &one, sizeof one);
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(mu_);
    while (!served_.empty()) remove_locked(served_.begin());
}

Status BlockBackends::start_vbd(domid_t domid, const toolstack::VbdNodes& nodes,
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
        if (open.physical_device) {
            auto node = device_node(*open.physical_device);
            if (!node)
                return make_error(fmt::format("{}: hotplug script's physical-device '{}' is not "
                                              "major:minor",
                                              what, *open.physical_device));
            path = *node;
        }
        ActAsCaller as(open.as ? &*open.as : nullptr);
        if (!as.ok()) return make_error(fmt::format("{}: cannot take the requester's identity", what));
        const bool writable = disk.readwrite && !disk.is_cdrom;
        fd.reset(::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY));
        if (!fd.valid()) return make_error(fmt::format("{}: {}: {}", what, path, std::strerror(errno)));
    }
    UniqueFd binary(::open(binary_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!binary.valid())
        return make_error(fmt::format("{}: block back-end {}: {}", what, binary_, std::strerror(errno)));

    auto guest_events = guest_events_(domid);
    if (!guest_events) return make_error(fmt::format("{}: domain {} is gone", what, domid));
    auto provider = backend::link::DomainLinkProvider::create(
        nodes.backend_domid, domid, grant_domains_, kBackendMaptrackFrames, *host_events_,
        std::move(guest_events));
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

    // The back-end's whole view of xenstore: its own directory and its
    // front end's (xenstore/scope.hpp).
    xenstore::Scope scope{nodes.backend_domid, {nodes.backend_path}, {nodes.frontend_path}};
    const std::string state_path = nodes.backend_path + "/state";
    const std::string name = backend::blk::blkback_name(args);
    backend::blk::BlkbackHostHooks hooks;
    hooks.connect_xenstore = [this, scope] { return store_.connect_scoped(scope); };
    hooks.gone = [this, state_path, name](const backend::sandbox::ExitInfo& e, bool again) {
        log::warn("{}: {}{}", name, e.describe(), again ? "; relaunching" : "; not relaunched");
        // The front end must see the device Closed rather than wait on a
        // ring nobody serves (XenbusStateClosed).
        (void)store_.write(state_path, std::to_string(static_cast<int>(XenbusStateClosed)));
    };

    std::lock_guard lock(mu_);
    const auto key = std::make_pair(domid, nodes.devid);
    if (served_.count(key)) return make_error(fmt::format("{}: already served", what));
    auto host = backend::blk::BlkbackHost::start(args, std::move(binary), std::move(fd), **provider,
                                                 std::move(hooks));
    if (!host) return make_error(fmt::format("{}: {}", what, host.error().what));
    Served s;
    s.key = next_key_++;
    s.provider = std::move(provider).value();
    s.host = std::move(host).value();
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = s.key;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, s.host->fd(), &ev);
    served_.emplace(key, std::move(s));
    return ok_status();
}

void BlockBackends::remove_locked(std::map<std::pair<domid_t, std::uint32_t>, Served>::iterator it) {
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second.host->fd(), nullptr);
    it->second.host->stop();  // killed and reaped, its pins and ports released
    it->second.host.reset();
    served_.erase(it);  // the provider last: the host released through it
}

void BlockBackends::stop_vbd(domid_t domid, std::uint32_t devid) {
    std::lock_guard lock(mu_);
    auto it = served_.find({domid, devid});
    if (it != served_.end()) remove_locked(it);
}

Status BlockBackends::start_vif(domid_t, const toolstack::VifNodes&, const config::NicConfig& nic,
                                std::vector<UniqueFd>) {
    return make_error(fmt::format("vif {}: network back-ends are not available", nic.devid));
}

void BlockBackends::stop_vif(domid_t, std::uint32_t) {}

void BlockBackends::stop_all(domid_t domid) {
    std::lock_guard lock(mu_);
    auto it = served_.lower_bound({domid, 0});
    while (it != served_.end() && it->first.first == domid) remove_locked(it++);
}

pid_t BlockBackends::backend_pid(domid_t domid, std::uint32_t devid) {
    std::lock_guard lock(mu_);
    auto it = served_.find({domid, devid});
    return it == served_.end() ? -1 : it->second.host->pid();
}

void BlockBackends::serve() {
    epoll_event evs[32];
    while (!stop_.load()) {
        int n = ::epoll_wait(epoll_.get(), evs, 32, 1000);
        if (n < 0 && errno != EINTR) {
            log::warn("block back-ends: epoll_wait: {}", std::strerror(errno));
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
                    s.host->handle();
                    break;
                }
        }
    }
}

}  // namespace xenolith::daemon
