#include "backend/xs_client.hpp"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

extern "C" {
#include <xen/io/xs_wire.h>
}

namespace xenolith::backend {

namespace {

constexpr std::size_t kHeaderSize = sizeof(xsd_sockmsg);
static_assert(kHeaderSize == 16);
constexpr std::size_t kReceiveChunk = 8192;

// "EACCES" -> EACCES through xs_wire.h's table; 0 for a name it lacks.
int errno_from_name(std::string_view name) {
    for (const auto& e : xsd_errors) {
        if (name == e.errstring) return e.errnum;
    }
    return 0;
}

// The NUL-terminated strings of `payload`, or nothing if it does not end in
// NUL (an empty payload is no strings).
std::optional<std::vector<std::string>> split_strings(std::string_view payload) {
    std::vector<std::string> out;
    if (payload.empty()) return out;
    if (payload.back() != '\0') return std::nullopt;
    std::size_t start = 0;
    while (start < payload.size()) {
        const std::size_t nul = payload.find('\0', start);
        out.emplace_back(payload.substr(start, nul - start));
        start = nul + 1;
    }
    return out;
}

bool has_nul(const std::string& s) { return s.find('\0') != std::string::npos; }

std::string with_nul(const std::string& s) {
    std::string out = s;
    out += '\0';
    return out;
}

}  // namespace

Result<std::unique_ptr<SocketXenstore>> SocketXenstore::open(int fd) {
    UniqueFd sock(fd);
    if (!sock.valid()) return make_error("xenstore client: no socket");
    UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
    UniqueFd events(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!epoll.valid() || !events.valid())
        return make_error(fmt::format("xenstore client: epoll/eventfd: {}", std::strerror(errno)));
    for (int watched : {sock.get(), events.get()}) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = watched;
        if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, watched, &ev) < 0)
            return make_error(fmt::format("xenstore client: epoll_ctl: {}", std::strerror(errno)));
    }
    return std::unique_ptr<SocketXenstore>(
        new SocketXenstore(std::move(sock), std::move(epoll), std::move(events)));
}

// ---- the connection ---------------------------------------------------

void SocketXenstore::fail(int err) {
    if (failed_) return;
    failed_ = err;
    in_.clear();
    // Nothing more is read from the socket; the eventfd stays signalled
    // so that a loop polling watch_fd() wakes up and learns of it.
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, sock_.get(), nullptr);
    update_signal();
}

void SocketXenstore::update_signal() {
    const bool want = !events_.empty() || failed_ != 0;
    if (want == signalled_) return;
    std::uint64_t v = 1;
    if (want) {
        if (::write(event_fd_.get(), &v, sizeof v) != sizeof v) return;
    } else {
        if (::read(event_fd_.get(), &v, sizeof v) != sizeof v) return;
    }
    signalled_ = want;
}

int SocketXenstore::send_all(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        iovec iov{const_cast<char*>(bytes.data() + sent), bytes.size() - sent};
        msghdr mh{};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        const ssize_t n = ::sendmsg(sock_.get(), &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            sent += static_cast<std::size_t>(n);
            continue;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return ENOTCONN;
        pollfd p{sock_.get(), POLLOUT, 0};
        if (::poll(&p, 1, -1) < 0 && errno != EINTR) return EIO;
    }
    return 0;
}

bool SocketXenstore::receive(bool block) {
    if (failed_) return false;
    for (;;) {
        const std::size_t old = in_.size();
        in_.resize(old + kReceiveChunk);
        iovec iov{in_.data() + old, kReceiveChunk};
        msghdr mh{};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        const ssize_t n = ::recvmsg(sock_.get(), &mh, MSG_DONTWAIT);
        const int err = errno;
        in_.resize(old + (n > 0 ? static_cast<std::size_t>(n) : 0));
        if (n > 0) return true;
        if (n == 0) {
            fail(ENOTCONN);
            return false;
        }
        if (err == EINTR) continue;
        if (err != EAGAIN && err != EWOULDBLOCK) {
            fail(ENOTCONN);
            return false;
        }
        if (!block) return true;
        pollfd p{sock_.get(), POLLIN, 0};
        if (::poll(&p, 1, -1) < 0 && errno != EINTR) {
            fail(EIO);
            return false;
        }
    }
}

