#include "xenstore/xenstore_service.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "base/log.hpp"

namespace xenolith::xenstore {

namespace {

constexpr std::uint64_t kListenTag = ~std::uint64_t{0};
constexpr std::uint64_t kKickTag = ~std::uint64_t{0} - 1;
// Requests served per connection before the loop looks at the others.
constexpr unsigned kRequestsPerTurn = 64;
constexpr std::size_t kReceiveChunk = 16 * 1024;
// Host clients are root, but their number still bounds our memory.
constexpr std::size_t kMaxSocketClients = 1024;
constexpr std::size_t kTrimAfterBytes = 1024 * 1024;

}  // namespace

// Cross-thread wake-ups of the loop. A leaf: nothing is called with its
// lock held, so vCPU threads and signal-free paths can use it freely.
struct XenstoreService::Kicker {
    UniqueFd efd;
    std::mutex mu;
    std::set<domid_t> rings;      // guests that notified
    std::set<domid_t> shutdowns;  // domains that shut down

    void poke() {
        const std::uint64_t one = 1;
        [[maybe_unused]] ssize_t n = ::write(efd.get(), &one, sizeof one);
    }
    void ring_event(domid_t d) {
        {
            std::lock_guard lock(mu);
            rings.insert(d);  // a set: a guest spamming events costs nothing
        }
        poke();
    }
    void shutdown(domid_t d) {
        {
            std::lock_guard lock(mu);
            shutdowns.insert(d);
        }
        poke();
    }
};

XenstoreService::XenstoreService(const ServiceOptions& opts, RingHost* rings)
    : opts_(opts),
      ring_host_(rings),
      kicker_(std::make_shared<Kicker>()),
      server_(opts.server, static_cast<DomainHooks*>(this)) {}

Result<std::unique_ptr<XenstoreService>> XenstoreService::start(const ServiceOptions& opts,
                                                                RingHost* rings) {
    std::unique_ptr<XenstoreService> s(new XenstoreService(opts, rings));
    s->epoll_fd_.reset(::epoll_create1(EPOLL_CLOEXEC));
    s->kicker_->efd.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!s->epoll_fd_.valid() || !s->kicker_->efd.valid())
        return make_error(fmt::format("xenstore: epoll/eventfd: {}", std::strerror(errno)));
    auto watch_fd = [&](int fd, std::uint64_t tag) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = tag;
        return ::epoll_ctl(s->epoll_fd_.get(), EPOLL_CTL_ADD, fd, &ev) == 0;
    };
    if (!watch_fd(s->kicker_->efd.get(), kKickTag))
        return make_error(fmt::format("xenstore: epoll_ctl: {}", std::strerror(errno)));
    if (!opts.socket_path.empty()) {
        auto fd = listen_unix(opts.socket_path);
        if (!fd) return make_error("xenstore: " + fd.error().what);
        s->listen_fd_ = std::move(*fd);
        s->accept_guard_ = std::make_unique<AcceptGuard>("xenstore socket");
        if (!watch_fd(s->listen_fd_.get(), kListenTag))
            return make_error(fmt::format("xenstore: epoll_ctl: {}", std::strerror(errno)));
    }
    {
        std::lock_guard lock(s->mu_);
        s->self_ = s->server_.connect_socket().id;
        for (const Message& m : dom0_setup_requests()) (void)s->internal(m);
        s->seen_generation_ = s->server_.store().generation();
    }
    s->thread_ = std::thread([p = s.get()] { p->run(); });
    if (!opts.socket_path.empty()) log::info("xenstore: listening on {}", opts.socket_path);
    return s;
}

XenstoreService::~XenstoreService() { stop(); }

void XenstoreService::stop() {
    if (stopping_.exchange(true)) return;
    kicker_->poke();
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(mu_);
    for (auto& [id, c] : clients_) server_.disconnect(id);
    clients_.clear();
    rings_.clear();  // unbinds any channel still bound
    if (listen_fd_.valid()) {
        listen_fd_.reset();
        ::unlink(opts_.socket_path.c_str());
    }
}

// ---- the loop ---------------------------------------------------------

