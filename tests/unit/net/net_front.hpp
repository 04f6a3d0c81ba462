// A netfront for unit tests: a stand-in guest (LocalGrantTable) holding the
// tx ring (page 0), the rx ring (page 1) and data pages (2..), a loopback
// event channel, and frame builders. The back-end's TAP end is either a
// SOCK_SEQPACKET socketpair (frames keep their boundaries; always there) or
// a real TAP the test made.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "backend/local_evtchn.hpp"
#include "backend/local_grants.hpp"
#include "backend/net/netback.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::backend::net::testing {

inline constexpr DomId kFront = 7, kBack = 0;
inline constexpr GrantRef kTxRingRef = 0, kRxRingRef = 1;
inline constexpr std::size_t kGuestPages = 96;

class NetFront {
public:
    NetFront() : gt(kFront, kBack, kGuestPages, kGuestPages) {
        gt.grant(kTxRingRef, 0, false);
        gt.grant(kRxRingRef, 1, false);
        for (std::size_t f = 2; f < kGuestPages; ++f) gt.grant(static_cast<GrantRef>(f), f, false);
        tx = std::make_unique<TxFrontRing>(gt.page(0));
        rx = std::make_unique<RxFrontRing>(gt.page(1));
        LocalEventChannel::connect(be, fe);
    }

    // Starts the back end on `tap_fd` (a socketpair end when -1).
    void start(FrontendFeatures features = {}, int tap_fd = -1, unsigned budget = 64, unsigned rx_hold_ms = 1000) {
        if (tap_fd < 0) {
            int sv[2];
            if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) std::abort();
            back_end.reset(sv[0]);
            host.reset(sv[1]);
            tap_fd = back_end.get();
        }
        QueueConfig cfg;
        cfg.frontend = kFront;
        cfg.tx_ring_ref = kTxRingRef;
        cfg.rx_ring_ref = kRxRingRef;
        cfg.tx_port = cfg.rx_port = be.bind_interdomain(kFront, 1).first;
        cfg.features = features;
        cfg.tap_fd = tap_fd;
        cfg.budget = budget;
        cfg.rx_hold_ms = rx_hold_ms;
        auto n = Netback::create(cfg, gt, gt, be);
        if (!n) std::abort();
        netback = std::move(*n);
    }

    // Copies `bytes` into guest page `frame` at `offset`.
    void put(std::size_t frame, std::size_t offset, std::span<const std::byte> bytes) {
        std::memcpy(gt.page(frame) + offset, bytes.data(), bytes.size());
    }
    // Guest tx request for `size` bytes in page `frame` at `offset`.
    static netif_tx_request req(std::size_t frame, std::uint16_t offset, std::uint16_t size, std::uint16_t id,
                                std::uint16_t flags = 0) {
        netif_tx_request r{};
        r.gref = static_cast<GrantRef>(frame);
        r.offset = offset;
        r.size = size;
        r.id = id;
        r.flags = flags;
        return r;
    }
    static netif_tx_request gso_extra(std::uint8_t type, std::uint16_t size, std::uint8_t flags = 0) {
        netif_extra_info e{};
        e.type = XEN_NETIF_EXTRA_TYPE_GSO;
        e.flags = flags;
        e.u.gso.type = type;
        e.u.gso.size = size;
        return as_request(e);
    }
    static netif_tx_request as_request(const netif_extra_info& e) {
        netif_tx_request r{};
        std::memcpy(&r, &e, sizeof e);
        return r;
    }

    // Publishes requests and lets the back end serve them.
    void send(const std::vector<netif_tx_request>& reqs) {
        for (const auto& r : reqs) tx->queue(r);
        tx->push_requests();
        netback->on_event();
    }
    std::vector<netif_tx_response> tx_responses() {
        std::vector<netif_tx_response> out;
        while (tx->has_response()) out.push_back(tx->next_response());
        return out;
    }

    // Posts rx buffers: page `first_frame` onwards, ids from `first_id`.
    void post_rx(unsigned count, std::size_t first_frame, std::uint16_t first_id = 100) {
        for (unsigned i = 0; i < count; ++i) {
            netif_rx_request r{};
            r.id = static_cast<std::uint16_t>(first_id + i);
            r.gref = static_cast<GrantRef>(first_frame + i);
            rx->queue(r);
        }
        rx->push_requests();
    }

    // The host side of the socketpair TAP.
    std::optional<std::pair<VnetHeader, std::vector<std::byte>>> host_read() {
        std::vector<std::byte> buf(kVnetHeaderSize + 70000);
        ssize_t n = ::recv(host.get(), buf.data(), buf.size(), MSG_DONTWAIT);
        if (n < static_cast<ssize_t>(kVnetHeaderSize)) return std::nullopt;
        VnetHeader h;
        std::memcpy(&h, buf.data(), sizeof h);
        return std::pair{h, std::vector<std::byte>(buf.begin() + kVnetHeaderSize, buf.begin() + n)};
    }
    void host_write(const VnetHeader& h, std::span<const std::byte> frame) {
        std::vector<std::byte> buf(kVnetHeaderSize + frame.size());
        std::memcpy(buf.data(), &h, sizeof h);
        if (!frame.empty()) std::memcpy(buf.data() + kVnetHeaderSize, frame.data(), frame.size());
        if (::send(host.get(), buf.data(), buf.size(), 0) != static_cast<ssize_t>(buf.size())) std::abort();
    }

    LocalGrantTable gt;
    std::unique_ptr<TxFrontRing> tx;
    std::unique_ptr<RxFrontRing> rx;
    LocalEventChannel be, fe;
    UniqueFd back_end, host;
    std::unique_ptr<Netback> netback;
};

// Frames: Ethernet II with IPv4 or IPv6 and TCP or UDP, `payload` bytes of
// a counting pattern, checksum fields zero.
inline std::vector<std::byte> make_frame(bool ipv6, bool tcp, std::size_t payload) {
    std::size_t l3 = ipv6 ? 40 : 20, l4 = tcp ? 20 : 8;
    std::vector<std::byte> f(14 + l3 + l4 + payload);
    auto b = [&](std::size_t at, unsigned v) { f[at] = static_cast<std::byte>(v); };
    auto w = [&](std::size_t at, unsigned v) { b(at, v >> 8); b(at + 1, v & 0xff); };
    for (int i = 0; i < 6; ++i) { b(i, 0x02); b(6 + i, 0x00 + i); }
    w(12, ipv6 ? 0x86dd : 0x0800);
    std::uint8_t proto = tcp ? 6 : 17;
    if (ipv6) {
        b(14, 0x60);
        w(18, static_cast<unsigned>(l4 + payload));
        b(20, proto);
        b(21, 64);
        for (int i = 0; i < 16; ++i) { b(22 + i, 0xfd); b(38 + i, 0xfd); }
        b(37, 1); b(53, 2);
    } else {
        b(14, 0x45);
        w(16, static_cast<unsigned>(l3 + l4 + payload));
        b(22, 64);
        b(23, proto);
        b(26, 10); b(29, 1); b(30, 10); b(33, 2);
    }
    std::size_t t = 14 + l3;
    w(t, 1234); w(t + 2, 5678);
    if (tcp) b(t + 12, 0x50);
    else w(t + 4, static_cast<unsigned>(8 + payload));
    for (std::size_t i = 0; i < payload; ++i) b(t + l4 + i, static_cast<unsigned>(i * 7 + 3));
    return f;
}

}  // namespace xenolith::backend::net::testing
