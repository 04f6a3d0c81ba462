#include "backend/net/netback_host.hpp"

#include <fmt/format.h>

namespace xenolith::backend::net {

static_assert(kNetLinkFd == sandbox::kLinkFd && kNetXenstoreFd == sandbox::kXenstoreFd &&
              kFirstTapFd == sandbox::kFirstDeviceFd);

Result<std::unique_ptr<NetbackHost>> NetbackHost::start(NetbackArgs args, UniqueFd binary,
                                                        std::vector<UniqueFd> taps,
                                                        link::LinkProvider& provider, NetbackHostHooks hooks,
                                                        sandbox::RestartPolicy policy) {
    if (args.queues == 0 || args.queues > kMaxTapQueues || taps.size() != args.queues)
        return make_error(fmt::format("{}: {} TAP fds for --queues={} (1 to {})", netback_name(args), taps.size(),
                                      args.queues, kMaxTapQueues));
    for (const UniqueFd& t : taps)
        if (!t.valid()) return make_error(fmt::format("{}: an invalid TAP fd", netback_name(args)));
    std::unique_ptr<NetbackHost> h(new NetbackHost(std::move(args)));
    NetbackHost* self = h.get();
    sandbox::BackendLaunchSpec spec;
    spec.name = netback_name(h->args_);
    spec.binary = std::move(binary);
    spec.device_fds = std::move(taps);
    spec.argv = [self](bool relaunch) {
        if (relaunch) self->args_.relaunched = true;
        return to_argv(self->args_);
    };
    auto host = sandbox::BackendHost::start(std::move(spec), provider, std::move(hooks), policy);
    if (!host) return host.error();
    h->host_ = std::move(host).value();
    return h;
}

}  // namespace xenolith::backend::net
