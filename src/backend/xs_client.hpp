// Xenstore for a back-end process: the Xen wire protocol (xs_wire.h) over a
// stream socket it was handed already connected, normally the fd of
// XenstoreService::connect_scoped. Synchronous: one request at a time, its
// reply matched by req_id; watch events that arrive meanwhile are queued.
//
// The server's bytes are untrusted: a length past XENSTORE_PAYLOAD_MAX, a
// reply to no request or to another one, a reply of the wrong type, a
// malformed payload or an unknown error name fail the connection (EIO), a
// closed socket too (ENOTCONN); every later request then returns that
// errno. It never blocks forever on a well-behaved server and never trusts a
// length, but it has no timeout: a server that stops answering stalls it.
//
// System calls: sendmsg/recvmsg/poll on the socket, epoll and an eventfd it
// creates, read/write/close: all allowed by the back-end's seccomp filter.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "backend/services.hpp"
#include "base/result.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::backend {

class SocketXenstore final : public Xenstore {
public:
    // Takes ownership of `fd` (a connected SOCK_STREAM socket, blocking or
    // not), also when it fails.
    static Result<std::unique_ptr<SocketXenstore>> open(int fd);
    ~SocketXenstore() override = default;
    SocketXenstore(const SocketXenstore&) = delete;
    SocketXenstore& operator=(const SocketXenstore&) = delete;

    std::pair<std::string, int> read(Tx tx, const std::string& path) override;
    int write(Tx tx, const std::string& path, const std::string& value) override;
    int mkdir(Tx tx, const std::string& path) override;
    int rm(Tx tx, const std::string& path) override;
    std::pair<std::vector<std::string>, int> directory(Tx tx, const std::string& path) override;
    int set_perms(Tx tx, const std::string& path, std::span<const XsPerm> perms) override;
    std::pair<Tx, int> transaction_start() override;
    int transaction_end(Tx tx, bool commit) override;
    int watch(const std::string& path, const std::string& token) override;
    int unwatch(const std::string& path, const std::string& token) override;
    // Readable while an event is queued or the socket has bytes; also
    // (like a hung-up socket) once the connection has failed.
    int watch_fd() const override { return epoll_.get(); }
    // Takes what the socket holds without blocking, then the oldest event.
    std::optional<WatchEvent> next_watch_event() override;

    // Not in the Xenstore interface: GET_PERMS, and the connection's state.
    std::pair<std::vector<XsPerm>, int> get_perms(Tx tx, const std::string& path);
    // 0 while usable, else the errno every request now returns.
    int failure() const { return failed_; }
    // Events dropped because kMaxQueuedEvents were waiting.
    std::uint64_t dropped_events() const { return dropped_events_; }

    static constexpr std::size_t kMaxQueuedEvents = 4096;

private:
    struct Message {
        std::uint32_t type = 0;
        std::uint32_t req_id = 0;
        std::uint32_t tx_id = 0;
        std::string payload;
    };

    SocketXenstore(UniqueFd sock, UniqueFd epoll, UniqueFd events)
        : sock_(std::move(sock)), epoll_(std::move(epoll)), event_fd_(std::move(events)) {}

    // Sends `type` with `payload` and waits for its reply payload; a positive
    // errno from XS_ERROR or from the connection.
    std::pair<std::string, int> request(std::uint32_t type, Tx tx, const std::string& payload);
    // A request whose reply must be "OK".
    int request_ok(std::uint32_t type, Tx tx, const std::string& payload);
    int send_all(const std::string& bytes);
    // Reads what the socket has into in_ (waiting first if `block`); false
    // once the connection has failed.
    bool receive(bool block);
    // The next complete message in in_, if any; fails the connection on a
    // bad header.
    std::optional<Message> take_message();
    // Queues every complete message left in in_, which must all be events.
    void drain_buffered();
    // Queues a watch event; false (connection failed) if malformed.
    bool queue_event(const Message& m);
    void fail(int err);
    void update_signal();

    UniqueFd sock_;
    UniqueFd epoll_;     // sock_ and event_fd_
    UniqueFd event_fd_;  // counter non-zero while events_ is not empty
    bool signalled_ = false;
    std::string in_;     // received bytes not yet taken as messages
    std::deque<WatchEvent> events_;
    std::uint32_t next_req_id_ = 1;
    int failed_ = 0;
    std::uint64_t dropped_events_ = 0;
};

}  // namespace xenolith::backend
