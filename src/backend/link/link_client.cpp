#include "backend/link/link_client.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "backend/link/packet_io.hpp"

namespace xenolith::backend::link {
namespace {

template <class T>
T load(const std::byte* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

}  // namespace

Result<std::unique_ptr<LinkClient>> LinkClient::connect(int socket_fd) {
    std::unique_ptr<LinkClient> c(new LinkClient());
    c->sock_.reset(socket_fd);
    Received r;
    recv_packet(socket_fd, c->in_, false, &r);
    if (r.len < 0) return make_error(fmt::format("link: hello: {}", std::strerror(static_cast<int>(-r.len))));
    if (r.len != static_cast<ssize_t>(sizeof(Hello)) || r.truncated || r.nfds != 1)
        return make_error("link: malformed hello");
    const auto hello = load<Hello>(c->in_);
    if (hello.h.type != static_cast<std::uint16_t>(MsgType::hello) || hello.version != kVersion)
        return make_error("link: not a hello of this version");
    struct stat st {};
    if (::fstat(r.fds[0].get(), &st) != 0 || hello.memory_bytes == 0 ||
        hello.memory_bytes % kXenPageSize != 0 ||
        hello.memory_bytes > static_cast<std::uint64_t>(st.st_size))
        return make_error("link: the hello's memory does not match its file");
    c->memfd_ = std::move(r.fds[0]);
    c->frontend_ = hello.frontend;
    c->memory_bytes_ = hello.memory_bytes;
    // Copies go through one read-write view of the whole file, mapped once:
    // the process holds the memfd, so the view gives it nothing new, and it
    // saves an mmap, a munmap and a TLB shootdown per copied segment.
    void* v = ::mmap(nullptr, c->memory_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, c->memfd_.get(), 0);
    if (v == MAP_FAILED) return make_error(fmt::format("link: mmap guest memory: {}", std::strerror(errno)));
    c->view_ = static_cast<std::byte*>(v);
    c->epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!c->epoll_.valid()) return make_error(fmt::format("link: epoll: {}", std::strerror(errno)));
    return c;
}

LinkClient::~LinkClient() {
    if (view_) ::munmap(view_, memory_bytes_);
}

bool LinkClient::page_ok(std::uint64_t offset) const {
    return offset % kXenPageSize == 0 && offset < memory_bytes_ && memory_bytes_ - offset >= kXenPageSize;
}

void LinkClient::send_only(const void* msg, std::size_t len) {
    if (!broken_ && send_packet(sock_.get(), msg, len, {}, false) != 0) broken_ = true;
}

std::size_t LinkClient::round_trip(std::size_t request_len, MsgType reply_type, std::size_t min_len,
                                   std::size_t* nfds, UniqueFd* fds) {
    if (broken_) return 0;
    ++round_trips_;
    const std::uint32_t id = next_id_++;
    Header h = load<Header>(out_);
    h.id = id;
    std::memcpy(out_, &h, sizeof h);
    if (send_packet(sock_.get(), out_, request_len, {}, false) != 0) {
        broken_ = true;
        return 0;
    }
    Received r;
    recv_packet(sock_.get(), in_, false, &r);
    const auto got = r.len > 0 ? load<Header>(in_) : Header{};
    const bool fds_ok = nfds ? true : r.nfds == 0;
    if (r.len <= 0 || r.truncated || static_cast<std::size_t>(r.len) < min_len || !fds_ok ||
        got.type != static_cast<std::uint16_t>(reply_type) || got.id != id) {
        broken_ = true;
        return 0;
    }
    if (nfds) {
        *nfds = r.nfds;
        for (std::size_t i = 0; i < r.nfds; ++i) fds[i] = std::move(r.fds[i]);
    }
    return static_cast<std::size_t>(r.len);
}

std::pair<GrantMapping, std::int16_t> LinkClient::map(DomId domid, std::span<const GrantRef> refs,
                                                      bool writable) {
    if (refs.empty() || refs.size() > kMaxMapBatch) return {GrantMapping(), GNTST_general_error};
    const std::size_t count = refs.size();
    std::lock_guard lock(mu_);
    MapRequest req{};
    req.h = {static_cast<std::uint16_t>(MsgType::map), static_cast<std::uint16_t>(count), 0};
    req.domid = domid;
    req.writable = writable ? 1 : 0;
    std::memcpy(out_, &req, sizeof req);
    std::memcpy(out_ + sizeof req, refs.data(), count * sizeof(GrantRef));
    const std::size_t len =
        round_trip(sizeof req + count * sizeof(GrantRef), MsgType::map_reply, sizeof(MapReply));
    if (len == 0) return {GrantMapping(), GNTST_general_error};
    const auto rep = load<MapReply>(in_);
    if (rep.status != GNTST_okay) {
        if (len != sizeof(MapReply) || rep.status > 0) broken_ = true;
        return {GrantMapping(), broken_ ? std::int16_t{GNTST_general_error} : rep.status};
    }
    const std::byte* offsets = in_ + sizeof(MapReply);
    Release release{};
    release.h = {static_cast<std::uint16_t>(MsgType::unmap), 0, 0};
    release.handle = rep.handle;
    bool valid = rep.h.count == count && len == sizeof(MapReply) + count * sizeof(std::uint64_t);
    for (std::size_t i = 0; valid && i < count; ++i)
        valid = page_ok(load<std::uint64_t>(offsets + i * sizeof(std::uint64_t)));
    if (!valid) {
        broken_ = true;
        return {GrantMapping(), GNTST_general_error};
    }

    const int prot = PROT_READ | (writable ? PROT_WRITE : 0);
    const std::size_t bytes = count * kXenPageSize;
    auto offset_at = [&](std::size_t i) { return load<std::uint64_t>(offsets + i * sizeof(std::uint64_t)); };
    // Runs of consecutive frames map with one call; a batch that is one run
    // needs no reservation first.
    std::size_t first_run = 1;
    while (first_run < count && offset_at(first_run) == offset_at(0) + first_run * kXenPageSize) ++first_run;
    void* base;
    if (first_run == count) {
        base = ::mmap(nullptr, bytes, prot, MAP_SHARED, memfd_.get(), static_cast<off_t>(offset_at(0)));
    } else {
        base = ::mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        for (std::size_t i = 0; base != MAP_FAILED && i < count;) {
            std::size_t run = 1;
            while (i + run < count && offset_at(i + run) == offset_at(i) + run * kXenPageSize) ++run;
            void* at = static_cast<std::byte*>(base) + i * kXenPageSize;
            if (::mmap(at, run * kXenPageSize, prot, MAP_SHARED | MAP_FIXED, memfd_.get(),
                       static_cast<off_t>(offset_at(i))) == MAP_FAILED) {
                ::munmap(base, bytes);
                base = MAP_FAILED;
            }
            i += run;
        }
    }
    if (base == MAP_FAILED) {
        send_only(&release, sizeof release);
        return {GrantMapping(), GNTST_no_device_space};
    }
    return {GrantMapping(this, static_cast<std::byte*>(base), count, rep.handle), GNTST_okay};
}

void LinkClient::unmap(std::byte* addr, std::size_t pages, std::uintptr_t cookie) {
    ::munmap(addr, pages * kXenPageSize);
    Release release{};
    release.h = {static_cast<std::uint16_t>(MsgType::unmap), 0, 0};
    release.handle = static_cast<std::uint32_t>(cookie);
    std::lock_guard lock(mu_);
    send_only(&release, sizeof release);
}

void LinkClient::copy(std::span<CopyOp> ops) {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < ops.size(); i += kMaxCopyBatch)
        copy_chunk(ops.subspan(i, std::min(kMaxCopyBatch, ops.size() - i)));
}

