#include "backend/link/link_server.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <cerrno>
#include <cstring>

#include "backend/link/packet_io.hpp"

namespace xenolith::backend::link {
namespace {

constexpr std::uint64_t kSocketTag = 0;
constexpr std::uint64_t kNotifyTag = std::uint64_t{1} << 32;  // | port
// Messages served per handle() call, so one chatty back-end cannot starve
// the loop that owns the server.
constexpr int kMessagesPerHandle = 64;

template <class T>
T load(const std::byte* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

bool add_to_epoll(int ep, int fd, std::uint64_t tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    return ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0;
}

}  // namespace

LinkServer::LinkServer(int socket_fd, LinkProvider& provider)
    : provider_(provider), sock_(socket_fd), epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (!epoll_.valid() || !add_to_epoll(epoll_.get(), sock_.get(), kSocketTag)) {
        sock_.reset();
        return;
    }
    Hello hello{};
    hello.h.type = static_cast<std::uint16_t>(MsgType::hello);
    hello.version = kVersion;
    hello.frontend = provider_.frontend();
    hello.memory_bytes = provider_.memory_bytes();
    const int memfd = provider_.memory_fd();
    if (!reply(&hello, sizeof hello, std::span<const int>(&memfd, 1))) disconnect();
}

LinkServer::~LinkServer() { disconnect(); }

void LinkServer::handle() {
    epoll_event events[16];
    int n = ::epoll_wait(epoll_.get(), events, 16, 0);
    for (int i = 0; i < n; ++i) {
        const std::uint64_t tag = events[i].data.u64;
        if (tag & kNotifyTag) {
            forward_notify(static_cast<Port>(tag & 0xffffffffu));
            continue;
        }
        for (int m = 0; m < kMessagesPerHandle && sock_.valid(); ++m) {
            Received r;
            recv_packet(sock_.get(), in_, true, &r);
            if (r.len == -EAGAIN) break;
            // Closed, failed, truncated or malformed: the back-end is gone
            // or hostile; either way everything it held is given back.
            if (r.len <= 0 || r.truncated ||
                !serve_one(in_, static_cast<std::size_t>(r.len), r.nfds)) {
                disconnect();
                break;
            }
        }
    }
}

bool LinkServer::serve_one(const std::byte* msg, std::size_t len, std::size_t nfds) {
    // Nothing the back-end sends carries an fd.
    if (nfds != 0 || len < sizeof(Header)) return false;
    switch (static_cast<MsgType>(load<Header>(msg).type)) {
    case MsgType::map: return serve_map(msg, len);
    case MsgType::unmap: return serve_release(msg, len, false);
    case MsgType::copy: return serve_copy(msg, len);
    case MsgType::copy_release: return serve_release(msg, len, true);
    case MsgType::bind: return serve_bind(msg, len);
    case MsgType::unbind: return serve_unbind(msg, len);
    default: return false;
    }
}

bool LinkServer::serve_map(const std::byte* msg, std::size_t len) {
    if (len < sizeof(MapRequest)) return false;
    const auto req = load<MapRequest>(msg);
    const std::size_t count = req.h.count;
    if (count == 0 || count > kMaxMapBatch || len != sizeof(MapRequest) + count * sizeof(std::uint32_t))
        return false;
    const bool writable = req.writable != 0;
    if (req.writable > 1) return false;

    MapReply rep{};
    rep.h = {static_cast<std::uint16_t>(MsgType::map_reply), 0, req.h.id};
    rep.handle = kNoHandle;
    rep.status = GNTST_okay;
    if (req.domid != provider_.frontend()) rep.status = GNTST_bad_domain;
    else if (pins_ + count > kMaxPinsPerLink) rep.status = GNTST_no_space;
    if (rep.status != GNTST_okay) return reply(&rep, sizeof rep);

    const std::uint32_t handle = new_batch(false);
    if (handle == kNoHandle) {
        rep.status = GNTST_no_space;
        return reply(&rep, sizeof rep);
    }
    Batch& b = batches_[handle];
    std::byte* offsets = out_ + sizeof(MapReply);
    for (std::size_t i = 0; i < count; ++i) {
        const auto ref = load<std::uint32_t>(msg + sizeof(MapRequest) + i * sizeof(std::uint32_t));
        LinkProvider::Acquired got;
        std::int16_t st = provider_.acquire(ref, writable, false, &got);
        if (st == GNTST_okay) {
            b.cookies.push_back(got.cookie);
            ++pins_;
            // A provider's offset is trusted, but a misaligned one would
            // only make the back-end's mmap fail: refuse it here.
            if (got.page_offset % kXenPageSize != 0) st = GNTST_bad_page;
        }
        if (st != GNTST_okay) {
            release_batch(handle);  // all or nothing
            rep.status = st;
            return reply(&rep, sizeof rep);
        }
        std::memcpy(offsets + i * sizeof(std::uint64_t), &got.page_offset, sizeof(std::uint64_t));
    }
    rep.h.count = static_cast<std::uint16_t>(count);
    rep.handle = handle;
    std::memcpy(out_, &rep, sizeof rep);
    return reply(out_, sizeof rep + count * sizeof(std::uint64_t));
}

bool LinkServer::serve_copy(const std::byte* msg, std::size_t len) {
    const std::size_t count = load<Header>(msg).count;
    if (count == 0 || count > kMaxCopyBatch || len != sizeof(CopyRequest) + count * sizeof(CopyOpWire))
        return false;
    const std::uint32_t id = load<Header>(msg).id;
    const std::uint32_t handle = new_batch(true);
    if (handle == kNoHandle) return false;
    const bool full = pins_ + 2 * count > kMaxPinsPerLink;
    Batch& b = batches_[handle];

    std::byte* results = out_ + sizeof(CopyReply);
    for (std::size_t i = 0; i < count; ++i) {
        const auto op = load<CopyOpWire>(msg + sizeof(CopyRequest) + i * sizeof(CopyOpWire));
        CopyResult res{};
        // Xen's gnttab_copy order: both domains, claim source then
        // destination, page bounds, then the granted ranges.
        auto domain_ok = [&](const CopySideWire& s) {
            return !s.foreign || s.domid == provider_.frontend();
        };
        if (op.source.foreign > 1 || op.dest.foreign > 1) return release_batch(handle), false;
        std::int16_t st = GNTST_okay;
        if (!domain_ok(op.source) || !domain_ok(op.dest)) st = GNTST_bad_domain;
        else if (full) st = GNTST_no_space;
        LinkProvider::Acquired src, dst;
        std::size_t held = 0;
        if (st == GNTST_okay && op.source.foreign) {
            st = provider_.acquire(op.source.ref, false, true, &src);
            if (st == GNTST_okay) { b.cookies.push_back(src.cookie); ++pins_; ++held; }
        }
        if (st == GNTST_okay && op.dest.foreign) {
            st = provider_.acquire(op.dest.ref, true, true, &dst);
            if (st == GNTST_okay) { b.cookies.push_back(dst.cookie); ++pins_; ++held; }
        }
        auto covers = [](const LinkProvider::Acquired& a, unsigned off, unsigned n) {
            return off >= a.start && off + n <= unsigned{a.start} + a.length;
        };
        if (st == GNTST_okay &&
            ((op.source.foreign && op.source.offset + unsigned{op.len} > kXenPageSize) ||
             (op.dest.foreign && op.dest.offset + unsigned{op.len} > kXenPageSize)))
            st = GNTST_bad_copy_arg;
        if (st == GNTST_okay && ((op.source.foreign && !covers(src, op.source.offset, op.len)) ||
                                 (op.dest.foreign && !covers(dst, op.dest.offset, op.len))))
            st = GNTST_general_error;
        if (st == GNTST_okay && ((op.source.foreign && src.page_offset % kXenPageSize) ||
                                 (op.dest.foreign && dst.page_offset % kXenPageSize)))
            st = GNTST_bad_page;
        if (st != GNTST_okay) {
            // This op's sides go back now; the others stay for the copy.
            for (; held > 0; --held) {
                provider_.release(b.cookies.back());
                b.cookies.pop_back();
                --pins_;
            }
        } else {
            res.source_offset = op.source.foreign ? src.page_offset : 0;
            res.dest_offset = op.dest.foreign ? dst.page_offset : 0;
        }
        res.status = st;
        std::memcpy(results + i * sizeof(CopyResult), &res, sizeof res);
    }
    CopyReply rep{};
    rep.h = {static_cast<std::uint16_t>(MsgType::copy_reply), static_cast<std::uint16_t>(count), id};
    rep.handle = handle;
    if (b.cookies.empty()) {
        release_batch(handle);
        rep.handle = kNoHandle;
    }
    std::memcpy(out_, &rep, sizeof rep);
    return reply(out_, sizeof rep + count * sizeof(CopyResult));
}

bool LinkServer::serve_release(const std::byte* msg, std::size_t len, bool copy) {
    if (len != sizeof(Release)) return false;
    const auto req = load<Release>(msg);
    if (req.h.count != 0 || req.handle >= batches_.size()) return false;
    const Batch& b = batches_[req.handle];
    if (!b.in_use || b.copy != copy) return false;
    release_batch(req.handle);
    return true;
}

bool LinkServer::serve_bind(const std::byte* msg, std::size_t len) {
    if (len != sizeof(BindRequest)) return false;
    const auto req = load<BindRequest>(msg);
    if (req.h.count != 0) return false;
    BindReply rep{};
    rep.h = {static_cast<std::uint16_t>(MsgType::bind_reply), 0, req.h.id};
    if (bindings_.size() >= kMaxPortsPerLink) {
        rep.status = -ENOSPC;  // Xen's get_free_port when the table is full
        return reply(&rep, sizeof rep);
    }
    Binding b;
    b.notify.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    b.pending = std::make_shared<UniqueFd>(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!b.notify.valid() || !b.pending->valid()) {
        rep.status = -ENOMEM;
        return reply(&rep, sizeof rep);
    }
    auto [port, rc] = provider_.bind(req.remote, req.remote_port,
                                     [pending = b.pending] { ::eventfd_write(pending->get(), 1); });
    if (rc == 0 && (find_binding(port) || !add_to_epoll(epoll_.get(), b.notify.get(), kNotifyTag | port))) {
        provider_.unbind(port);
        rc = -EINVAL;
    }
    if (rc != 0) {
        rep.status = rc < 0 ? rc : -EINVAL;
        return reply(&rep, sizeof rep);
    }
    b.port = port;
    rep.port = port;
    const int fds[2] = {b.pending->get(), b.notify.get()};
    bindings_.push_back(std::move(b));
    return reply(&rep, sizeof rep, fds);
}

bool LinkServer::serve_unbind(const std::byte* msg, std::size_t len) {
    if (len != sizeof(Unbind)) return false;
    const auto req = load<Unbind>(msg);
    Binding* b = req.h.count == 0 ? find_binding(req.port) : nullptr;
    if (!b) return false;
    provider_.unbind(b->port);
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, b->notify.get(), nullptr);
    *b = std::move(bindings_.back());
    bindings_.pop_back();
    return true;
}

