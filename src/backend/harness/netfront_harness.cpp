#include "backend/harness/netfront_harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <pthread.h>
#include <time.h>

#include <fmt/format.h>

#include "backend/net/netback_run.hpp"
#include "xenstore/scope.hpp"

namespace xenolith::backend::harness {

namespace {

constexpr unsigned kLayoutQueues = 8;  // queues the guest memory has room for
constexpr unsigned kRingSize = 256;    // NET_TX_RING_SIZE, NET_RX_RING_SIZE
constexpr std::size_t kDataBase = 2 * 16;
constexpr std::size_t kPagesPerQueue = 2 * kRingSize;
constexpr std::size_t kGuestPages = kDataBase + kLayoutQueues * kPagesPerQueue;

std::string state_value(XenbusState s) { return std::to_string(static_cast<int>(s)); }

std::atomic<unsigned> g_taps{0};

}  // namespace

std::size_t NetfrontHarness::tx_page(unsigned q, std::uint32_t slot) const {
    return kDataBase + q * kPagesPerQueue + (slot & (kRingSize - 1));
}
std::size_t NetfrontHarness::rx_page(unsigned q, std::uint32_t id) const {
    return kDataBase + q * kPagesPerQueue + kRingSize + (id & (kRingSize - 1));
}

Result<std::unique_ptr<NetfrontHarness>> NetfrontHarness::start(const NetHarnessOptions& opts) {
    std::unique_ptr<NetfrontHarness> h(new NetfrontHarness());
    h->opts_ = opts;
    h->backend_path_ = fmt::format("/local/domain/0/backend/vif/{}/{}", opts.frontend, opts.devid);
    h->frontend_path_ = fmt::format("/local/domain/{}/device/vif/{}", opts.frontend, opts.devid);
    h->tap_name_ = !opts.tap_name.empty() ? opts.tap_name : fmt::format("xnh{}.{}", ::getpid(), g_taps++);
    h->host_buf_.resize(net::kVnetHeaderSize + 70000);

    auto store = xenstore::XenstoreService::start(xenstore::ServiceOptions{}, nullptr);
    if (!store) return store.error();
    h->store_ = std::move(store).value();
    h->guest_ = std::make_unique<LocalGrantTable>(opts.frontend, 0, kGuestPages, kGuestPages);
    for (GrantRef r = 0; r < kGuestPages; ++r) h->guest_->grant(r, r, false);
    h->provider_ = std::make_unique<link::LocalLinkProvider>(*h->guest_);
    if (auto st = h->write_device_nodes(); !st) return st.error();

    // What xenolithd does before launching: the TAP (and the vif script,
    // here just "up").
    auto taps = net::open_tap(h->tap_name_, opts.tap_queues);
    if (!taps) return taps.error();
    if (auto st = h->open_host_side(); !st) return st.error();

    net::NetbackArgs args;
    args.frontend = opts.frontend;
    args.devid = opts.devid;
    args.backend_path = h->backend_path_;
    args.frontend_path = h->frontend_path_;
    args.queues = opts.tap_queues;
    args.csum_offload = opts.csum_offload;
    xenstore::Scope scope{0, {h->backend_path_}, {h->frontend_path_}};
    NetfrontHarness* self = h.get();

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
        std::vector<int> tap_fds;
        for (UniqueFd& t : *taps) tap_fds.push_back(t.release());
        int xs_fd = xs->release(), be = pair[1];
        h->in_process_ = std::thread([args, be, xs_fd, tap_fds] {
            std::string why;
            net::run_netback(args, be, xs_fd, tap_fds, why);
        });
    } else {
        UniqueFd binary(::open(opts.binary.c_str(), O_RDONLY | O_CLOEXEC));
        if (!binary.valid()) return make_error(fmt::format("{}: {}", opts.binary, std::strerror(errno)));
        net::NetbackHostHooks hooks;
        hooks.connect_xenstore = [self, scope] { return self->store_->connect_scoped(scope); };
        hooks.gone = [self](const sandbox::ExitInfo& e, bool again) {
            ++self->deaths_;
            std::fprintf(stderr, "netfront harness: back-end %s%s\n", e.describe().c_str(),
                         again ? "; relaunching" : "");
            // What xenolithd does: the vif is Closed, so the front end
            // stops using a dead ring.
            self->store_->write(self->backend_path_ + "/state", state_value(XenbusStateClosed));
        };
        auto host = net::NetbackHost::start(args, std::move(binary), std::move(*taps), *h->provider_,
                                            std::move(hooks), opts.restart);
        if (!host) return host.error();
        h->host_ = std::move(host).value();
    }
    h->server_ = std::thread([self] { self->serve(); });
    return h;
}

