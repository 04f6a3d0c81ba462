// The xenstore keys through which netback and a front end agree on rings
// and features (netif.h's "Xenstore path and key usage"): what the back end
// offers, and the front end's answer read back as hostile input. The vif's
// lifecycle (state machine, libxl's nodes, hotplug) lives above; the MAC
// is the toolstack's, written by it.
#pragma once

#include <string>
#include <vector>

#include "backend/net/netback.hpp"
#include "backend/services.hpp"
#include "base/result.hpp"

namespace xenolith::backend::net {

// Queues offered (multi-queue-max-queues); Linux offers the host's CPUs.
inline constexpr unsigned kDefaultMaxQueues = 8;

struct Offer {
    unsigned max_queues = kDefaultMaxQueues;
    bool split_event_channels = true;
    // Checksum offload on the guest's tx (the vif's "TX checksum offload"):
    // off writes feature-no-csum-offload=1 so the guest checksums its own
    // packets, and withdraws GSO and IPv6 checksum offload with it.
    bool csum_offload = true;
};

// Writes feature-sg, feature-gso-tcpv4, feature-gso-tcpv6,
// feature-ipv6-csum-offload, feature-no-csum-offload, feature-rx-copy=1,
// feature-rx-flip=0, feature-multicast-control=0,
// feature-split-event-channels and multi-queue-max-queues under
// `backend_path`; 0 or an errno.
int write_offer(Xenstore& xs, Xenstore::Tx tx, const std::string& backend_path, const Offer& offer);

struct QueueRings {
    GrantRef tx_ring_ref = 0;
    GrantRef rx_ring_ref = 0;
    Port tx_event_channel = 0;  // equal to rx's with one event-channel
    Port rx_event_channel = 0;
    bool split = false;
};

struct FrontendNet {
    std::vector<QueueRings> queues;
    FrontendFeatures features;
};

// What the front end wrote when it moved to Connected (Linux's
// connect_data_rings / read_xenbus_vif_flags): multi-queue-num-queues
// (absent: one queue, keys at the top level; else queue-N/ subdirs),
// tx-ring-ref, rx-ring-ref, event-channel or event-channel-tx and -rx,
// request-rx-copy (must be 1: no page flipping), feature-rx-notify (must be
// 1, as Linux requires), and the feature flags. Numbers are digits only,
// without overflow; a malformed feature flag counts as 0 (as
// xenbus_read_unsigned's default). Errors name the key.
Result<FrontendNet> read_frontend(Xenstore& xs, const std::string& frontend_path, const Offer& offer);

}  // namespace xenolith::backend::net
