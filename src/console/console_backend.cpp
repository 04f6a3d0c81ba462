#include "console/console_backend.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "base/log.hpp"

namespace xenolith::console {
namespace {

XENCONS_RING_IDX load_acquire(const XENCONS_RING_IDX* p) {
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
void store_release(XENCONS_RING_IDX* p, XENCONS_RING_IDX v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

void write_all(int fd, const char* data, std::size_t len) {
    while (len) {
        ssize_t n = ::write(fd, data, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        data += n;
        len -= static_cast<std::size_t>(n);
    }
}

}  // namespace

Result<std::unique_ptr<ConsoleBackend>> ConsoleBackend::create(xencons_interface* ring,
                                                               const std::string& log_path) {
    UniqueFd log(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
    if (!log.valid())
        return make_error(fmt::format("cannot open console log {}: {}", log_path,
                                      std::strerror(errno)));
    return std::unique_ptr<ConsoleBackend>(new ConsoleBackend(ring, std::move(log), log_path));
}

ConsoleBackend::~ConsoleBackend() { close(); }

Status ConsoleBackend::connect(std::shared_ptr<evtchn::EventChannels> host,
                               evtchn::EventChannels& guest, evtchn::Port guest_port) {
    evtchn::Port port = 0;
    const long rc = host->bind_host(guest, guest_port, [this](evtchn::Port) { drain(); }, &port);
    if (rc) return make_error(fmt::format("cannot bind console event channel: {}", rc));
    std::lock_guard lock(mu_);
    host_ = std::move(host);
    host_port_ = port;
    return ok_status();
}

Status ConsoleBackend::reconnect(evtchn::EventChannels& guest, evtchn::Port guest_port) {
    std::shared_ptr<evtchn::EventChannels> host;
    evtchn::Port old = 0;
    {
        std::lock_guard lock(mu_);
        host = host_;
        old = std::exchange(host_port_, 0);
    }
    if (!host) return make_error("console: never connected");
    if (old) host->close(old);
    return connect(std::move(host), guest, guest_port);
}

void ConsoleBackend::drain() {
    std::lock_guard lock(mu_);
    if (closed_) return;
    // The indexes are guest-written: read each once and sanity-check them.
    XENCONS_RING_IDX cons = ring_->out_cons;
    const XENCONS_RING_IDX prod = load_acquire(&ring_->out_prod);
    if (prod - cons > sizeof(ring_->out)) {
        log::warn("console: guest ring indexes are inconsistent (prod {} cons {}); resyncing",
                  prod, cons);
        store_release(&ring_->out_cons, prod);
        return;
    }
    char buf[sizeof(ring_->out)];
    std::size_t n = 0;
    while (cons != prod) buf[n++] = ring_->out[MASK_XENCONS_IDX(cons++, ring_->out)];
    store_release(&ring_->out_cons, cons);
    if (n) {
        emit(buf, n);
        notify_guest();  // the guest may be waiting for room
    }
}

void ConsoleBackend::emit(const char* data, std::size_t len) {
    write_all(log_.get(), data, len);
    if (clients_.empty()) {
        backlog_.append(data, len);
        if (backlog_.size() > kMaxBacklog) backlog_.erase(0, backlog_.size() - kMaxBacklog);
        return;
    }
    for (int fd : clients_) {
        // Non-blocking: a stalled client loses output rather than stalling
        // the guest's vCPU.
        ::send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
}

void ConsoleBackend::notify_guest() {
    if (host_) host_->send(host_port_);
}

void ConsoleBackend::attach(int client_fd) {
    std::lock_guard lock(mu_);
    if (!backlog_.empty()) {
        ::send(client_fd, backlog_.data(), backlog_.size(), MSG_NOSIGNAL);
        backlog_.clear();
    }
    if (closed_) {
        ::shutdown(client_fd, SHUT_RDWR);
        return;
    }
    clients_.push_back(client_fd);
}

void ConsoleBackend::detach(int client_fd) {
    std::lock_guard lock(mu_);
    clients_.erase(std::remove(clients_.begin(), clients_.end(), client_fd), clients_.end());
}

std::size_t ConsoleBackend::input(const char* data, std::size_t len) {
    std::lock_guard lock(mu_);
    if (closed_) return 0;
    const XENCONS_RING_IDX cons = load_acquire(&ring_->in_cons);
    XENCONS_RING_IDX prod = ring_->in_prod;
    if (prod - cons > sizeof(ring_->in)) return 0;  // guest corrupted the ring
    std::size_t n = 0;
    while (n < len && prod - cons < sizeof(ring_->in))
        ring_->in[MASK_XENCONS_IDX(prod++, ring_->in)] = data[n++];
    store_release(&ring_->in_prod, prod);
    notify_guest();
    return n;
}

void ConsoleBackend::close() {
    drain();
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    for (int fd : clients_) ::shutdown(fd, SHUT_RDWR);
    clients_.clear();
    if (host_ && host_port_) {
        host_->close(host_port_);
        host_port_ = 0;
    }
}

}  // namespace xenolith::console