void XenstoreService::run() {
    epoll_event events[64];
    std::vector<ConnId> again_clients;
    std::vector<domid_t> again_rings;
    while (!stopping_) {
        const bool busy = !again_clients.empty() || !again_rings.empty();
        const int n = ::epoll_wait(epoll_fd_.get(), events, 64, wait_timeout_ms(busy));
        if (n < 0 && errno != EINTR) {
            log::error("xenstore: epoll_wait: {}", std::strerror(errno));
            return;
        }
        std::lock_guard lock(mu_);
        resume_listening_if_due();
        // Connections left over from the last turn go first (fairness).
        std::vector<ConnId> clients;
        clients.swap(again_clients);
        std::vector<domid_t> rings;
        rings.swap(again_rings);
        for (int i = 0; i < n; ++i) {
            const std::uint64_t tag = events[i].data.u64;
            if (tag == kListenTag) {
                accept_clients();
            } else if (tag == kKickTag) {
                std::uint64_t count;
                [[maybe_unused]] ssize_t r = ::read(kicker_->efd.get(), &count, sizeof count);
                handle_kicks();
            } else {
                clients.push_back(tag);
            }
        }
        for (ConnId id : clients)
            if (serve_client(id)) again_clients.push_back(id);
        {
            std::lock_guard klock(kicker_->mu);
            rings.insert(rings.end(), kicker_->rings.begin(), kicker_->rings.end());
            kicker_->rings.clear();
        }
        for (domid_t d : rings) {
            auto it = rings_.find(d);
            if (it == rings_.end()) continue;
            // More requests may be waiting than one turn serves.
            if (serve_ring(*it->second)) again_rings.push_back(d);
        }
        deliver_events();
        after_change();
    }
}

int XenstoreService::wait_timeout_ms(bool busy) const {
    if (busy) return 0;
    if (!listen_paused_until_) return -1;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(*listen_paused_until_ -
                                                                  std::chrono::steady_clock::now());
    return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

void XenstoreService::pause_listening() {
    epoll_event ev{};
    ev.events = 0;
    ev.data.u64 = kListenTag;
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, listen_fd_.get(), &ev);
    listen_paused_until_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
}

void XenstoreService::resume_listening_if_due() {
    if (!listen_paused_until_ || std::chrono::steady_clock::now() < *listen_paused_until_) return;
    listen_paused_until_.reset();
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kListenTag;
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, listen_fd_.get(), &ev);
}

void XenstoreService::handle_kicks() {
    std::set<domid_t> shutdowns;
    {
        std::lock_guard lock(kicker_->mu);
        shutdowns.swap(kicker_->shutdowns);
    }
    for (domid_t d : shutdowns) server_.domain_shutdown(d);
}

void XenstoreService::after_change() {
    const std::uint64_t gen = server_.store().generation();
    if (gen != seen_generation_) {
        seen_generation_ = gen;
        changed_.notify_all();
    }
}

void XenstoreService::pull_events(Connection& conn, OutQueue& out) {
    while (out.bytes() < opts_.max_queued_output) {
        auto ev = server_.next_event(conn);
        if (!ev) return;
        out.push(encode_message(watch_event_message(*ev)), false);
    }
}

void XenstoreService::deliver_events() {
    for (ConnId id : server_.take_woken()) {
        Connection* conn = server_.connection(id);
        if (!conn) continue;
        if (id == self_) {
            while (server_.next_event(*conn)) {
            }
            continue;
        }
        if (conn->kind == ConnKind::domain) {
            auto it = rings_.find(conn->domid);
            if (it == rings_.end() || it->second->ring.failed()) continue;
            Ring& r = *it->second;
            bool moved = false;
            pull_events(*conn, r.out);
            if (flush_ring(r, &moved) && moved) r.binding.notify();
            continue;
        }
        auto it = clients_.find(id);
        if (it == clients_.end()) continue;
        SocketClient& c = *it->second;
        pull_events(*conn, c.out);
        if (!send_client(c, *conn)) {
            close_client(id, false);
            continue;
        }
        update_interest(c);
    }
}

// ---- host sockets -----------------------------------------------------

void XenstoreService::accept_clients() {
    for (;;) {
        const int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            const int err = errno;
            if (err == EINTR || err == ECONNABORTED) continue;
            if (err == EAGAIN || err == EWOULDBLOCK) return;
            if (AcceptGuard::out_of_resources(err)) {
                // Refusing drains the queue one client at a time; without a
                // spare, the socket is left alone for a while.
                const auto r = accept_guard_->refuse_one(listen_fd_.get(), err);
                if (r == AcceptGuard::Refusal::refused) continue;
                if (r == AcceptGuard::Refusal::none_waiting) return;
            } else {
                log::warn("xenstore: accept: {}", std::strerror(err));
            }
            pause_listening();
            return;
        }
        accept_guard_->accepted();
        UniqueFd owned(fd);
        if (clients_.size() >= kMaxSocketClients) {
            log::warn("xenstore: {} socket clients already, refusing another", clients_.size());
            continue;
        }
        (void)add_client(std::move(owned), server_.connect_socket().id);
    }
}

