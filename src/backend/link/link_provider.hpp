// What the serving side of a link implements: the front end's memory (one
// memfd), its grants (pins with Xen's semantics) and event channels. The
// LinkServer holds every pin and binding it took on a back-end's behalf and
// gives them back when the back-end goes. Implementations: LocalLinkProvider
// (a LocalGrantTable; the harness plays the guest) and DomainLinkProvider
// (a xenolithd domain: GrantMapper and EventChannels::bind_host).
#pragma once

#include <cstdint>
#include <functional>
#include <utility>

#include "backend/services.hpp"

namespace xenolith::backend::link {

class LinkProvider {
public:
    using Cookie = std::uint64_t;

    struct Acquired {
        std::uint64_t page_offset = 0;  // of the granted frame in memory_fd()
        std::uint16_t start = 0;        // the granted range inside the frame
        std::uint16_t length = kXenPageSize;
        Cookie cookie = 0;              // handed back to release()
    };

    virtual ~LinkProvider() = default;

    // The front end's guest memory, its size, and its domid.
    virtual int memory_fd() const = 0;
    virtual std::uint64_t memory_bytes() const = 0;
    virtual DomId frontend() const = 0;

    // Pins grant `ref` of the front end for the back-end: for a mapping
    // (full page, Xen's map_grant_ref checks, counted against the mapping
    // domain's maptrack) or for the length of one copy (sub-page grants
    // allowed, Xen's acquire_grant_for_copy). Sets GTF_reading, and
    // GTF_writing when `writable`, as Xen does. GNTST_okay and *out, or
    // the GNTST code with nothing held.
    virtual std::int16_t acquire(GrantRef ref, bool writable, bool for_copy, Acquired* out) = 0;
    virtual void release(Cookie cookie) = 0;

    // Binds a back-end port to the front end's unbound `remote_port`.
    // `on_guest_notify` runs (on any thread, until unbind returns) each time
    // the guest notifies it. The local port, or {0, -errno}.
    virtual std::pair<Port, int> bind(DomId remote, Port remote_port,
                                      std::function<void()> on_guest_notify) = 0;
    // Notifies the guest end of `local`: 0 or a negative errno.
    virtual int notify(Port local) = 0;
    virtual void unbind(Port local) = 0;
};

}  // namespace xenolith::backend::link
