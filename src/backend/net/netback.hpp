// netback's core: one queue of one vif, i.e. a tx ring (guest -> host), an
// rx ring (host -> guest) and one queue of the vif's TAP device. Guest
// packets are judged as Linux's xen-netback judges them (tx_packet.hpp),
// copied out of the granted pages with grant copy and written to the TAP
// behind a virtio-net header carrying their GSO and checksum metadata;
// frames read from the TAP are copied into the buffers the guest posted
// (feature-rx-copy; page flipping is not supported, as in modern Linux).
// Everything outside its own memory comes through the Grants and
// EventChannels services and the TAP fd it was handed.
//
// Single-threaded: the owner waits on the event channel's fd, and on the
// TAP's fd while wants_tap(), and calls on_event() / on_tap(), or simply
// poll_once(). Nothing here blocks: the TAP fd is non-blocking, a frame the
// guest has no room for waits at most rx_hold_ms for buffers and is then
// dropped and counted, and a queue is never waited on by another.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <sys/uio.h>

#include "backend/link/grant_hold.hpp"
#include "backend/net/credit.hpp"
#include "backend/net/ring.hpp"
#include "backend/net/tap.hpp"
#include "backend/net/tx_packet.hpp"
#include "backend/services.hpp"
#include "base/result.hpp"

namespace xenolith::backend::net {

// What the front end said it can take on its rx ring (xenbus_keys.hpp
// reads them). Linux's netback only hands a front end what it negotiated.
struct FrontendFeatures {
    bool sg = false;         // feature-sg: a frame may span several rx buffers
    bool gso_tcpv4 = false;  // feature-gso-tcpv4 (needs sg)
    bool gso_tcpv6 = false;  // feature-gso-tcpv6 (needs sg)
    bool csum = true;        // not feature-no-csum-offload: takes NETRXF_csum_blank (IPv4)
    bool ipv6_csum = false;  // feature-ipv6-csum-offload
};

// The TAP offloads that match what the front end takes: the TAP then never
// reads the back-end a frame it would have to drop.
TapOffload offload_for(const FrontendFeatures& f);

struct QueueConfig {
    DomId frontend = 0;
    GrantRef tx_ring_ref = 0;
    GrantRef rx_ring_ref = 0;
    Port tx_port = 0;  // local ports; equal without feature-split-event-channels
    Port rx_port = 0;
    FrontendFeatures features;
    int tap_fd = -1;      // borrowed, non-blocking; a TAP queue with a virtio_net_hdr
    unsigned budget = 64;  // packets per direction per call before yielding
    // How long a frame that needs more rx buffers than are posted waits for
    // the front end to post them before it is dropped; the TAP is not read
    // meanwhile (its own bounded queue holds what follows).
    unsigned rx_hold_ms = 1000;
    // The vif's transmit rate limit (`rate`), shared by its queues; null:
    // unlimited. Borrowed: it outlives the queue. A packet it refuses stays
    // on the ring until tx_deadline_ms() has run out.
    CreditLimiter* tx_credit = nullptr;
};

struct QueueStats {
    std::uint64_t tx_packets = 0, tx_bytes = 0;  // written to the TAP
    std::uint64_t tx_errors = 0;   // answered NETIF_RSP_ERROR (bad requests, failed copies)
    std::uint64_t tx_dropped = 0;  // answered OKAY, not delivered (headers not understood, TAP full)
    std::uint64_t tx_mcast = 0;    // multicast filter requests (answered, ignored)
    std::uint64_t tx_rate_waits = 0;  // times a packet waited for the rate limiter's credit
    std::uint64_t rx_packets = 0, rx_bytes = 0;  // put into guest buffers
    std::uint64_t rx_no_room = 0;       // dropped: the front end did not post enough buffers in time
    std::uint64_t rx_unsupported = 0;   // dropped: needs a feature the front end lacks, or malformed
    std::uint64_t rx_copy_errors = 0;   // slots answered NETIF_RSP_ERROR (bad rx grant)
    std::uint64_t rx_in_place = 0;      // frames read from the TAP straight into the guest's buffers
};

class Netback {
public:
    // Maps both rings (writable); an error naming the ring that did not map.
    // `holder` holds the guest's data pages while the TAP is read or written
    // straight from them (usually the same object as `grants`).
    static Result<std::unique_ptr<Netback>> create(QueueConfig cfg, Grants& grants, link::GrantHolder& holder,
                                                   EventChannels& evtchn);
    Netback(const Netback&) = delete;
    Netback& operator=(const Netback&) = delete;

    int event_fd() const { return evtchn_.fd(); }
    int tap_fd() const { return cfg_.tap_fd; }
    // The rx ring has posted buffers and no frame is held, so the TAP is
    // worth reading.
    bool wants_tap();
    // Milliseconds until a held frame's deadline (call process_rx() then),
    // or -1 when none is held.
    int rx_deadline_ms() const;
    // Milliseconds until the rate limiter's next window while a packet
    // waits for credit (call process_tx() then), or -1.
    int tx_deadline_ms() const;
    // A direction stopped at its budget with work left.
    bool more_work() const { return tx_more_ || rx_more_; }

