// The serving end of one back-end's link (wire.hpp): answers its map, copy
// and bind requests through a LinkProvider, holds what it pinned and bound
// on the back-end's behalf, forwards its notifications, and gives all of it
// back when the back-end's socket closes (the process died or quit) or the
// server is destroyed. Single-threaded: the owner polls fd() and calls
// handle(); only the guest-notify path runs on other threads (it writes an
// eventfd the server keeps alive). Anything malformed from the back-end
// (sizes, types, counts, handles, fds where none belong, replies it never
// reads) drops the connection, with the same teardown.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "backend/link/link_provider.hpp"
#include "backend/link/wire.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::backend::link {

// Per back-end bounds besides the provider's own (maptrack).
inline constexpr std::size_t kMaxPinsPerLink = 1024 * 256;  // Xen's largest maptrack
inline constexpr std::size_t kMaxPortsPerLink = 64;

class LinkServer {
public:
    // Takes ownership of `socket_fd` (one end of a SOCK_SEQPACKET pair whose
    // other end the back-end holds) and sends the hello with the memfd.
    // `provider` must outlive the server (its destructor releases through it).
    LinkServer(int socket_fd, LinkProvider& provider);
    ~LinkServer();
    LinkServer(const LinkServer&) = delete;
    LinkServer& operator=(const LinkServer&) = delete;

    // Readable (epoll) when handle() has something to do.
    int fd() const { return epoll_.get(); }
    // Serves what is ready, without blocking.
    void handle();
    // False once the back-end is gone and everything it held released.
    bool connected() const { return sock_.valid(); }

    std::size_t pins_held() const { return pins_; }
    std::size_t ports_bound() const { return bindings_.size(); }

private:
    struct Batch {
        bool in_use = false;
        bool copy = false;
        std::vector<LinkProvider::Cookie> cookies;  // capacity kept for reuse
    };
    struct Binding {
        Port port = 0;
        UniqueFd notify;                   // the back-end writes, we read
        std::shared_ptr<UniqueFd> pending; // we write, from any thread
    };

    // Each returns false when the message was malformed (drop the link).
    bool serve_one(const std::byte* msg, std::size_t len, std::size_t nfds);
    bool serve_map(const std::byte* msg, std::size_t len);
    bool serve_copy(const std::byte* msg, std::size_t len);
    bool serve_release(const std::byte* msg, std::size_t len, bool copy);
    bool serve_bind(const std::byte* msg, std::size_t len);
    bool serve_unbind(const std::byte* msg, std::size_t len);
    bool reply(const void* msg, std::size_t len, std::span<const int> fds = {});
    void forward_notify(Port port);

    std::uint32_t new_batch(bool copy);
    void release_batch(std::uint32_t handle);
    Binding* find_binding(Port port);
    void disconnect();

    LinkProvider& provider_;
    UniqueFd sock_;
    UniqueFd epoll_;
    std::vector<Batch> batches_;
    std::vector<std::uint32_t> free_batches_;
    std::size_t pins_ = 0;
    std::vector<Binding> bindings_;
    alignas(8) std::byte in_[kMaxMessage];
    alignas(8) std::byte out_[kMaxMessage];
};

}  // namespace xenolith::backend::link