std::optional<SocketXenstore::Message> SocketXenstore::take_message() {
    if (failed_ || in_.size() < kHeaderSize) return std::nullopt;
    xsd_sockmsg hdr;
    std::memcpy(&hdr, in_.data(), kHeaderSize);
    if (hdr.len > XENSTORE_PAYLOAD_MAX) {
        fail(EIO);
        return std::nullopt;
    }
    if (in_.size() < kHeaderSize + hdr.len) return std::nullopt;
    Message m{hdr.type, hdr.req_id, hdr.tx_id, in_.substr(kHeaderSize, hdr.len)};
    in_.erase(0, kHeaderSize + hdr.len);
    return m;
}

bool SocketXenstore::queue_event(const Message& m) {
    auto parts = split_strings(m.payload);
    if (!parts || parts->size() != 2) {
        fail(EIO);
        return false;
    }
    if (events_.size() >= kMaxQueuedEvents) {
        ++dropped_events_;
        return true;
    }
    events_.push_back(WatchEvent{std::move((*parts)[0]), std::move((*parts)[1])});
    update_signal();
    return true;
}

std::pair<std::string, int> SocketXenstore::request(std::uint32_t type, Tx tx,
                                                    const std::string& payload) {
    if (failed_) return {{}, failed_};
    if (payload.size() > XENSTORE_PAYLOAD_MAX) return {{}, E2BIG};
    xsd_sockmsg hdr{};
    hdr.type = type;
    hdr.req_id = next_req_id_++;
    hdr.tx_id = tx;
    hdr.len = static_cast<std::uint32_t>(payload.size());
    std::string bytes(reinterpret_cast<const char*>(&hdr), kHeaderSize);
    bytes += payload;
    if (int e = send_all(bytes)) {
        fail(e);
        return {{}, failed_};
    }
    for (;;) {
        while (auto m = take_message()) {
            if (m->type == XS_WATCH_EVENT) {
                if (!queue_event(*m)) return {{}, failed_};
                continue;
            }
            // One request is outstanding: anything else must answer it.
            if (m->req_id != hdr.req_id || (m->type != type && m->type != XS_ERROR)) {
                fail(EIO);
                return {{}, failed_};
            }
            // Events sent right behind the reply are queued now: the socket
            // will not report them again.
            drain_buffered();
            if (failed_) return {{}, failed_};
            if (m->type != XS_ERROR) return {std::move(m->payload), 0};
            auto name = split_strings(m->payload);
            const int err = name && name->size() == 1 ? errno_from_name(name->front()) : 0;
            if (err <= 0) fail(EIO);
            return {{}, failed_ ? failed_ : err};
        }
        if (!receive(true)) return {{}, failed_};
    }
}

int SocketXenstore::request_ok(std::uint32_t type, Tx tx, const std::string& payload) {
    auto [reply, err] = request(type, tx, payload);
    if (err) return err;
    if (reply != std::string_view("OK\0", 3) && reply != "OK") {
        fail(EIO);
        return failed_;
    }
    return 0;
}

void SocketXenstore::drain_buffered() {
    while (auto m = take_message()) {
        if (m->type != XS_WATCH_EVENT) {
            fail(EIO);  // a reply with no request outstanding
            return;
        }
        if (!queue_event(*m)) return;
    }
}

std::optional<Xenstore::WatchEvent> SocketXenstore::next_watch_event() {
    // Everything the socket holds is taken (a bounded number of chunks, in
    // case the server floods), so that it stops reporting readable once at
    // most a partial message is left.
    for (int i = 0; i < 64 && !failed_; ++i) {
        const std::size_t before = in_.size();
        if (!receive(false)) break;
        const bool got = in_.size() != before;
        drain_buffered();
        if (!got) break;
    }
    std::optional<WatchEvent> ev;
    if (!events_.empty()) {
        ev = std::move(events_.front());
        events_.pop_front();
    }
    update_signal();
    return ev;
}

// ---- the operations ---------------------------------------------------

std::pair<std::string, int> SocketXenstore::read(Tx tx, const std::string& path) {
    if (has_nul(path)) return {{}, EINVAL};
    return request(XS_READ, tx, with_nul(path));
}