void LinkClient::copy_chunk(std::span<CopyOp> ops) {
    const std::size_t count = ops.size();
    Header h{static_cast<std::uint16_t>(MsgType::copy), static_cast<std::uint16_t>(count), 0};
    std::memcpy(out_, &h, sizeof h);
    auto side = [](const CopyPlace& p) {
        CopySideWire w{};
        w.foreign = p.foreign ? 1 : 0;
        w.domid = p.domid;
        w.ref = p.ref;
        w.offset = p.offset;
        return w;
    };
    for (std::size_t i = 0; i < count; ++i) {
        CopyOpWire w{};
        w.source = side(ops[i].source);
        w.dest = side(ops[i].dest);
        w.len = ops[i].len;
        std::memcpy(out_ + sizeof(CopyRequest) + i * sizeof w, &w, sizeof w);
    }
    const std::size_t len = round_trip(sizeof(CopyRequest) + count * sizeof(CopyOpWire),
                                       MsgType::copy_reply, sizeof(CopyReply));
    const auto rep = len ? load<CopyReply>(in_) : CopyReply{};
    if (len && (rep.h.count != count || len != sizeof(CopyReply) + count * sizeof(CopyResult))) broken_ = true;
    if (broken_) {
        for (CopyOp& op : ops) op.status = GNTST_general_error;
        return;
    }
    for (std::size_t i = 0; i < count; ++i) {
        CopyOp& op = ops[i];
        const auto res = load<CopyResult>(in_ + sizeof(CopyReply) + i * sizeof(CopyResult));
        if (res.status > 0) broken_ = true;  // not a GNTST code
        op.status = broken_ ? std::int16_t{GNTST_general_error} : res.status;
        if (op.status != GNTST_okay) continue;
        // The server checked the bounds; a foreign side is checked again
        // here because its answer is not trusted either.
        auto place = [&](const CopyPlace& p, std::uint64_t offset) -> std::byte* {
            if (!p.foreign) return p.local;
            if (!page_ok(offset) || p.offset + unsigned{op.len} > kXenPageSize) return nullptr;
            return view_ + offset + p.offset;
        };
        std::byte* src = place(op.source, res.source_offset);
        std::byte* dst = place(op.dest, res.dest_offset);
        if (!src || !dst) {
            op.status = GNTST_general_error;
            continue;
        }
        std::memmove(dst, src, op.len);
    }
    if (rep.handle != kNoHandle) {
        Release release{};
        release.h = {static_cast<std::uint16_t>(MsgType::copy_release), 0, 0};
        release.handle = rep.handle;
        send_only(&release, sizeof release);
    }
}