bool XenstoreService::add_client(UniqueFd fd, ConnId conn) {
    auto c = std::make_unique<SocketClient>();
    c->fd = std::move(fd);
    c->conn = conn;
    c->epoll_mask = EPOLLIN;
    epoll_event ev{};
    ev.events = c->epoll_mask;
    ev.data.u64 = c->conn;
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, c->fd.get(), &ev) < 0) {
        server_.disconnect(c->conn);
        return false;
    }
    clients_.emplace(c->conn, std::move(c));
    return true;
}

Result<UniqueFd> XenstoreService::connect_scoped(const Scope& scope) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return make_error(fmt::format("xenstore: socketpair: {}", std::strerror(errno)));
    UniqueFd ours(sv[0]);
    UniqueFd theirs(sv[1]);
    // The back-end's end blocks; ours stays non-blocking for the loop.
    const int flags = ::fcntl(theirs.get(), F_GETFL);
    if (flags < 0 || ::fcntl(theirs.get(), F_SETFL, flags & ~O_NONBLOCK) < 0)
        return make_error(fmt::format("xenstore: fcntl: {}", std::strerror(errno)));
    {
        std::lock_guard lock(mu_);
        if (stopping_) return make_error("xenstore: service stopped");
        if (clients_.size() >= kMaxSocketClients)
            return make_error(fmt::format("xenstore: {} clients already", clients_.size()));
        auto conn = server_.connect_scoped(scope);
        if (!conn)
            return make_error(fmt::format("xenstore: invalid scope for dom{}: {}", scope.domid,
                                          error_name(conn.error())));
        if (!add_client(std::move(ours), *conn))
            return make_error(fmt::format("xenstore: epoll_ctl: {}", std::strerror(errno)));
    }
    return theirs;
}

void XenstoreService::close_client(ConnId id, bool violation) {
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    const Connection* conn = server_.connection(id);
    const std::size_t held = (conn ? conn->event_bytes : 0) + it->second->out.bytes();
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, it->second->fd.get(), nullptr);
    server_.disconnect(id);
    clients_.erase(it);
    if (violation) ++stats_.sockets_dropped;
    // xenolithd keeps freed memory in its heap (it must not munmap per
    // request: MMU notifiers); a client that held megabytes of queued
    // events gives them back to the host when it goes.
    if (held >= kTrimAfterBytes) malloc_trim(0);
}

void XenstoreService::update_interest(SocketClient& c) {
    std::uint32_t mask = 0;
    if (c.out.bytes() < opts_.max_queued_output) mask |= EPOLLIN;
    if (!c.out.empty()) mask |= EPOLLOUT;
    if (mask == c.epoll_mask) return;
    epoll_event ev{};
    ev.events = mask;
    ev.data.u64 = c.conn;
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev) == 0) c.epoll_mask = mask;
}

bool XenstoreService::send_client(SocketClient& c, Connection& conn) {
    unsigned replies = 0;
    const SocketIo st = send_queued(c, &replies);
    for (unsigned i = 0; i < replies; ++i) server_.reply_sent(conn);
    return st != SocketIo::closed;
}

bool XenstoreService::serve_client(ConnId id) {
    auto it = clients_.find(id);
    if (it == clients_.end()) return false;
    SocketClient& c = *it->second;
    Connection* conn = server_.connection(c.conn);
    if (!conn || !send_client(c, *conn)) {
        close_client(id, false);
        return false;
    }
    unsigned served = 0;
    while (served < kRequestsPerTurn) {
        if (c.out.bytes() >= opts_.max_queued_output || !server_.may_read(*conn)) break;
        if (!c.has_input()) {
            const SocketIo st = receive(c, kReceiveChunk);
            if (st == SocketIo::closed) {
                close_client(id, false);
                return false;
            }
            if (st == SocketIo::again) break;
        }
        auto fed = c.reader.feed(ByteSpan(c.in.data() + c.in_pos, c.in.size() - c.in_pos));
        if (!fed) {
            log::warn("xenstore: socket client {}: {}; closing it", id, fed.error().what);
            close_client(id, true);
            return false;
        }
        c.in_pos += *fed;
        if (!c.reader.ready()) continue;
        const Reply reply = server_.handle(*conn, c.reader.take());
        c.out.push(encode_reply(reply), true);
        ++served;
    }
    pull_events(*conn, c.out);
    if (!send_client(c, *conn)) {
        close_client(id, false);
        return false;
    }
    update_interest(c);
    return served == kRequestsPerTurn;
}