    void on_event();  // takes the notifications, serves both rings
    void on_tap();    // serves the rx ring
    // Waits up to `timeout_ms` and handles what is ready; false on timeout.
    bool poll_once(int timeout_ms);
    void process_tx();
    void process_rx();

    // The front end broke the protocol (a lying ring index, a malformed
    // packet Linux deems fatal): nothing more is served and the device must
    // close. failure() says what happened.
    bool failed() const { return failed_; }
    const std::string& failure() const { return failure_; }
    const QueueStats& stats() const { return stats_; }

private:
    Netback(QueueConfig cfg, link::GrantHolder& holder, EventChannels& evtchn, GrantMapping tx, GrantMapping rx);
    void fail(std::string why);
    // A consumed packet waiting in the tx batch for its pages to be held.
    struct PendingTx {
        TxPacket packet;
        std::size_t first_span = 0;  // its data slots in tx_spans_
        std::size_t len = 0;         // frame bytes
    };
    void answer_unread_tx(unsigned slots, unsigned extras, std::int16_t status);
    void answer_tx(const TxPacket& p, std::int16_t status);
    void queue_tx(const TxPacket& p);
    void flush_tx();
    void send_tx(const PendingTx& pend);
    // A frame read from the TAP, judged against the front end's features.
    struct RxFrame {
        std::size_t len = 0;
        std::uint16_t csum_flags = 0;
        std::uint8_t gso_type = XEN_NETIF_GSO_TYPE_NONE;
        std::uint16_t gso_size = 0;
        unsigned slots = 0;  // rx ring slots it takes
        // Data pages whose bytes were lost: read into a buffer whose hold
        // failed, they cannot be answered as delivered.
        std::uint32_t lost_pages = 0;
        // Judging needs the whole frame in one piece (a checksum to
        // complete, headers past the private copy): read in place across
        // several buffers, it is gathered first.
        bool needs_whole = false;
    };
    // A frame in held buffers (slots taken from the ring), waiting for its
    // answers.
    struct PendingRx {
        RxFrame frame;
        std::size_t first_slot = 0;  // in rx_reqs_ / rx_spans_
    };
    std::optional<RxFrame> judge_rx(std::span<const std::byte> head, std::span<std::byte> whole, std::size_t len,
                                    const VnetHeader& h);
    bool tap_readable() const;
    void hold_rx_buffers(unsigned need);
    ssize_t read_in_place(unsigned most);
    void place_rx(std::size_t len, unsigned most);
    void route_local(RxFrame fr);
    void deliver_local(const RxFrame& fr);
    void take_rx_slots(const RxFrame& fr);
    void flush_rx();
    void answer_rx(const PendingRx& pend);
    void hold_rx(RxFrame fr);

    QueueConfig cfg_;
    link::GrantHolder& holder_;
    EventChannels& evtchn_;
    GrantMapping tx_map_, rx_map_;
    TxBackRing tx_;
    RxBackRing rx_;
    bool failed_ = false;
    std::string failure_;
    bool tx_more_ = false, rx_more_ = false;
    bool tx_limited_ = false;  // the packet at req_cons waits for credit
    bool tx_unpushed_ = false, rx_unpushed_ = false;
    QueueStats stats_;
    // The tx batch: its packets' data slots, held for reading together (one
    // link round trip), then each packet written to the TAP from them.
    std::vector<link::HeldSpan> tx_spans_;
    link::GrantHold tx_hold_;
    std::vector<std::byte> tx_head_;   // a vnet header and a private copy of the frame's first bytes
    std::vector<std::byte> tx_whole_;  // a frame whose headers reach past that copy, copied whole
    std::vector<iovec> tx_iov_;
    std::vector<PendingTx> tx_batch_;
    // A vnet header and one frame: read here when fewer buffers are posted
    // than the largest frame needs, gathered here when a frame read in place
    // must be judged whole; a held frame waits here.
    std::vector<std::byte> rx_buf_;
    // Buffers taken ahead: the next posted requests (private copies) and
    // their pages, held writable with one call, that frames are read into
    // in place; answered and given back together.
    std::vector<netif_rx_request> rx_reqs_;
    std::vector<link::HeldSpan> rx_spans_;
    link::GrantHold rx_hold_;
    std::size_t rx_used_ = 0;  // of rx_reqs_: taken by the frames in rx_batch_
    unsigned rx_hold_want_ = 64;  // buffers to take ahead next time (follows what was used)
    std::vector<PendingRx> rx_batch_;
    std::vector<iovec> rx_iov_;
    std::size_t rx_page_iovs_ = 0;  // rx_iov_'s entries that are buffers (or scratch)
    VnetHeader rx_vnet_{};
    std::vector<std::byte> rx_head_;     // a private copy of an in-place frame's first bytes
    std::vector<std::byte> rx_scratch_;  // one page: where a buffer whose hold failed would take bytes
    std::optional<RxFrame> held_;  // waiting for buffers; its bytes are in rx_buf_
    std::chrono::steady_clock::time_point held_since_;
};

}  // namespace xenolith::backend::net
