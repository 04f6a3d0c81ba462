#include "console/console_backend.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
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

// False when the file cannot take more (ENOSPC, EIO): the caller gives up
// on the chunk rather than spinning.
bool write_all(int fd, const char* data, std::size_t len) {
    while (len) {
        ssize_t n = ::write(fd, data, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data += n;
        len -= static_cast<std::size_t>(n);
    }
    return true;
}

// Sends all of `data` to a client unless it stops reading for `timeout_ms`.
void send_with_timeout(int fd, const char* data, std::size_t len, int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (len) {
        ssize_t n = ::send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            len -= static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return;
        pollfd p{fd, POLLOUT, 0};
        ::poll(&p, 1, static_cast<int>(left.count()));
    }
}

UniqueFd open_log(const std::string& path) {
    return UniqueFd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
}

}  // namespace

Result<std::unique_ptr<ConsoleBackend>> ConsoleBackend::create(xencons_interface* ring,
                                                               const std::string& log_path) {
    UniqueFd log = open_log(log_path);
    if (!log.valid())
        return make_error(fmt::format("cannot open console log {}: {}", log_path,
                                      std::strerror(errno)));
    struct stat st {};
    const std::uint64_t size = ::fstat(log.get(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size)
                                                            : 0;
    return std::unique_ptr<ConsoleBackend>(
        new ConsoleBackend(ring, std::move(log), size, log_path));
}

ConsoleBackend::ConsoleBackend(xencons_interface* ring, UniqueFd log, std::uint64_t log_size,
                               std::string log_path)
    : ring_(ring), log_(std::move(log)), log_size_(log_size), log_path_(std::move(log_path)),
      io_thread_([this] { io_thread(); }) {}

ConsoleBackend::~ConsoleBackend() { close(); }

Status ConsoleBackend::connect(std::shared_ptr<evtchn::EventChannels> host,
                               evtchn::EventChannels& guest, evtchn::Port guest_port) {
    evtchn::Port port = 0;
    const long rc = host->bind_host(guest, guest_port, [this](evtchn::Port) { drain(); }, &port);
    if (rc) return make_error(fmt::format("cannot bind console event channel: {}", rc));
    std::lock_guard lock(ring_mu_);
    host_ = std::move(host);
    host_port_ = port;
    return ok_status();
}

Status ConsoleBackend::reconnect(evtchn::EventChannels& guest, evtchn::Port guest_port) {
    std::shared_ptr<evtchn::EventChannels> host;
    evtchn::Port old = 0;
    {
        std::lock_guard lock(ring_mu_);
        host = host_;
        old = std::exchange(host_port_, 0);
    }
    if (!host) return make_error("console: never connected");
    if (old) host->close(old);
    return connect(std::move(host), guest, guest_port);
}

void ConsoleBackend::drain() {
    std::lock_guard lock(ring_mu_);
    if (closed_) return;
    drain_locked();
}

void ConsoleBackend::drain_locked() {
    // The indexes are guest-written: read each once and sanity-check them.
    XENCONS_RING_IDX cons = ring_->out_cons;
    const XENCONS_RING_IDX prod = load_acquire(&ring_->out_prod);
    if (prod - cons > sizeof(ring_->out)) {
        log::warn("console: guest ring indexes are inconsistent (prod {} cons {}); resyncing",
                  prod, cons);
        store_release(&ring_->out_cons, prod);
        return;
    }
    const std::size_t room = kMaxPending - std::min(kMaxPending, pending_.size());
    const std::size_t avail = prod - cons;
    const std::size_t n = std::min(room, avail);
    for (std::size_t i = 0; i < n; ++i)
        pending_.push_back(ring_->out[MASK_XENCONS_IDX(cons++, ring_->out)]);
    ring_waiting_ = n < avail;
    if (n) {
        store_release(&ring_->out_cons, cons);
        notify_guest();  // the guest may be waiting for room
        io_cv_.notify_one();
    }
}

void ConsoleBackend::io_thread() {
    pthread_setname_np(pthread_self(), "console-io");
    std::string chunk;
    std::unique_lock lock(ring_mu_);
    for (;;) {
        io_cv_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
        if (pending_.empty()) return;  // stopping, and everything is out
        chunk.clear();
        chunk.swap(pending_);
        // Room again: take what the guest has been holding back.
        if (ring_waiting_) drain_locked();
        lock.unlock();
        {
            std::lock_guard io(io_mu_);
            write_out(chunk);
        }
        lock.lock();
    }
}

void ConsoleBackend::write_out(const std::string& chunk) {
    write_log(chunk.data(), chunk.size());
    if (clients_.empty()) {
        backlog_.append(chunk);
        if (backlog_.size() > kMaxBacklog) backlog_.erase(0, backlog_.size() - kMaxBacklog);
        return;
    }
    // Non-blocking: a stalled client loses output rather than stalling
    // every other client, the log and, through the ring, the guest.
    for (int fd : clients_) ::send(fd, chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

void ConsoleBackend::write_log(const char* data, std::size_t len) {
    if (log_size_ > 0 && log_size_ + len > kLogMaxBytes) rotate_log();
    if (!log_.valid()) return;
    if (!write_all(log_.get(), data, len)) {
        if (!log_failed_)
            log::warn("console: cannot write {}: {}; output is not logged", log_path_,
                      std::strerror(errno));
        log_failed_ = true;
        return;
    }
    log_size_ += len;
}

void ConsoleBackend::rotate_log() {
    const auto numbered = [&](unsigned n) { return fmt::format("{}.{}", log_path_, n); };
    ::unlink(numbered(kLogKeep).c_str());
    for (unsigned n = kLogKeep - 1; n >= 1; --n)
        ::rename(numbered(n).c_str(), numbered(n + 1).c_str());  // ENOENT: a gap, fine
    if (::rename(log_path_.c_str(), numbered(1).c_str()) != 0 && errno != ENOENT)
        log::warn("console: cannot rotate {}: {}", log_path_, std::strerror(errno));
    log_ = open_log(log_path_);
    log_size_ = 0;
    if (!log_.valid() && !log_failed_) {
        log::warn("console: cannot reopen {}: {}; output is not logged", log_path_,
                  std::strerror(errno));
        log_failed_ = true;
    }
}

void ConsoleBackend::notify_guest() {
    if (host_) host_->send(host_port_);
}

void ConsoleBackend::attach(int client_fd) {
    std::lock_guard lock(io_mu_);
    if (!backlog_.empty()) {
        send_with_timeout(client_fd, backlog_.data(), backlog_.size(), kBacklogSendTimeoutMs);
        backlog_.clear();
    }
    if (clients_closed_) {
        ::shutdown(client_fd, SHUT_RDWR);
        return;
    }
    clients_.push_back(client_fd);
}

void ConsoleBackend::detach(int client_fd) {
    std::lock_guard lock(io_mu_);
    clients_.erase(std::remove(clients_.begin(), clients_.end(), client_fd), clients_.end());
}

std::size_t ConsoleBackend::input(const char* data, std::size_t len) {
    std::lock_guard lock(ring_mu_);
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
    {
        std::lock_guard lock(ring_mu_);
        if (!closed_) {
            drain_locked();  // the guest's last words
            closed_ = true;
        }
        stopping_ = true;
    }
    io_cv_.notify_all();
    if (io_thread_.joinable()) io_thread_.join();  // writes out everything taken
    {
        std::lock_guard lock(io_mu_);
        clients_closed_ = true;
        for (int fd : clients_) ::shutdown(fd, SHUT_RDWR);
        clients_.clear();
    }
    std::shared_ptr<evtchn::EventChannels> host;
    evtchn::Port port = 0;
    {
        std::lock_guard lock(ring_mu_);
        host = host_;
        port = std::exchange(host_port_, 0);
    }
    if (host && port) host->close(port);
}

}  // namespace xenolith::console