NetfrontHarness::~NetfrontHarness() {
    stop_ = true;
    if (server_.joinable()) server_.join();
    host_.reset();
    link_.reset();
    if (store_) store_->stop();
    if (in_process_.joinable()) in_process_.join();
}

Status NetfrontHarness::write_device_nodes() {
    const std::string& be = backend_path_;
    const std::string& fe = frontend_path_;
    const std::string mac = fmt::format("00:16:3e:00:{:02x}:{:02x}", opts_.frontend & 0xff, opts_.devid & 0xff);
    // The keys libxl writes for a vif (toolstack/daemon/vif_nodes.hpp); the
    // script has run (hotplug-status=connected) before the back-end starts.
    std::vector<std::pair<std::string, std::string>> nodes = {
        {be + "/frontend", fe},
        {be + "/frontend-id", std::to_string(opts_.frontend)},
        {be + "/online", "1"},
        {be + "/state", state_value(XenbusStateInitialising)},
        {be + "/script", "vif-bridge"},
        {be + "/mac", mac},
        {be + "/bridge", "xenbr0"},
        {be + "/handle", std::to_string(opts_.devid)},
        {be + "/type", "vif"},
        {be + "/hotplug-status", "connected"},
        {fe + "/backend", be},
        {fe + "/backend-id", "0"},
        {fe + "/handle", std::to_string(opts_.devid)},
        {fe + "/mac", mac},
        {fe + "/state", state_value(XenbusStateInitialising)},
    };
    if (!opts_.rate.empty()) nodes.emplace_back(be + "/rate", opts_.rate);
    for (const auto& [path, value] : nodes)
        if (auto e = store_->write(path, value); e != xenstore::XsErr::ok)
            return make_error(fmt::format("xenstore write {}: {}", path, xenstore::error_name(e)));
    return ok_status();
}

