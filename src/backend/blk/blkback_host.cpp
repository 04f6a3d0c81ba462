#include "backend/blk/blkback_host.hpp"

#include <fmt/format.h>

namespace xenolith::backend::blk {

static_assert(kLinkFd == sandbox::kLinkFd && kXenstoreFd == sandbox::kXenstoreFd &&
              kDiskFd == sandbox::kFirstDeviceFd);

Result<std::unique_ptr<BlkbackHost>> BlkbackHost::start(BlkbackArgs args, UniqueFd binary,
                                                        UniqueFd disk,
                                                        link::LinkProvider& provider,
                                                        BlkbackHostHooks hooks,
                                                        sandbox::RestartPolicy policy) {
    if (args.has_disk != disk.valid())
        return make_error(fmt::format("{}: a disk fd must be given exactly when --no-disk is not",
                                      blkback_name(args)));
    std::unique_ptr<BlkbackHost> h(new BlkbackHost(std::move(args)));
    BlkbackHost* self = h.get();
    sandbox::BackendLaunchSpec spec;
    spec.name = blkback_name(h->args_);
    spec.binary = std::move(binary);
    if (disk.valid()) spec.device_fds.push_back(std::move(disk));
    spec.argv = [self](bool relaunch) {
        if (relaunch) self->args_.relaunched = true;
        return to_argv(self->args_);
    };
    auto host = sandbox::BackendHost::start(std::move(spec), provider, std::move(hooks), policy);
    if (!host) return host.error();
    h->host_ = std::move(host).value();
    return h;
}

}  // namespace xenolith::backend::blk