void LinkServer::forward_notify(Port port) {
    Binding* b = find_binding(port);
    if (!b) return;  // unbound since the event was collected
    eventfd_t count = 0;
    if (::eventfd_read(b->notify.get(), &count) == 0 && count != 0) provider_.notify(port);
}

bool LinkServer::reply(const void* msg, std::size_t len, std::span<const int> fds) {
    // The back-end has at most one request outstanding, so its socket
    // always has room for the answer; one that does not read its replies
    // (EAGAIN) is dropped rather than allowed to block the server.
    return send_packet(sock_.get(), msg, len, fds, true) == 0;
}

std::uint32_t LinkServer::new_batch(bool copy) {
    std::uint32_t h;
    if (!free_batches_.empty()) {
        h = free_batches_.back();
        free_batches_.pop_back();
    } else {
        // Every live batch holds a pin, so this is bounded by the pin limit.
        if (batches_.size() >= kMaxPinsPerLink) return kNoHandle;
        h = static_cast<std::uint32_t>(batches_.size());
        batches_.emplace_back();
    }
    batches_[h].in_use = true;
    batches_[h].copy = copy;
    return h;
}

void LinkServer::release_batch(std::uint32_t handle) {
    Batch& b = batches_[handle];
    for (LinkProvider::Cookie c : b.cookies) provider_.release(c);
    pins_ -= b.cookies.size();
    b.cookies.clear();
    b.in_use = false;
    free_batches_.push_back(handle);
}

LinkServer::Binding* LinkServer::find_binding(Port port) {
    for (Binding& b : bindings_)
        if (b.port == port) return &b;
    return nullptr;
}

void LinkServer::disconnect() {
    for (std::uint32_t h = 0; h < batches_.size(); ++h)
        if (batches_[h].in_use) release_batch(h);
    for (Binding& b : bindings_) provider_.unbind(b.port);
    bindings_.clear();
    if (sock_.valid() && epoll_.valid()) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, sock_.get(), nullptr);
    sock_.reset();
}

}  // namespace xenolith::backend::link