// ---- guest rings ------------------------------------------------------

XsErr XenstoreService::introduce(domid_t domid, std::int64_t gfn, evtchn_port_t port) {
    if (!ring_host_) return XsErr::inval;
    // A re-introduction rebinds: the old binding goes first, which returns
    // the guest's port to "unbound" so that it can be bound again.
    rings_.erase(domid);
    std::shared_ptr<Kicker> kick = kicker_;
    auto binding = ring_host_->connect(domid, gfn, port, [kick, domid] { kick->ring_event(domid); });
    if (!binding) return binding.error();
    if (!binding->page) return XsErr::inval;
    auto r = std::make_unique<Ring>();
    r->domid = domid;
    r->binding = std::move(binding.value());
    r->ring = RingTransport(r->binding.page);
    r->ring.attach();
    rings_[domid] = std::move(r);
    kicker_->ring_event(domid);  // whatever the guest queued already
    return XsErr::ok;
}

void XenstoreService::release(domid_t domid) { rings_.erase(domid); }

void XenstoreService::fail_ring(Ring& r, std::uint32_t error, const char* why) {
    log::warn("xenstore: dom{}: {}; its ring is stopped until it reconnects", r.domid, why);
    r.ring.fail(error);
    if (Connection* conn = server_.domain_connection(r.domid)) server_.disconnect(conn->id);
    r.reader.reset();
    r.out.clear();
    ++stats_.rings_failed;
    r.binding.notify();
}

bool XenstoreService::flush_ring(Ring& r, bool* moved) {
    Connection* conn = server_.domain_connection(r.domid);
    while (!r.out.empty()) {
        std::size_t written = 0;
        if (r.ring.write(r.out.front(), &written) != RingTransport::Io::ok) {
            fail_ring(r, XENSTORE_ERROR_RINGIDX, "response ring index out of range");
            return false;
        }
        if (written == 0) break;
        *moved = true;
        if (r.out.advance(written) && conn) server_.reply_sent(*conn);
    }
    return true;
}

bool XenstoreService::serve_ring(Ring& r) {
    if (!r.ring.valid()) return false;
    Connection* conn = server_.domain_connection(r.domid);
    if (!conn) return false;
    if (r.ring.reconnect_requested()) {
        server_.reset_connection(conn->id);
        r.reader.reset();
        r.out.clear();
        r.ring.reconnect();
        r.binding.notify();
    }
    if (r.ring.failed()) return false;
    bool moved = false;
    unsigned served = 0;
    while (served < kRequestsPerTurn) {
        if (!flush_ring(r, &moved)) return false;
        if (r.out.bytes() >= opts_.max_queued_output || !server_.may_read(*conn)) break;
        std::size_t consumed = 0;
        const RingTransport::Io io = r.ring.read(r.reader, &consumed);
        if (consumed) moved = true;
        if (io == RingTransport::Io::bad_index) {
            fail_ring(r, XENSTORE_ERROR_RINGIDX, "request ring index out of range");
            return false;
        }
        if (io == RingTransport::Io::protocol) {
            fail_ring(r, XENSTORE_ERROR_PROTO, "request longer than XENSTORE_PAYLOAD_MAX");
            return false;
        }
        if (!r.reader.ready()) break;
        const Reply reply = server_.handle(*conn, r.reader.take());
        r.out.push(encode_reply(reply), true);
        ++served;
    }
    pull_events(*conn, r.out);
    if (!flush_ring(r, &moved)) return false;
    if (moved) r.binding.notify();
    return served == kRequestsPerTurn;
}

// ---- xenolithd's side -------------------------------------------------

Reply XenstoreService::internal(const Message& m) {
    Connection* self = server_.connection(self_);
    Reply r = server_.handle(*self, m);
    server_.reply_sent(*self);
    return r;
}

