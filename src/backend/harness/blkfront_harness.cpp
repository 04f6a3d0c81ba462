#include "backend/harness/blkfront_harness.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "backend/blk/blkback_run.hpp"
#include "xenstore/scope.hpp"

namespace xenolith::backend::harness {

namespace {

std::string state_value(XenbusState s) { return std::to_string(static_cast<int>(s)); }

}  // namespace

Result<std::unique_ptr<BlkfrontHarness>> BlkfrontHarness::start(const HarnessOptions& opts) {
    std::unique_ptr<BlkfrontHarness> h(new BlkfrontHarness());
    h->opts_ = opts;
    h->backend_path_ = fmt::format("/local/domain/0/backend/vbd/{}/{}", opts.frontend, opts.devid);
    h->frontend_path_ = fmt::format("/local/domain/{}/device/vbd/{}", opts.frontend, opts.devid);

    auto store = xenstore::XenstoreService::start(xenstore::ServiceOptions{}, nullptr);
    if (!store) return store.error();
    h->store_ = std::move(store).value();
    h->guest_ = std::make_unique<LocalGrantTable>(opts.frontend, 0, opts.guest_pages, opts.guest_pages);
    for (GrantRef r = 0; r < opts.guest_pages; ++r) h->guest_->grant(r, r, false);
    h->provider_ = std::make_unique<link::LocalLinkProvider>(*h->guest_);
    if (auto st = h->write_device_nodes(opts); !st) return st.error();

    UniqueFd disk(::open(opts.disk.c_str(), (opts.readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC));
    if (!disk.valid()) return make_error(fmt::format("{}: {}", opts.disk, std::strerror(errno)));

    blk::BlkbackArgs args;
    args.frontend = opts.frontend;
    args.devid = opts.devid;
    args.backend_path = h->backend_path_;
    args.frontend_path = h->frontend_path_;
    args.readonly = opts.readonly;
    args.direct = opts.direct;
    args.max_queues = opts.max_queues;
    xenstore::Scope scope{0, {h->backend_path_}, {h->frontend_path_}};
    BlkfrontHarness* self = h.get();

    if (opts.in_process) {
        int pair[2];
        if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
            return make_error(fmt::format("socketpair: {}", std::strerror(errno)));
        auto xs = h->store_->connect_scoped(scope);
        if (!xs) {
            ::close(pair[0]);
            ::close(pair[1]);
            return xs.error();
        }
        h->link_ = std::make_unique<link::LinkServer>(pair[0], *h->provider_);
        int xs_fd = xs->release(), disk_fd = disk.release(), be = pair[1];
        h->in_process_ = std::thread([args, be, xs_fd, disk_fd] {
            std::string why;
            blk::run_blkback(args, be, xs_fd, disk_fd, why);
        });
    } else {
        UniqueFd binary(::open(opts.binary.c_str(), O_RDONLY | O_CLOEXEC));
        if (!binary.valid())
            return make_error(fmt::format("{}: {}", opts.binary, std::strerror(errno)));
        blk::BlkbackHostHooks hooks;
        hooks.connect_xenstore = [self, scope] { return self->store_->connect_scoped(scope); };
        hooks.gone = [self](const sandbox::ExitInfo& e, bool again) {
            ++self->deaths_;
            std::fprintf(stderr, "blkfront harness: back-end %s%s\n", e.describe().c_str(),
                         again ? "; relaunching" : "");
            // What xenolithd does: the device is Closed, so the front end
            // sees errors rather than waiting on a dead ring.
            self->store_->write(self->backend_path_ + "/state", state_value(XenbusStateClosed));
        };
        auto host = blk::BlkbackHost::start(args, std::move(binary), std::move(disk), *h->provider_,
                                            std::move(hooks), opts.restart);
        if (!host) return host.error();
        h->host_ = std::move(host).value();
    }
    h->server_ = std::thread([self] { self->serve(); });
    return h;
}

BlkfrontHarness::~BlkfrontHarness() {
    stop_ = true;
    if (server_.joinable()) server_.join();
    host_.reset();  // kills and reaps the process, releases its link
    // An in-process back-end: its link closes first (the unmaps it sends
    // while tearing down must fail, not fill a socket nobody reads), then
    // its xenstore, which ends it.
    link_.reset();
    if (store_) store_->stop();
    if (in_process_.joinable()) in_process_.join();
}

Status BlkfrontHarness::write_device_nodes(const HarnessOptions& o) {
    const std::string& be = backend_path_;
    const std::string& fe = frontend_path_;
    // The keys libxl writes for a phy vbd (toolstack/daemon/vbd_nodes.hpp).
    const std::pair<std::string, std::string> nodes[] = {
        {be + "/frontend", fe},
        {be + "/frontend-id", std::to_string(o.frontend)},
        {be + "/params", o.disk},
        {be + "/type", "phy"},
        {be + "/online", "1"},
        {be + "/removable", "0"},
        {be + "/bootable", "1"},
        {be + "/dev", "xvda"},
        {be + "/mode", o.readonly ? "r" : "w"},
        {be + "/device-type", "disk"},
        {be + "/discard-enable", o.readonly ? "0" : "1"},
        {be + "/state", state_value(XenbusStateInitialising)},
        {fe + "/backend", be},
        {fe + "/backend-id", "0"},
        {fe + "/virtual-device", std::to_string(o.devid)},
        {fe + "/device-type", "disk"},
        {fe + "/state", state_value(XenbusStateInitialising)},
    };
    for (const auto& [path, value] : nodes)
        if (auto e = store_->write(path, value); e != xenstore::XsErr::ok)
            return make_error(fmt::format("xenstore write {}: {}", path, xenstore::error_name(e)));
    return ok_status();
}

void BlkfrontHarness::serve() {
    while (!stop_.load()) {
        int fd = host_ ? host_->fd() : link_->fd();
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 20) <= 0) continue;
        std::lock_guard lock(host_mu_);
        if (host_)
            host_->handle();
        else
            link_->handle();
    }
}