// The TAP up (without IPv6, whose solicitations would land in the guest's
// buffers) and an AF_PACKET socket on it, with the vnet header.
Status NetfrontHarness::open_host_side() {
    std::ofstream(fmt::format("/proc/sys/net/ipv6/conf/{}/disable_ipv6", tap_name_)) << "1";
    UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!s.valid()) return make_error(fmt::format("socket: {}", std::strerror(errno)));
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, tap_name_.c_str(), IFNAMSIZ - 1);
    if (::ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0)
        return make_error(fmt::format("{}: SIOCGIFFLAGS: {}", tap_name_, std::strerror(errno)));
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) != 0)
        return make_error(fmt::format("{}: up: {}", tap_name_, std::strerror(errno)));
    ifindex_ = static_cast<int>(::if_nametoindex(tap_name_.c_str()));
    packet_.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL)));
    if (!packet_.valid()) return make_error(fmt::format("AF_PACKET: {}", std::strerror(errno)));
    int one = 1, big = 32 << 20;
    ::setsockopt(packet_.get(), SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one);
    ::setsockopt(packet_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
    ::setsockopt(packet_.get(), SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = ifindex_;
    if (::bind(packet_.get(), reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0)
        return make_error(fmt::format("{}: bind AF_PACKET: {}", tap_name_, std::strerror(errno)));
    return ok_status();
}

void NetfrontHarness::serve() {
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

std::optional<std::string> NetfrontHarness::read(const std::string& path) const { return store_->read(path); }
void NetfrontHarness::write(const std::string& path, const std::string& value) { store_->write(path, value); }
void NetfrontHarness::set_frontend_state(XenbusState s) { store_->write(frontend_path_ + "/state", state_value(s)); }

bool NetfrontHarness::wait_backend_state(XenbusState want, std::chrono::milliseconds timeout) {
    const std::string value = state_value(want);
    return store_->wait_for_node(
        backend_path_ + "/state", [&](const std::optional<std::string>& v) { return v == value; },
        std::chrono::steady_clock::now() + timeout);
}

Status NetfrontHarness::connect(unsigned queues, FrontFeatures f, std::chrono::milliseconds timeout) {
    if (queues == 0 || queues > kLayoutQueues) return make_error(fmt::format("1 to {} queues", kLayoutQueues));
    if (!wait_backend_state(XenbusStateInitWait, timeout))
        return make_error(fmt::format("back-end not in InitWait (state {})", read(backend_path_ + "/state").value_or("none")));
    queues_.clear();
    const std::string& fe = frontend_path_;
    if (queues > 1) write(fe + "/multi-queue-num-queues", std::to_string(queues));
    for (unsigned q = 0; q < queues; ++q) {
        std::memset(guest_->page(2 * q), 0, 2 * kXenPageSize);
        Queue queue;
        queue.tx = std::make_unique<net::TxFrontRing>(guest_->page(2 * q));
        queue.rx = std::make_unique<net::RxFrontRing>(guest_->page(2 * q + 1));
        queue.tx_port = provider_->alloc_unbound();
        queue.rx_port = f.split_event_channels ? provider_->alloc_unbound() : queue.tx_port;
        const std::string dir = queues == 1 ? fe : fmt::format("{}/queue-{}", fe, q);
        write(dir + "/tx-ring-ref", std::to_string(2 * q));
        write(dir + "/rx-ring-ref", std::to_string(2 * q + 1));
        if (f.split_event_channels) {
            write(dir + "/event-channel-tx", std::to_string(queue.tx_port));
            write(dir + "/event-channel-rx", std::to_string(queue.rx_port));
        } else {
            write(dir + "/event-channel", std::to_string(queue.tx_port));
        }
        queues_.push_back(std::move(queue));
    }
    write(fe + "/request-rx-copy", "1");
    write(fe + "/feature-rx-notify", "1");
    write(fe + "/feature-sg", f.sg ? "1" : "0");
    write(fe + "/feature-gso-tcpv4", f.gso_tcpv4 ? "1" : "0");
    write(fe + "/feature-gso-tcpv6", f.gso_tcpv6 ? "1" : "0");
    write(fe + "/feature-no-csum-offload", f.csum ? "0" : "1");
    write(fe + "/feature-ipv6-csum-offload", f.ipv6_csum ? "1" : "0");
    // Every rx buffer posted before Connected, as netfront does.
    for (unsigned q = 0; q < queues; ++q) {
        for (unsigned i = 0; i < kRingSize; ++i) post_rx(q);
        queues_[q].rx->push_requests();
    }
    set_frontend_state(XenbusStateConnected);
    // Connected, or Closed when the back-end refused what it read.
    const std::string connected = state_value(XenbusStateConnected), closed = state_value(XenbusStateClosed);
    store_->wait_for_node(
        backend_path_ + "/state",
        [&](const std::optional<std::string>& v) { return v == connected || v == closed; },
        std::chrono::steady_clock::now() + timeout);
    if (read(backend_path_ + "/state") != connected)
        return make_error(fmt::format("back-end did not connect (state {}, error '{}')",
                                      read(backend_path_ + "/state").value_or("none"),
                                      read(backend_path_ + "/error").value_or("")));
    return ok_status();
}

Status NetfrontHarness::reconnect(unsigned queues, FrontFeatures f, std::chrono::milliseconds timeout) {
    set_frontend_state(XenbusStateClosed);
    if (!wait_backend_state(XenbusStateClosed, timeout)) return make_error("back-end did not close");
    set_frontend_state(XenbusStateInitialising);
    return connect(queues, f, timeout);
}

// A buffer's id is its request's ring index (mod the ring size), as
// netfront does: the response in the same slot gives it back, including an
// extra-info response, which carries no id.
void NetfrontHarness::post_rx(unsigned q) {
    Queue& queue = queues_[q];
    netif_rx_request r{};
    r.id = static_cast<std::uint16_t>(queue.rx_prod & (kRingSize - 1));
    r.gref = static_cast<GrantRef>(rx_page(q, r.id));
    queue.rx->queue(r);
    ++queue.rx_prod;
}

Status NetfrontHarness::send(unsigned q, std::span<const std::byte> frame, FrameMeta meta,
                             std::chrono::milliseconds timeout) {
    if (q >= queues_.size()) return make_error(fmt::format("queue {} not connected", q));
    if (frame.empty() || frame.size() > 0xffff) return make_error("a frame of 1 to 65535 bytes");
    Queue& queue = queues_[q];
    const bool gso = meta.gso_type != XEN_NETIF_GSO_TYPE_NONE;
    const auto data_slots = static_cast<unsigned>((frame.size() + kXenPageSize - 1) / kXenPageSize);
    const unsigned slots = data_slots + (gso ? 1 : 0);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (queue.tx->free_slots() < slots) {
        reap_tx();
        if (queue.tx->free_slots() >= slots) break;
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline) return make_error(fmt::format("queue {}: no room on the tx ring", q));
        pollfd p{provider_->guest_fd(), POLLIN, 0};
        ::poll(&p, 1, 1);
        while (provider_->guest_pending()) {
        }
    }
    std::size_t at = 0;
    for (unsigned s = 0; s < data_slots; ++s) {
        const std::size_t len = std::min<std::size_t>(kXenPageSize, frame.size() - at);
        const std::uint32_t idx = queue.tx_prod;
        std::memcpy(guest_->page(tx_page(q, idx)), frame.data() + at, len);
        netif_tx_request r{};
        r.gref = static_cast<GrantRef>(tx_page(q, idx));
        r.offset = 0;
        r.id = static_cast<std::uint16_t>(idx & (kRingSize - 1));
        r.size = static_cast<std::uint16_t>(s == 0 ? frame.size() : len);
        if (s == 0) r.flags = meta.flags;
        if (s + 1 < data_slots) r.flags |= NETTXF_more_data;
        if (s == 0 && gso) r.flags |= NETTXF_extra_info;
        queue.tx->queue(r);
        ++queue.tx_prod;
        at += len;
        if (s == 0 && gso) {
            netif_extra_info e{};
            e.type = XEN_NETIF_EXTRA_TYPE_GSO;
            e.u.gso.type = meta.gso_type;
            e.u.gso.size = meta.gso_size;
            queue.tx->queue(e);
            ++queue.tx_prod;
        }
    }
    queue.tx_slots_pending += slots;
    if (queue.tx->push_requests()) notify(queue.tx_port);
    return ok_status();
}

// Responses come slot by slot in ring order; what is counted is slots
// still unanswered, over every queue.
unsigned NetfrontHarness::reap_tx() {
    unsigned outstanding = 0;
    for (Queue& queue : queues_) {
        do {
            while (queue.tx->has_response()) {
                auto r = queue.tx->next_response();
                if (r.status == NETIF_RSP_ERROR) ++tx_errors_;
                if (queue.tx_slots_pending > 0) --queue.tx_slots_pending;
            }
            // Notified of the next answer only while some are awaited.
        } while (queue.tx_slots_pending > 0 && queue.tx->final_check_for_responses());
        outstanding += queue.tx_slots_pending;
    }
    return outstanding;
}

bool NetfrontHarness::wait_tx_done(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (reap_tx() != 0) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        pollfd p{provider_->guest_fd(), POLLIN, 0};
        ::poll(&p, 1, 2);
        while (provider_->guest_pending()) {
        }
    }
    return true;
}

std::optional<GuestFrame> NetfrontHarness::take_rx(unsigned q) {
    Queue& queue = queues_[q];
    bool reposted = false;
    std::optional<GuestFrame> done;
    // Notified of the next response once these are taken (netfront's
    // RING_FINAL_CHECK_FOR_RESPONSES).
    while (!done && (queue.rx->has_response() || queue.rx->final_check_for_responses())) {
        if (queue.expect_extra) {
            auto e = queue.rx->next_response<netif_extra_info>();
            if (queue.partial && e.type == XEN_NETIF_EXTRA_TYPE_GSO) {
                queue.partial->meta.gso_type = e.u.gso.type;
                queue.partial->meta.gso_size = e.u.gso.size;
            }
            queue.expect_extra = (e.flags & XEN_NETIF_EXTRA_FLAG_MORE) != 0;
            post_rx(q);  // the slot's buffer is ours again
            reposted = true;
            continue;
        }
        auto r = queue.rx->next_response();
        if (!queue.partial) {
            queue.partial = GuestFrame{};
            queue.partial->queue = q;
            queue.partial->meta.flags = r.flags;
            // A frame spanning slots: one allocation, not one per page.
            if (r.flags & NETRXF_more_data) queue.partial->data.reserve(65536 + 18);
        }
        if (r.status < 0) {
            queue.partial->error = true;
        } else {
            const std::byte* page = guest_->page(rx_page(q, r.id));
            std::size_t off = std::min<std::size_t>(r.offset, kXenPageSize);
            std::size_t len = std::min<std::size_t>(static_cast<std::size_t>(r.status), kXenPageSize - off);
            queue.partial->data.insert(queue.partial->data.end(), page + off, page + off + len);
        }
        post_rx(q);
        reposted = true;
        if (r.flags & NETRXF_extra_info) queue.expect_extra = true;
        if (!(r.flags & NETRXF_more_data)) {
            done = std::move(queue.partial);
            queue.partial.reset();
        }
    }
    if (reposted && queue.rx->push_requests()) notify(queue.rx_port);
    return done;
}

std::optional<GuestFrame> NetfrontHarness::receive(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        for (unsigned i = 0; i < queues_.size(); ++i) {
            unsigned q = (next_rx_queue_ + i) % static_cast<unsigned>(queues_.size());
            if (auto f = take_rx(q)) {
                next_rx_queue_ = q + 1;
                return f;
            }
        }
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline) return std::nullopt;
        pollfd p{provider_->guest_fd(), POLLIN, 0};
        ::poll(&p, 1, static_cast<int>(std::min<long long>(
                          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1, 5)));
        while (provider_->guest_pending()) {
        }
    }
}

