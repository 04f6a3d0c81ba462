// The link protocol: the Grants and EventChannels services of a sandboxed
// back-end carried over one SOCK_SEQPACKET socketpair to the process that
// serves its front end (xenolithd, or a test harness). One message per
// packet, each a fixed header and, for batches, an array of fixed-size
// entries whose length the header's count must match exactly. File
// descriptors travel with SCM_RIGHTS, only where a message says so (the
// hello's memfd, a bind reply's two eventfds). Both sides read the other's
// bytes as untrusted: ARCHITECTURE.md "Back-ends", "The link".
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace xenolith::backend::link {

inline constexpr std::uint16_t kVersion = 1;

enum class MsgType : std::uint16_t {
    hello = 1,     // server -> client, with the front end's memfd
    map,           // client -> server: pin a batch of refs
    map_reply,     //   status, batch handle, one memfd offset per ref
    unmap,         // client -> server, no reply: release a map batch
    copy,          // client -> server: acquire the foreign sides of copy ops
    copy_reply,    //   per-op status and offsets, batch handle
    copy_release,  // client -> server, no reply: release a copy batch
    bind,          // client -> server: bind_interdomain
    bind_reply,    //   status, local port, and (on success) two eventfds
    unbind,        // client -> server, no reply
};

struct Header {
    std::uint16_t type;
    std::uint16_t count;  // entries following the fixed part (batches only)
    std::uint32_t id;     // request id, echoed by the reply
};

struct Hello {
    Header h;
    std::uint16_t version;
    std::uint16_t frontend;  // the domid whose memory the memfd is
    std::uint32_t pad;
    std::uint64_t memory_bytes;
};

// Batches are bounded so both ends can use fixed buffers: a blkback
// request maps at most 256 indirect segments plus 8 indirect pages; a
// netif ring's worth of slots (256) is held with one copy message.
inline constexpr std::size_t kMaxMapBatch = 512;
inline constexpr std::size_t kMaxCopyBatch = 256;

struct MapRequest {
    Header h;
    std::uint16_t domid;
    std::uint8_t writable;
    std::uint8_t pad[5];
    // std::uint32_t refs[h.count];
};

inline constexpr std::uint32_t kNoHandle = 0xffffffffu;

struct MapReply {
    Header h;
    std::int16_t status;  // GNTST_okay, or the first failure (nothing pinned)
    std::uint16_t pad;
    std::uint32_t handle;
    // std::uint64_t offsets[h.count] on success (page offsets in the memfd)
};

// unmap and copy_release.
struct Release {
    Header h;
    std::uint32_t handle;
    std::uint32_t pad;
};

struct CopySideWire {
    std::uint8_t foreign;  // 0: the back-end's own buffer, nothing to acquire
    std::uint8_t pad;
    std::uint16_t domid;
    std::uint32_t ref;
    std::uint16_t offset;
    std::uint16_t pad2;
    std::uint32_t pad3;
};

struct CopyOpWire {
    CopySideWire source;
    CopySideWire dest;
    std::uint16_t len;
    std::uint16_t pad[3];
};

struct CopyRequest {
    Header h;
    // CopyOpWire ops[h.count]
};

struct CopyResult {
    std::int16_t status;
    std::uint16_t pad[3];
    std::uint64_t source_offset;  // page offsets in the memfd (foreign sides)
    std::uint64_t dest_offset;
};

struct CopyReply {
    Header h;
    std::uint32_t handle;  // kNoHandle when nothing stays acquired
    std::uint32_t pad;
    // CopyResult results[h.count]
};

struct BindRequest {
    Header h;
    std::uint16_t remote;
    std::uint16_t pad;
    std::uint32_t remote_port;
};

struct BindReply {
    Header h;
    std::int32_t status;  // 0 or a negative errno
    std::uint32_t port;
    // SCM_RIGHTS on success: [0] pending (guest -> back-end), [1] notify
};

struct Unbind {
    Header h;
    std::uint32_t port;
    std::uint32_t pad;
};

// The largest packet either side sends or accepts.
inline constexpr std::size_t kMaxMessage = std::max({
    sizeof(MapRequest) + kMaxMapBatch * sizeof(std::uint32_t),
    sizeof(MapReply) + kMaxMapBatch * sizeof(std::uint64_t),
    sizeof(CopyRequest) + kMaxCopyBatch * sizeof(CopyOpWire),
    sizeof(CopyReply) + kMaxCopyBatch * sizeof(CopyResult),
});
static_assert(sizeof(CopyOpWire) == 40 && sizeof(CopyResult) == 24 && sizeof(Hello) == 24);

// The most fds any message carries.
inline constexpr std::size_t kMaxFds = 2;

}  // namespace xenolith::backend::link