std::uint64_t LinkClient::round_trips() const {
    std::lock_guard lock(mu_);
    return round_trips_;
}

void LinkClient::hold(DomId domid, std::span<HeldSpan> spans, bool writable, GrantHold& into) {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < spans.size(); i += kMaxCopyBatch)
        hold_chunk(domid, spans.subspan(i, std::min(kMaxCopyBatch, spans.size() - i)), writable, into);
}

void LinkClient::hold_chunk(DomId domid, std::span<HeldSpan> spans, bool writable, GrantHold& into) {
    const std::size_t count = spans.size();
    Header h{static_cast<std::uint16_t>(MsgType::copy), static_cast<std::uint16_t>(count), 0};
    std::memcpy(out_, &h, sizeof h);
    for (std::size_t i = 0; i < count; ++i) {
        // The held side is foreign, the other the back-end's own memory.
        CopySideWire granted{};
        granted.foreign = 1;
        granted.domid = domid;
        granted.ref = spans[i].ref;
        granted.offset = spans[i].offset;
        CopyOpWire w{};
        (writable ? w.dest : w.source) = granted;
        w.len = spans[i].len;
        std::memcpy(out_ + sizeof(CopyRequest) + i * sizeof w, &w, sizeof w);
    }
    const std::size_t len = round_trip(sizeof(CopyRequest) + count * sizeof(CopyOpWire),
                                       MsgType::copy_reply, sizeof(CopyReply));
    const auto rep = len ? load<CopyReply>(in_) : CopyReply{};
    if (len && (rep.h.count != count || len != sizeof(CopyReply) + count * sizeof(CopyResult))) broken_ = true;
    for (std::size_t i = 0; i < count; ++i) {
        HeldSpan& s = spans[i];
        s.data = nullptr;
        if (broken_) {
            s.status = GNTST_general_error;
            continue;
        }
        const auto res = load<CopyResult>(in_ + sizeof(CopyReply) + i * sizeof(CopyResult));
        if (res.status > 0) broken_ = true;  // not a GNTST code
        s.status = broken_ ? std::int16_t{GNTST_general_error} : res.status;
        if (s.status != GNTST_okay) continue;
        // The server checked the bounds; checked again, its answer is not
        // trusted either.
        const std::uint64_t offset = writable ? res.dest_offset : res.source_offset;
        if (!page_ok(offset) || s.offset + std::size_t{s.len} > kXenPageSize) {
            s.status = GNTST_general_error;
            continue;
        }
        s.data = view_ + offset + s.offset;
    }
    // Whatever the server holds is given back with the hold, even if the
    // reply was refused: a broken link drops the pins with the connection.
    if (len && rep.handle != kNoHandle) into.add(this, rep.handle);
}