std::optional<std::string> BlkfrontHarness::read(const std::string& path) const {
    return store_->read(path);
}

void BlkfrontHarness::write(const std::string& path, const std::string& value) {
    store_->write(path, value);
}

void BlkfrontHarness::set_frontend_state(XenbusState s) {
    store_->write(frontend_path_ + "/state", state_value(s));
}

bool BlkfrontHarness::wait_backend_state(XenbusState want, std::chrono::milliseconds timeout) {
    const std::string value = state_value(want);
    return store_->wait_for_node(
        backend_path_ + "/state", [&](const std::optional<std::string>& v) { return v == value; },
        std::chrono::steady_clock::now() + timeout);
}

Status BlkfrontHarness::connect(unsigned order, bool persistent, std::chrono::milliseconds timeout,
                                unsigned queues) {
    if (queues == 0) return make_error("no queue to connect");
    if (!wait_backend_state(XenbusStateInitWait, timeout))
        return make_error(fmt::format("back-end not in InitWait (state {})",
                                      read(backend_path_ + "/state").value_or("none")));
    sectors_ = std::stoull(read(backend_path_ + "/sectors").value_or("0"));
    const std::size_t pages = std::size_t{1} << order;
    std::memset(guest_->page(0), 0, queues * pages * kXenPageSize);
    rings_.clear();
    ports_.clear();
    const std::string& fe = frontend_path_;
    if (queues > 1) write(fe + "/multi-queue-num-queues", std::to_string(queues));
    if (order > 0) write(fe + "/ring-page-order", std::to_string(order));
    for (unsigned q = 0; q < queues; ++q) {
        const std::size_t first = q * pages;
        rings_.push_back(std::make_unique<blk::FrontRing>(guest_->page(first), pages, blk::Abi::x86_64));
        ports_.push_back(provider_->alloc_unbound());
        // blkfront writes the flat keys for one queue, queue-N/ for more.
        const std::string dir = queues == 1 ? fe : fmt::format("{}/queue-{}", fe, q);
        if (order == 0) {
            write(dir + "/ring-ref", std::to_string(first));
        } else {
            for (std::size_t i = 0; i < pages; ++i)
                write(fmt::format("{}/ring-ref{}", dir, i), std::to_string(first + i));
        }
        write(dir + "/event-channel", std::to_string(ports_.back()));
    }
    write(fe + "/protocol", "x86_64-abi");
    write(fe + "/feature-persistent", persistent ? "1" : "0");
    set_frontend_state(XenbusStateInitialised);
    if (!wait_backend_state(XenbusStateConnected, timeout))
        return make_error(fmt::format("back-end did not connect (state {}, error '{}')",
                                      read(backend_path_ + "/state").value_or("none"),
                                      read(backend_path_ + "/error").value_or("")));
    set_frontend_state(XenbusStateConnected);
    return ok_status();
}

Status BlkfrontHarness::disconnect(std::chrono::milliseconds timeout) {
    set_frontend_state(XenbusStateClosing);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    bool closing = store_->wait_for_node(
        backend_path_ + "/state",
        [](const std::optional<std::string>& v) {
            return v == state_value(XenbusStateClosing) || v == state_value(XenbusStateClosed);
        },
        deadline);
    set_frontend_state(XenbusStateClosed);
    if (!closing) return make_error("back-end did not close");
    return ok_status();
}

void BlkfrontHarness::push(unsigned q) {
    if (rings_.at(q)->push_requests()) provider_->guest_notify(ports_.at(q));
}

std::vector<Port> BlkfrontHarness::wait_events(std::chrono::milliseconds timeout) {
    pollfd p{provider_->guest_fd(), POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(timeout.count()));
    std::vector<Port> got;
    while (auto port = provider_->guest_pending()) got.push_back(*port);
    return got;
}

Result<std::int16_t> BlkfrontHarness::io(std::uint8_t op, std::uint64_t sector, unsigned frame,
                                         unsigned pages, std::chrono::milliseconds timeout,
                                         unsigned queue) {
    if (queue >= rings_.size()) return make_error(fmt::format("queue {} not connected", queue));
    blk::FrontRing& ring = *rings_[queue];
    if (pages > BLKIF_MAX_SEGMENTS_PER_REQUEST) return make_error("more pages than one request holds");
    blk::Request r;
    r.operation = op;
    r.id = next_id_++;
    r.sector_number = sector;
    r.nr_segments = static_cast<std::uint16_t>(pages);
    for (unsigned i = 0; i < pages; ++i) r.seg[i] = blk::Segment{frame + i, 0, 7};
    ring.queue(r);
    push(queue);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        while (auto rsp = ring.next_response())
            if (rsp->id == r.id) return rsp->status;
        if (ring.final_check_for_responses()) continue;
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline) return make_error(fmt::format("no response to request {}", r.id));
        wait_event(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) + 1ms);
    }
}

pid_t BlkfrontHarness::backend_pid() {
    std::lock_guard lock(host_mu_);
    return host_ ? host_->pid() : -1;
}

unsigned BlkfrontHarness::restarts() {
    std::lock_guard lock(host_mu_);
    return host_ ? host_->restarts() : 0;
}

std::size_t BlkfrontHarness::pins_held() {
    std::lock_guard lock(host_mu_);
    if (host_) return host_->link() ? host_->link()->pins_held() : 0;
    return link_ ? link_->pins_held() : 0;
}

}  // namespace xenolith::backend::harness
