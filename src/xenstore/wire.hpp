// The xs_wire.h framing: a 16-byte struct xsd_sockmsg header (host byte
// order; both the ring and the socket are local) and up to
// XENSTORE_PAYLOAD_MAX payload bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

extern "C" {
#include <xen/io/xs_wire.h>
}

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "xenstore/connection.hpp"
#include "xenstore/errors.hpp"

namespace xenolith::xenstore {

inline constexpr std::size_t kHeaderSize = sizeof(xsd_sockmsg);
static_assert(kHeaderSize == 16);

// A request or a reply. `payload` is binary-safe; its size is the header's len.
struct Message {
    std::uint32_t type = XS_INVALID;
    std::uint32_t req_id = 0;
    std::uint32_t tx_id = 0;
    std::string payload;
};
using Reply = Message;

// Reads a header from the first kHeaderSize bytes. Fails on short input and
// on len > XENSTORE_PAYLOAD_MAX (Xen drops such a connection). Unknown types
// are not a framing error: the dispatcher answers them with ENOSYS.
Result<xsd_sockmsg> decode_header(ByteSpan bytes);

// Header and payload, ready for the ring or socket.
std::vector<std::uint8_t> encode_message(const Message& m);
inline std::vector<std::uint8_t> encode_reply(const Reply& r) { return encode_message(r); }

// XS_WATCH_EVENT "<path>\0<token>\0", req_id and tx_id 0.
Message watch_event_message(const WatchEvent& ev);
// XS_ERROR "<ENAME>\0" echoing the request's ids.
Message error_reply(const Message& request, XsErr err);

// Reassembles messages from a byte stream fed in arbitrary pieces. It holds
// at most one message (header + XENSTORE_PAYLOAD_MAX) and never consumes
// bytes past a complete message until take() — the caller's backpressure.
class MessageReader {
public:
    // Consumes bytes toward the current message and returns how many. An
    // error means the stream is corrupt (oversized len): close the connection.
    // The reader then stays broken and consumes nothing.
    Result<std::size_t> feed(ByteSpan data);

    bool ready() const { return ready_; }
    bool broken() const { return broken_; }
    // The complete message; only when ready().
    Message take();
    void reset();

private:
    std::uint8_t header_[kHeaderSize] = {};
    std::size_t header_used_ = 0;
    std::uint32_t len_ = 0;
    Message current_;
    bool ready_ = false;
    bool broken_ = false;
};

}  // namespace xenolith::xenstore