Status NetfrontHarness::host_send(std::span<const std::byte> frame, net::VnetHeader vnet) {
    iovec iov[2] = {{&vnet, sizeof vnet}, {const_cast<std::byte*>(frame.data()), frame.size()}};
    msghdr m{};
    m.msg_iov = iov;
    m.msg_iovlen = 2;
    for (;;) {
        ssize_t n = ::sendmsg(packet_.get(), &m, 0);
        if (n == static_cast<ssize_t>(sizeof vnet + frame.size())) return ok_status();
        if (n < 0 && errno == ENOBUFS) {
            ::usleep(50);
            continue;
        }
        return make_error(fmt::format("{}: AF_PACKET send: {}", tap_name_, std::strerror(errno)));
    }
}

std::optional<HostFrame> NetfrontHarness::host_receive(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto now = std::chrono::steady_clock::now();
        int left = now >= deadline ? 0 : static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count()) + 1;
        pollfd p{packet_.get(), POLLIN, 0};
        if (::poll(&p, 1, left) <= 0) return std::nullopt;
        sockaddr_ll from{};
        socklen_t len = sizeof from;
        ssize_t n = ::recvfrom(packet_.get(), host_buf_.data(), host_buf_.size(), MSG_DONTWAIT,
                               reinterpret_cast<sockaddr*>(&from), &len);
        if (n < static_cast<ssize_t>(net::kVnetHeaderSize)) continue;
        if (from.sll_pkttype == PACKET_OUTGOING) continue;  // our own host_send
        HostFrame f;
        std::memcpy(&f.vnet, host_buf_.data(), sizeof f.vnet);
        f.data.assign(host_buf_.begin() + net::kVnetHeaderSize, host_buf_.begin() + n);
        return f;
    }
}