Reply XenstoreService::request(const Message& m) {
    Reply r;
    {
        std::lock_guard lock(mu_);
        r = internal(m);
        after_change();
    }
    kicker_->poke();  // deliver the watch events it fired
    return r;
}

std::optional<std::string> XenstoreService::read_locked(const std::string& path) {
    Reply r = internal(make_request(XS_READ, {path}));
    if (r.type == XS_ERROR) return std::nullopt;
    return std::move(r.payload);
}

std::optional<std::string> XenstoreService::read(const std::string& path) {
    std::lock_guard lock(mu_);
    return read_locked(path);
}

XsErr XenstoreService::write(const std::string& path, const std::string& value) {
    const Reply r = request(make_write(path, value));
    if (r.type != XS_ERROR) return XsErr::ok;
    for (XsErr e : {XsErr::inval, XsErr::acces, XsErr::exist, XsErr::isdir, XsErr::noent,
                    XsErr::nomem, XsErr::nospc, XsErr::io, XsErr::notempty, XsErr::nosys,
                    XsErr::rofs, XsErr::busy, XsErr::again, XsErr::isconn, XsErr::toobig,
                    XsErr::perm})
        if (r.payload == std::string(error_name(e)) + '\0') return e;
    return XsErr::io;
}

XsErr XenstoreService::with_own_connection(
    const std::function<XsErr(Server&, Connection&)>& body) {
    XsErr e;
    {
        std::lock_guard lock(mu_);
        e = body(server_, *server_.connection(self_));
        after_change();
    }
    kicker_->poke();
    return e;
}

XsErr XenstoreService::domain_created(const DomainRecord& record) {
    XsErr e;
    {
        std::lock_guard lock(mu_);
        for (const Message& m : domain_setup_requests(record)) {
            const Reply r = internal(m);
            if (r.type == XS_ERROR && m.type != XS_RM)
                log::warn("xenstore: dom{} setup: {} {} -> {}", record.domid, m.type,
                          m.payload.substr(0, m.payload.find('\0')), r.payload.c_str());
        }
        e = server_.introduce_domain(record.domid, static_cast<std::int64_t>(record.store_gfn),
                                     record.store_port);
        after_change();
    }
    kicker_->poke();
    if (e != XsErr::ok)
        log::error("xenstore: cannot introduce dom{}: {}", record.domid, error_name(e));
    return e;
}

void XenstoreService::domain_shutdown(domid_t domid) { kicker_->shutdown(domid); }

XsErr XenstoreService::domain_soft_reset(domid_t domid, std::uint64_t store_gfn,
                                         evtchn_port_t store_port) {
    XsErr e;
    {
        std::lock_guard lock(mu_);
        bool queued = false;
        {
            std::lock_guard kick(kicker_->mu);
            queued = kicker_->shutdowns.erase(domid) > 0;
        }
        if (queued) server_.domain_shutdown(domid);  // @releaseDomain, in order
        e = server_.introduce_domain(domid, static_cast<std::int64_t>(store_gfn), store_port);
        after_change();
    }
    kicker_->poke();
    if (e != XsErr::ok)
        log::error("xenstore: cannot re-introduce dom{} after soft reset: {}", domid,
                   error_name(e));
    return e;
}

void XenstoreService::domain_destroyed(domid_t domid) {
    {
        std::lock_guard lock(mu_);
        const std::string vm_path = read_locked(domain_home(domid) + "/vm").value_or("");
        // As libxl: the toolstack's nodes go first, then the hypervisor's
        // notice (C xenstored's VIRQ_DOM_EXC): orphans, @releaseDomain.
        for (const Message& m : domain_teardown_requests(domid, vm_path)) (void)internal(m);
        server_.domain_destroyed(domid);
        rings_.erase(domid);
        after_change();
    }
    kicker_->poke();
}

bool XenstoreService::wait_for_node(const std::string& path, const NodeTest& done,
                                    std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mu_);
    while (!done(read_locked(path))) {
        if (changed_.wait_until(lock, deadline) == std::cv_status::timeout)
            return done(read_locked(path));
    }
    return true;
}

XenstoreService::Stats XenstoreService::stats() {
    std::lock_guard lock(mu_);
    Stats s = stats_;
    s.socket_clients = clients_.size();
    s.rings = rings_.size();
    return s;
}

}  // namespace xenolith::xenstore
