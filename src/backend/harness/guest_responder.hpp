// The network stack of a stand-in guest: enough IPv4 to be reached and to
// reach out, for proving a vif's path end to end without a guest (the
// netfront harness carries the frames; tests/integration/net-modes.sh).
// It answers ARP for its address, ICMP echo and UDP echo (port 7), and can
// originate a probe: ARP for a gateway, then a UDP datagram through it to a
// host-side echo, done when the echo comes back.
//
// Pure: frames in, frames out, no I/O. What arrives is hostile (it is
// whatever the host side put on the wire): every length is checked against
// the frame, anything not understood or not for us yields no reply. The L4
// checksums of what arrives are never checked (the host may leave them
// partial: NETRXF_csum_blank); replies carry checksums computed from
// scratch.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace xenolith::backend::harness {

using MacAddr = std::array<std::uint8_t, 6>;
using Frame = std::vector<std::byte>;

// "00:16:3e:00:07:00"; nullopt unless six two-digit hex fields.
std::optional<MacAddr> parse_mac_addr(std::string_view text);
// "10.0.9.1" -> host byte order; nullopt unless four decimal 0..255 fields.
std::optional<std::uint32_t> parse_ipv4(std::string_view text);

// The Internet checksum (RFC 1071) of `data`, folded with `initial`, inverted.
std::uint16_t inet_checksum(std::span<const std::byte> data, std::uint32_t initial = 0);

struct ResponderCounts {
    std::uint64_t arp_replies = 0, icmp_replies = 0, udp_echoes = 0, ignored = 0;
};

class GuestResponder {
public:
    static constexpr std::uint16_t kEchoPort = 7;
    static constexpr std::uint16_t kProbeSourcePort = 40007;

    GuestResponder(MacAddr mac, std::uint32_t ip) : mac_(mac), ip_(ip) {}

    // The replies `frame` calls for (none, usually one). Also feeds the
    // probe: an ARP reply from the gateway, the probe's echo.
    std::vector<Frame> answer(std::span<const std::byte> frame);

    // The probe: to `target`:`port` (host byte order) via `gateway`.
    void start_probe(std::uint32_t gateway, std::uint32_t target, std::uint16_t port);
    // What to send now (call it on a timer, ~200 ms, until probe_done): an
    // ARP request for the gateway while its MAC is unknown, then the UDP
    // datagram; nothing once done or when no probe was started.
    std::optional<Frame> probe_frame();
    bool probe_done() const { return probe_ && probe_->done; }
    std::optional<MacAddr> gateway_mac() const { return probe_ ? probe_->gateway_mac : std::nullopt; }

    const ResponderCounts& counts() const { return counts_; }
    const MacAddr& mac() const { return mac_; }
    std::uint32_t ip() const { return ip_; }

private:
    struct Probe {
        std::uint32_t gateway = 0, target = 0;
        std::uint16_t port = 0;
        std::optional<MacAddr> gateway_mac;
        std::uint32_t sent = 0;
        bool done = false;
    };

    std::vector<Frame> on_arp(std::span<const std::byte> frame);
    std::vector<Frame> on_ipv4(std::span<const std::byte> frame);
    Frame ipv4_frame(const MacAddr& to, std::uint32_t dst, std::uint8_t protocol,
                     std::span<const std::byte> l4);
    Frame udp_frame(const MacAddr& to, std::uint32_t dst, std::uint16_t sport, std::uint16_t dport,
                    std::span<const std::byte> payload);
    std::vector<Frame> ignore() {
        ++counts_.ignored;
        return {};
    }

    MacAddr mac_;
    std::uint32_t ip_;
    std::uint16_t next_ip_id_ = 1;
    std::optional<Probe> probe_;
    ResponderCounts counts_;
};

}  // namespace xenolith::backend::harness