int SocketXenstore::write(Tx tx, const std::string& path, const std::string& value) {
    if (has_nul(path)) return EINVAL;
    return request_ok(XS_WRITE, tx, with_nul(path) + value);
}

int SocketXenstore::mkdir(Tx tx, const std::string& path) {
    if (has_nul(path)) return EINVAL;
    return request_ok(XS_MKDIR, tx, with_nul(path));
}

int SocketXenstore::rm(Tx tx, const std::string& path) {
    if (has_nul(path)) return EINVAL;
    return request_ok(XS_RM, tx, with_nul(path));
}

std::pair<std::vector<std::string>, int> SocketXenstore::directory(Tx tx,
                                                                   const std::string& path) {
    if (has_nul(path)) return {{}, EINVAL};
    auto [reply, err] = request(XS_DIRECTORY, tx, with_nul(path));
    if (err) return {{}, err};
    auto names = split_strings(reply);
    if (!names) {
        fail(EIO);
        return {{}, failed_};
    }
    return {std::move(*names), 0};
}

int SocketXenstore::set_perms(Tx tx, const std::string& path, std::span<const XsPerm> perms) {
    if (has_nul(path) || perms.empty()) return EINVAL;
    std::string payload = with_nul(path);
    for (const XsPerm& p : perms) {
        if (p.access != 'n' && p.access != 'r' && p.access != 'w' && p.access != 'b')
            return EINVAL;
        payload += p.access;
        payload += std::to_string(p.domid);
        payload += '\0';
    }
    return request_ok(XS_SET_PERMS, tx, payload);
}

std::pair<std::vector<XsPerm>, int> SocketXenstore::get_perms(Tx tx, const std::string& path) {
    if (has_nul(path)) return {{}, EINVAL};
    auto [reply, err] = request(XS_GET_PERMS, tx, with_nul(path));
    if (err) return {{}, err};
    auto items = split_strings(reply);
    std::vector<XsPerm> perms;
    bool ok = items && !items->empty();
    for (std::size_t i = 0; ok && i < items->size(); ++i) {
        const std::string& s = (*items)[i];
        ok = s.size() >= 2 && s.size() <= 6 && std::string_view("nrwb").find(s[0]) != std::string_view::npos;
        std::uint32_t id = 0;
        for (std::size_t k = 1; ok && k < s.size(); ++k) {
            ok = s[k] >= '0' && s[k] <= '9';
            id = id * 10 + static_cast<std::uint32_t>(s[k] - '0');
        }
        ok = ok && id <= 0xffff;
        if (ok) perms.push_back(XsPerm{static_cast<DomId>(id), s[0]});
    }
    if (!ok) {
        fail(EIO);
        return {{}, failed_};
    }
    return {std::move(perms), 0};
}

std::pair<Xenstore::Tx, int> SocketXenstore::transaction_start() {
    auto [reply, err] = request(XS_TRANSACTION_START, 0, std::string(1, '\0'));
    if (err) return {0, err};
    auto items = split_strings(reply);
    std::uint64_t id = 0;
    bool ok = items && items->size() == 1 && !items->front().empty() &&
              items->front().size() <= 10;
    for (char c : ok ? items->front() : std::string()) {
        ok = ok && c >= '0' && c <= '9';
        id = id * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (!ok || id == 0 || id > UINT32_MAX) {
        fail(EIO);
        return {0, failed_};
    }
    return {static_cast<Tx>(id), 0};
}

int SocketXenstore::transaction_end(Tx tx, bool commit) {
    if (tx == 0) return EINVAL;
    return request_ok(XS_TRANSACTION_END, tx, std::string(commit ? "T" : "F") + '\0');
}

int SocketXenstore::watch(const std::string& path, const std::string& token) {
    if (has_nul(path) || has_nul(token)) return EINVAL;
    return request_ok(XS_WATCH, 0, with_nul(path) + with_nul(token));
}

int SocketXenstore::unwatch(const std::string& path, const std::string& token) {
    if (has_nul(path) || has_nul(token)) return EINVAL;
    return request_ok(XS_UNWATCH, 0, with_nul(path) + with_nul(token));
}

}  // namespace xenolith::backend
