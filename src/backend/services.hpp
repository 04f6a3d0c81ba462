// The three services a back-end sees, and nothing else of the system: event
// channels, grants and xenstore. blkback (and later netback, console...) is
// written against these interfaces only, so the same code runs in a
// sandboxed process next to xenolithd (services over inherited fds) and,
// later, inside a driver domain (services over hypercalls and its own
// xenstore ring). Nothing here names a host path, a pid or a daemon object:
// peers are domids, memory is whatever map() returns.
//
// Errors are Xen's: errno values (positive, as xenstore and libxenevtchn
// report them) and GNTST_* codes for grant operations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

extern "C" {
#include <xen/grant_table.h>
}

namespace xenolith::backend {

using DomId = std::uint16_t;
using GrantRef = std::uint32_t;
using Port = std::uint32_t;

inline constexpr std::size_t kXenPageSize = 4096;

// Event channels. Pending notifications are signalled on one pollable fd
// (an eventfd in-process, /dev/xen/evtchn in a driver domain); the back-end
// waits on it with its own loop, then drains pending() and unmasks.
class EventChannels {
public:
    virtual ~EventChannels() = default;
    // Binds a local port to `remote_port` of `remote`; a negative errno on
    // failure (ESRCH, EINVAL as EVTCHNOP_bind_interdomain).
    virtual std::pair<Port, int> bind_interdomain(DomId remote, Port remote_port) = 0;
    virtual void unbind(Port local) = 0;
    // Readable while some bound port has a notification not yet taken.
    virtual int fd() const = 0;
    // Takes one pending port, or nothing; the port stays masked until unmask().
    virtual std::optional<Port> pending() = 0;
    virtual void unmask(Port local) = 0;
    // Notifies the remote end of `local`; 0 or a negative errno.
    virtual int notify(Port local) = 0;
};

// One mapping of granted frames, contiguous in the back-end's address
// space, released on destruction. Writable only when asked for and allowed.
class GrantMapping {
public:
    GrantMapping() = default;
    GrantMapping(const GrantMapping&) = delete;
    GrantMapping& operator=(const GrantMapping&) = delete;
    GrantMapping(GrantMapping&& o) noexcept { swap(o); }
    GrantMapping& operator=(GrantMapping&& o) noexcept {
        if (this != &o) { reset(); swap(o); }
        return *this;
    }
    ~GrantMapping() { reset(); }

    std::byte* data() const { return addr_; }
    std::size_t pages() const { return pages_; }
    std::size_t size() const { return pages_ * kXenPageSize; }
    bool empty() const { return addr_ == nullptr; }
    void reset();

    class Owner {
    public:
        virtual void unmap(std::byte* addr, std::size_t pages, std::uintptr_t cookie) = 0;
    protected:
        ~Owner() = default;
    };
    GrantMapping(Owner* owner, std::byte* addr, std::size_t pages, std::uintptr_t cookie)
        : owner_(owner), addr_(addr), pages_(pages), cookie_(cookie) {}

private:
    void swap(GrantMapping& o) noexcept {
        std::swap(owner_, o.owner_); std::swap(addr_, o.addr_);
        std::swap(pages_, o.pages_); std::swap(cookie_, o.cookie_);
    }
    Owner* owner_ = nullptr;
    std::byte* addr_ = nullptr;
    std::size_t pages_ = 0;
    std::uintptr_t cookie_ = 0;
};

inline void GrantMapping::reset() {
    if (owner_ && addr_) owner_->unmap(addr_, pages_, cookie_);
    owner_ = nullptr; addr_ = nullptr; pages_ = 0; cookie_ = 0;
}

// One side of a grant copy: a granted frame of `domid`, or the back-end's
// own memory (`local`).
struct CopyPlace {
    bool foreign = true;
    DomId domid = 0;
    GrantRef ref = 0;
    std::uint16_t offset = 0;  // within the granted frame
    std::byte* local = nullptr;
};

struct CopyOp {
    CopyPlace source;
    CopyPlace dest;
    std::uint16_t len = 0;
    std::int16_t status = GNTST_okay;  // set per op, as GNTTABOP_copy does
};

class Grants {
public:
    virtual ~Grants() = default;
    // Maps `refs` of `domid` as one contiguous range, all or nothing; the
    // mapping, or the GNTST_* status of the first ref that failed.
    virtual std::pair<GrantMapping, std::int16_t> map(DomId domid, std::span<const GrantRef> refs,
                                                      bool writable) = 0;
    // Runs each op, writing its status; ops are independent of each other.
    virtual void copy(std::span<CopyOp> ops) = 0;
};

struct XsPerm {
    DomId domid;
    char access;  // 'n' none, 'r' read, 'w' write, 'b' both (xenstore's letters)
};

// Xenstore as a client sees it. Transaction 0 is "no transaction". Results
// carry a positive errno (0 on success), EAGAIN from transaction_end asking
// the caller to retry. Watch events arrive on a pollable fd.
class Xenstore {
public:
    using Tx = std::uint32_t;
    struct WatchEvent { std::string path, token; };

    virtual ~Xenstore() = default;
    virtual std::pair<std::string, int> read(Tx tx, const std::string& path) = 0;
    virtual int write(Tx tx, const std::string& path, const std::string& value) = 0;
    virtual int mkdir(Tx tx, const std::string& path) = 0;
    virtual int rm(Tx tx, const std::string& path) = 0;
    virtual std::pair<std::vector<std::string>, int> directory(Tx tx, const std::string& path) = 0;
    virtual int set_perms(Tx tx, const std::string& path, std::span<const XsPerm> perms) = 0;
    virtual std::pair<Tx, int> transaction_start() = 0;
    virtual int transaction_end(Tx tx, bool commit) = 0;
    virtual int watch(const std::string& path, const std::string& token) = 0;
    virtual int unwatch(const std::string& path, const std::string& token) = 0;
    virtual int watch_fd() const = 0;
    virtual std::optional<WatchEvent> next_watch_event() = 0;
};

// What a back-end is handed: exactly these three, borrowed.
struct Services {
    EventChannels& evtchn;
    Grants& grants;
    Xenstore& xenstore;
};

}  // namespace xenolith::backend
