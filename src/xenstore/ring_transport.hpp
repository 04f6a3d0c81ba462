// The guest side of xenstore: one domain's ring page (io/xs_wire.h struct
// xenstore_domain_interface, docs/misc/xenstore-ring.txt): a 1 KiB request
// ring the guest produces into and a 1 KiB response ring we produce into,
// each with free-running 32-bit indexes.
//
// The page is shared with a hostile guest that may change any byte at any
// time. So: the indexes we own (req_cons, rsp_prod) are kept here and only
// written to the page; the ones the guest owns (req_prod, rsp_cons) are read
// once per operation and checked (at most XENSTORE_RING_SIZE apart from
// ours); payload bytes are copied out before anyone parses them. A lying
// index or an oversized message puts the ring in the failed state (the
// page's error field says why) until the guest asks to reconnect.
// No locking, no I/O: the owner serializes calls and sends the event.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" {
#include <xen/io/xs_wire.h>
}

#include "base/bytes.hpp"
#include "xenstore/wire.hpp"

namespace xenolith::xenstore {

class RingTransport {
public:
    enum class Io : std::uint8_t {
        ok,
        bad_index,  // XENSTORE_ERROR_RINGIDX
        protocol,   // XENSTORE_ERROR_PROTO (the reader refused the header)
    };

    RingTransport() = default;
    explicit RingTransport(xenstore_domain_interface* page) : page_(page) {}

    // Takes over the page as the guest left it (indexes need not start at
    // zero) and advertises reconnection and the error field. Clears a
    // previous failure.
    void attach();

    // Moves request bytes into `reader`, never past the end of one message
    // (the reader's own rule). `*consumed` counts the bytes taken off the
    // ring (the caller notifies the guest when it is non-zero).
    Io read(MessageReader& reader, std::size_t* consumed);

    // Copies as much of `data` as fits into the response ring.
    Io write(ByteSpan data, std::size_t* written);

    // Free space in the response ring (0 when the guest's index is insane).
    std::size_t write_space() const;

    // connection == XENSTORE_RECONNECT: the guest asks for a fresh ring.
    bool reconnect_requested() const;
    // Empties both queues, clears the error and sets XENSTORE_CONNECTED.
    void reconnect();

    // Stops serving the ring and tells the guest why (XENSTORE_ERROR_*).
    void fail(std::uint32_t error);
    bool failed() const { return failed_; }

    bool valid() const { return page_ != nullptr; }

private:
    xenstore_domain_interface* page_ = nullptr;
    XENSTORE_RING_IDX req_cons_ = 0;
    XENSTORE_RING_IDX rsp_prod_ = 0;
    bool failed_ = false;
};

}  // namespace xenolith::xenstore
