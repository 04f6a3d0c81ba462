#include "backend/sandbox/backend_host.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace xenolith::backend::sandbox {

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

BackendHost::BackendHost(BackendLaunchSpec spec, link::LinkProvider& provider, BackendHostHooks hooks)
    : spec_(std::move(spec)), provider_(provider), hooks_(std::move(hooks)),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)) {}

Result<std::unique_ptr<BackendHost>> BackendHost::start(BackendLaunchSpec spec, link::LinkProvider& provider,
                                                        BackendHostHooks hooks, RestartPolicy policy) {
    if (!spec.argv || !hooks.connect_xenstore)
        return make_error(fmt::format("{}: no argv or xenstore connector", spec.name));
    std::unique_ptr<BackendHost> h(new BackendHost(std::move(spec), provider, std::move(hooks)));
    if (!h->epoll_.valid()) return make_error(fmt::format("{}: epoll: {}", h->spec_.name, std::strerror(errno)));
    BackendHost* self = h.get();
    h->supervisor_ = std::make_unique<Supervisor>(
        [self] { return self->launch(); },
        [self](const ExitInfo& e, bool will_restart) {
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

BackendHost::~BackendHost() { stop(); }

Result<BackendProcess> BackendHost::launch() {
    const std::string& name = spec_.name;
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
        return make_error(fmt::format("{}: socketpair: {}", name, std::strerror(errno)));
    UniqueFd ours(pair[0]), theirs(pair[1]);
    auto xs = hooks_.connect_xenstore();
    if (!xs) return make_error(fmt::format("{}: xenstore: {}", name, xs.error().what));

    SandboxSpec sandbox;
    sandbox.name = name;
    sandbox.fds = {theirs.get(), xs->get()};
    for (const UniqueFd& fd : spec_.device_fds) sandbox.fds.push_back(fd.get());
    auto proc = BackendProcess::exec(sandbox, spec_.binary.get(), spec_.argv(launched_once_));
    if (!proc) return proc.error();
    // Every later launch replaces a process that died serving the device.
    launched_once_ = true;

    drop_link();
    link_ = std::make_unique<link::LinkServer>(ours.release(), provider_);
    watch(epoll_.get(), link_->fd(), kLinkTag);
    return proc;
}

void BackendHost::drop_link() {
    if (!link_) return;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, link_->fd(), nullptr);
    link_.reset();  // releases every pin and port it still holds
}

void BackendHost::handle() {
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

void BackendHost::stop() {
    if (supervisor_) supervisor_->stop();
    drop_link();
}

pid_t BackendHost::pid() const {
    const auto* p = supervisor_->process();
    return p ? p->pid() : -1;
}

}  // namespace xenolith::backend::sandbox
