// The back-end's end of a link (wire.hpp): Grants and EventChannels for a
// sandboxed back-end process, served by a LinkServer across one
// SOCK_SEQPACKET socket. A map is one round trip for the whole batch, then
// the pages are mmap'ed from the front end's memfd (received once, in the
// hello) into one contiguous range, PROT_READ only unless writable; unmap
// is fire-and-forget. Copies acquire in one round trip, copy through one
// read-write view of the memfd and release fire-and-forget. Notifications
// go straight to an eventfd, never through the socket. Replies are checked
// as untrusted input: a malformed one breaks the link and every later
// operation fails (GNTST_general_error, -EIO). Thread-safe; must outlive
// the mappings it made.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "backend/link/grant_hold.hpp"
#include "backend/link/wire.hpp"
#include "backend/services.hpp"
#include "base/result.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::backend::link {

class LinkClient final : private Grants,
                         private EventChannels,
                         private GrantHolder,
                         private GrantMapping::Owner,
                         private GrantHold::Owner {
public:
    // Takes ownership of `socket_fd` and waits for the server's hello.
    static Result<std::unique_ptr<LinkClient>> connect(int socket_fd);
    ~LinkClient() override;
    LinkClient(const LinkClient&) = delete;
    LinkClient& operator=(const LinkClient&) = delete;

    Grants& grants() { return *this; }
    EventChannels& evtchn() { return *this; }
    // Holds go over the copy messages (a hold is a copy side whose copying
    // is the caller's: the same acquire, checks and codes on the server),
    // one round trip per kMaxCopyBatch spans; release is fire-and-forget.
    GrantHolder& holder() { return *this; }
    // Requests that waited for a reply, since connect: what batching is
    // measured by.
    std::uint64_t round_trips() const;

    DomId frontend() const { return frontend_; }
    std::uint64_t memory_bytes() const { return memory_bytes_; }
    // False once the server went away or answered something malformed.
    bool linked() const { return !broken_; }

private:
    LinkClient() = default;

    // Grants
    std::pair<GrantMapping, std::int16_t> map(DomId domid, std::span<const GrantRef> refs,
                                              bool writable) override;
    void copy(std::span<CopyOp> ops) override;
    void unmap(std::byte* addr, std::size_t pages, std::uintptr_t cookie) override;
    void copy_chunk(std::span<CopyOp> ops);
    // GrantHolder
    void hold(DomId domid, std::span<HeldSpan> spans, bool writable, GrantHold& into) override;
    void hold_chunk(DomId domid, std::span<HeldSpan> spans, bool writable, GrantHold& into);
    void release_held(std::span<const std::uint64_t> cookies) override;
    // EventChannels
    std::pair<Port, int> bind_interdomain(DomId remote, Port remote_port) override;
    void unbind(Port local) override;
    int fd() const override { return epoll_.get(); }
    std::optional<Port> pending() override;
    void unmask(Port) override {}
    int notify(Port local) override;

    // One request and its reply (type and id checked); the reply's length,
    // or 0 with the link broken.
    std::size_t round_trip(std::size_t request_len, MsgType reply_type, std::size_t min_len,
                           std::size_t* nfds = nullptr, UniqueFd* fds = nullptr);
    void send_only(const void* msg, std::size_t len);
    bool page_ok(std::uint64_t offset) const;

    struct Binding {
        Port port;
        UniqueFd pending, notify;
    };

    mutable std::mutex mu_;
    UniqueFd sock_, memfd_, epoll_;
    DomId frontend_ = 0;
    std::uint64_t memory_bytes_ = 0;
    std::byte* view_ = nullptr;  // the whole memfd, read-write, for copies
    std::uint32_t next_id_ = 1;
    std::uint64_t round_trips_ = 0;
    bool broken_ = false;
    std::vector<Binding> bindings_;
    alignas(8) std::byte out_[kMaxMessage];
    alignas(8) std::byte in_[kMaxMessage];
};

}  // namespace xenolith::backend::link