void NetfrontHarness::lie_tx_req_prod(unsigned q, std::uint32_t req_prod) {
    Queue& queue = queues_.at(q);
    queue.tx->set_req_prod(req_prod);
    notify(queue.tx_port);
}

pid_t NetfrontHarness::backend_pid() {
    std::lock_guard lock(host_mu_);
    return host_ ? host_->pid() : -1;
}

unsigned NetfrontHarness::restarts() {
    std::lock_guard lock(host_mu_);
    return host_ ? host_->restarts() : 0;
}

std::size_t NetfrontHarness::pins_held() {
    std::lock_guard lock(host_mu_);
    if (host_) return host_->link() ? host_->link()->pins_held() : 0;
    return link_ ? link_->pins_held() : 0;
}

}  // namespace xenolith::backend::harness

namespace xenolith::backend::harness {

double NetfrontHarness::backend_cpu_seconds() {
    if (in_process_.joinable()) {
        clockid_t clock;
        timespec ts{};
        if (pthread_getcpuclockid(in_process_.native_handle(), &clock) != 0 || clock_gettime(clock, &ts) != 0) return 0;
        return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
    }
    pid_t pid = backend_pid();
    if (pid <= 0) return 0;
    // Fields 14 and 15 of /proc/<pid>/stat, after the ")" that ends comm.
    std::ifstream f(fmt::format("/proc/{}/stat", pid));
    std::string line;
    std::getline(f, line);
    auto close = line.rfind(')');
    if (close == std::string::npos || close + 2 > line.size()) return 0;
    std::vector<std::string> fields;
    std::string cur;
    for (char c : line.substr(close + 2)) {
        if (c == ' ') {
            fields.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (fields.size() < 13) return 0;
    return static_cast<double>(std::stoull(fields[11]) + std::stoull(fields[12])) /
           static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace xenolith::backend::harness
