#include "backend/blk/blkback_host.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace xenolith::backend::blk {

namespace {

// epoll tags: which of the two sources woke us.
constexpr std::uint64_t kSupervisorTag = 1;
constexpr std::uint64_t kLinkTag = 2;

void watch(int epoll, int fd, std::uint64_t tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    ::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev);
}

}  // namespace

BlkbackHost::BlkbackHost(BlkbackArgs args, UniqueFd binary, UniqueFd disk,
                         link::LinkProvider& provider, BlkbackHostHooks hooks)
    : args_(std::move(args)), binary_(std::move(binary)), disk_(std::move(disk)),
      provider_(provider), hooks_(std::move(hooks)), epoll_(::epoll_create1(EPOLL_CLOEXEC)) {}

Result<std::unique_ptr<BlkbackHost>> BlkbackHost::start(BlkbackArgs args, UniqueFd binary,
                                                        UniqueFd disk,
                                                        link::LinkProvider& provider,
                                                        BlkbackHostHooks hooks,
                                                        sandbox::RestartPolicy policy) {
    if (args.has_disk != disk.valid())
        return make_error(fmt::format("{}: a disk fd must be given exactly when --no-disk is not",
                                      blkback_name(args)));
    std::unique_ptr<BlkbackHost> h(
        new BlkbackHost(std::move(args), std::move(binary), std::move(disk), provider, std::move(hooks)));
    if (!h->epoll_.valid())
        return make_error(fmt::format("{}: epoll: {}", blkback_name(h->args_), std::strerror(errno)));
    BlkbackHost* self = h.get();
    h->supervisor_ = std::make_unique<sandbox::Supervisor>(
        [self] { return self->launch(); },
        [self](const sandbox::ExitInfo& e, bool will_restart) {
            // Pins and ports first: the guest's memory is free of the dead
            // process before anyone sees the device closed.
            self->drop_link();
            if (self->hooks_.gone) self->hooks_.gone(e, will_restart);
        },
        policy);
    watch(h->epoll_.get(), h->supervisor_->fd(), kSupervisorTag);
    if (auto st = h->supervisor_->start(); !st) {
        h->drop_link();
        return st.error();
    }
    return h;
}

BlkbackHost::~BlkbackHost() { stop(); }

Result<sandbox::BackendProcess> BlkbackHost::launch() {
    const std::string name = blkback_name(args_);
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
        return make_error(fmt::format("{}: socketpair: {}", name, std::strerror(errno)));
    UniqueFd ours(pair[0]), theirs(pair[1]);
    auto xs = hooks_.connect_xenstore();
    if (!xs) return make_error(fmt::format("{}: xenstore: {}", name, xs.error().what));

    sandbox::SandboxSpec spec;
    spec.name = name;
    spec.fds = {theirs.get(), xs->get()};
    if (disk_.valid()) spec.fds.push_back(disk_.get());
    auto proc = sandbox::BackendProcess::exec(spec, binary_.get(), to_argv(args_));
    if (!proc) return proc.error();
    // Every later launch replaces a process that died serving the device.
    args_.relaunched = true;

    drop_link();
    link_ = std::make_unique<link::LinkServer>(ours.release(), provider_);
    watch(epoll_.get(), link_->fd(), kLinkTag);
    return proc;
}

void BlkbackHost::drop_link() {
    if (!link_) return;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, link_->fd(), nullptr);
    link_.reset();  // releases every pin and port it still holds
}

void BlkbackHost::handle() {
    epoll_event evs[2];
    int n = ::epoll_wait(epoll_.get(), evs, 2, 0);
    for (int i = 0; i < n; ++i) {
        if (evs[i].data.u64 == kLinkTag && link_) {
            link_->handle();
        } else if (evs[i].data.u64 == kSupervisorTag) {
            supervisor_->handle();
        }
    }
    // A link whose back-end closed it has released everything already;
    // the supervisor's pidfd reports the death itself.
}

void BlkbackHost::stop() {
    if (supervisor_) supervisor_->stop();
    drop_link();
}

pid_t BlkbackHost::pid() const {
    const auto* p = supervisor_->process();
    return p ? p->pid() : -1;
}

}  // namespace xenolith::backend::blk