void LinkClient::release_held(std::span<const std::uint64_t> cookies) {
    std::lock_guard lock(mu_);
    for (std::uint64_t c : cookies) {
        Release release{};
        release.h = {static_cast<std::uint16_t>(MsgType::copy_release), 0, 0};
        release.handle = static_cast<std::uint32_t>(c);
        send_only(&release, sizeof release);
    }
}

std::pair<Port, int> LinkClient::bind_interdomain(DomId remote, Port remote_port) {
    std::lock_guard lock(mu_);
    BindRequest req{};
    req.h = {static_cast<std::uint16_t>(MsgType::bind), 0, 0};
    req.remote = remote;
    req.remote_port = remote_port;
    std::memcpy(out_, &req, sizeof req);
    std::size_t nfds = 0;
    UniqueFd fds[kMaxFds];
    const std::size_t len = round_trip(sizeof req, MsgType::bind_reply, sizeof(BindReply), &nfds, fds);
    if (len == 0) return {0, -EIO};
    const auto rep = load<BindReply>(in_);
    if (len != sizeof(BindReply) || rep.status > 0 || (rep.status == 0) != (nfds == 2)) {
        broken_ = true;
        return {0, -EIO};
    }
    if (rep.status < 0) return {0, rep.status};
    for (const Binding& b : bindings_)
        if (b.port == rep.port) {
            broken_ = true;
            return {0, -EIO};
        }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = rep.port;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fds[0].get(), &ev) != 0) {
        const int err = errno;
        Unbind u{};
        u.h = {static_cast<std::uint16_t>(MsgType::unbind), 0, 0};
        u.port = rep.port;
        send_only(&u, sizeof u);
        return {0, -err};
    }
    bindings_.push_back(Binding{rep.port, std::move(fds[0]), std::move(fds[1])});
    return {rep.port, 0};
}

void LinkClient::unbind(Port local) {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < bindings_.size(); ++i) {
        if (bindings_[i].port != local) continue;
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, bindings_[i].pending.get(), nullptr);
        bindings_[i] = std::move(bindings_.back());
        bindings_.pop_back();
        Unbind u{};
        u.h = {static_cast<std::uint16_t>(MsgType::unbind), 0, 0};
        u.port = local;
        send_only(&u, sizeof u);
        return;
    }
}

std::optional<Port> LinkClient::pending() {
    std::lock_guard lock(mu_);
    epoll_event ev[8];
    const int n = ::epoll_wait(epoll_.get(), ev, 8, 0);
    for (int i = 0; i < n; ++i) {
        for (const Binding& b : bindings_) {
            if (b.port != ev[i].data.u32) continue;
            eventfd_t count = 0;
            if (::eventfd_read(b.pending.get(), &count) == 0 && count != 0) return b.port;
        }
    }
    return std::nullopt;
}

int LinkClient::notify(Port local) {
    std::lock_guard lock(mu_);
    for (const Binding& b : bindings_)
        if (b.port == local) return ::eventfd_write(b.notify.get(), 1) == 0 ? 0 : -errno;
    return -EINVAL;
}

}  // namespace xenolith::backend::link
