// A netfront on the host: plays the guest of a vif so that the real
// xenolith-netback process can be driven through real rings without a
// guest (tests, bench/netback.sh). The guest's RAM and grant table are a
// LocalGrantTable, its event channels the LocalLinkProvider's guest side,
// the store an in-process XenstoreService holding the nodes libxl writes
// for a vif; the vif's host side is a real TAP (created here: it must run
// as root, in a network namespace of the caller's making), seen from the
// host through an AF_PACKET socket bound to it with PACKET_VNET_HDR. The
// back-end is launched exactly as xenolithd launches it (NetbackHost:
// sandbox, link, scoped xenstore connection, supervision), or, for the
// sandbox-cost baseline, the same back-end code runs on a thread.
//
// Guest frames: ref r grants frame r. Queue q's tx ring is frame 2q, its
// rx ring 2q + 1; then per queue 256 tx data pages (one per tx ring slot)
// and 256 rx buffer pages (one per rx ring slot, always all posted).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "backend/link/local_link_provider.hpp"
#include "backend/local_grants.hpp"
#include "backend/net/netback_host.hpp"
#include "backend/net/ring.hpp"
#include "backend/net/tap.hpp"
#include "backend/xenbus_state.hpp"
#include "base/result.hpp"
#include "xenstore/xenstore_service.hpp"

namespace xenolith::backend::harness {

using namespace std::chrono_literals;

struct NetHarnessOptions {
    bool in_process = false;  // the back-end on a thread: no process, no sandbox
    std::string binary;       // xenolith-netback (process mode)
    DomId frontend = 1;
    unsigned devid = 0;
    unsigned tap_queues = 1;  // TAP queues handed (= multi-queue-max-queues)
    std::string tap_name;     // empty: "xnh<pid>.<n>"
    std::string rate;         // the vif's `rate` node ("<bytes>,<usecs>"), empty: none
    bool csum_offload = true;
    sandbox::RestartPolicy restart{};
};

// What the front end says it takes (its feature-* keys).
struct FrontFeatures {
    bool sg = true, gso_tcpv4 = true, gso_tcpv6 = true, csum = true, ipv6_csum = true;
    bool split_event_channels = true;
};

// A guest packet's metadata (tx) or a received one's (rx).
struct FrameMeta {
    std::uint16_t flags = 0;  // NETTXF_* to send; NETRXF_* received (first slot's)
    std::uint8_t gso_type = XEN_NETIF_GSO_TYPE_NONE;
    std::uint16_t gso_size = 0;
};

struct GuestFrame {
    unsigned queue = 0;
    std::vector<std::byte> data;
    FrameMeta meta;
    bool error = false;  // a slot answered NETIF_RSP_ERROR
};

// A frame as the host stack saw (or is to send) it.
struct HostFrame {
    net::VnetHeader vnet{};
    std::vector<std::byte> data;
};

class NetfrontHarness {
public:
    static Result<std::unique_ptr<NetfrontHarness>> start(const NetHarnessOptions& opts);
    ~NetfrontHarness();
    NetfrontHarness(const NetfrontHarness&) = delete;
    NetfrontHarness& operator=(const NetfrontHarness&) = delete;

    // netfront's handshake: waits for InitWait, lays out `queues` pairs of
    // rings, binds ports (two per queue with split event channels), writes
    // the ring refs, event channels, request-rx-copy, feature-rx-notify and
    // the features, goes Connected, waits for the back-end's Connected,
    // and posts every rx buffer.
    Status connect(unsigned queues = 1, FrontFeatures features = {}, std::chrono::milliseconds timeout = 10s);
    // After the back-end closed (or died): Closed, then Initialising, then
    // connect() again.
    Status reconnect(unsigned queues = 1, FrontFeatures features = {}, std::chrono::milliseconds timeout = 10s);
    void set_frontend_state(XenbusState s);
    bool wait_backend_state(XenbusState want, std::chrono::milliseconds timeout = 10s);
    std::optional<std::string> read(const std::string& path) const;
    void write(const std::string& path, const std::string& value);
    const std::string& backend_path() const { return backend_path_; }
    const std::string& frontend_path() const { return frontend_path_; }

    // Guest -> host: lays `frame` out in queue q's tx pages (a page per
    // slot; GSO extra info when meta.gso_type is set), publishes it and
    // notifies. Waits (up to `timeout`) for ring space first.
    Status send(unsigned q, std::span<const std::byte> frame, FrameMeta meta = {},
                std::chrono::milliseconds timeout = 5s);
    // Takes tx responses; the number of tx slots not yet answered.
    unsigned reap_tx();
    // Waits until every sent packet is answered; false on timeout.
    bool wait_tx_done(std::chrono::milliseconds timeout = 5s);
    std::uint64_t tx_errors() const { return tx_errors_; }
    // Host -> guest: the next frame the back-end put into any queue's rx
    // buffers (re-posting them), or nullopt after `timeout`.
    std::optional<GuestFrame> receive(std::chrono::milliseconds timeout = 2s);

    // The host stack's side of the TAP.
    Status host_send(std::span<const std::byte> frame, net::VnetHeader vnet = {});
    std::optional<HostFrame> host_receive(std::chrono::milliseconds timeout = 2s);
    int packet_fd() const { return packet_.get(); }
    const std::string& tap_name() const { return tap_name_; }

    // A lying front end: publishes `req_prod` on queue q's tx ring as is,
    // and notifies.
    void lie_tx_req_prod(unsigned q, std::uint32_t req_prod);

    // The back-end process (process mode): its pid (-1 between a death and
    // its relaunch), relaunches so far, deaths seen, what the link holds.
    pid_t backend_pid();
    unsigned restarts();
    std::size_t deaths() const { return deaths_.load(); }
    std::size_t pins_held();
    // CPU seconds the back-end has used: the process's (utime + stime), or
    // in-process the back-end thread's. For the bench's CPU per packet.
    double backend_cpu_seconds();
    unsigned queues() const { return static_cast<unsigned>(queues_.size()); }

private:
    struct Queue {
        std::unique_ptr<net::TxFrontRing> tx;
        std::unique_ptr<net::RxFrontRing> rx;
        Port tx_port = 0, rx_port = 0;
        std::uint32_t tx_slots_pending = 0;  // slots sent, not answered
        std::uint32_t tx_prod = 0;     // our own count of slots queued
        std::uint32_t rx_prod = 0;
        // A frame being reassembled from rx responses.
        std::optional<GuestFrame> partial;
        bool expect_extra = false;
    };

    NetfrontHarness() = default;
    Status write_device_nodes();
    Status open_host_side();
    void serve();
    std::size_t tx_page(unsigned q, std::uint32_t slot) const;
    std::size_t rx_page(unsigned q, std::uint32_t id) const;
    void post_rx(unsigned q);
    std::optional<GuestFrame> take_rx(unsigned q);
    void notify(Port p) { provider_->guest_notify(p); }

    NetHarnessOptions opts_;
    std::unique_ptr<xenstore::XenstoreService> store_;
    std::unique_ptr<LocalGrantTable> guest_;
    std::unique_ptr<link::LocalLinkProvider> provider_;
    std::string backend_path_, frontend_path_, tap_name_;
    UniqueFd packet_;
    int ifindex_ = 0;

    std::mutex host_mu_;
    std::unique_ptr<net::NetbackHost> host_;  // process mode
    std::unique_ptr<link::LinkServer> link_;  // in-process mode
    std::thread server_;
    std::thread in_process_;
    std::atomic<bool> stop_{false};
    std::atomic<std::size_t> deaths_{0};

    std::vector<Queue> queues_;
    unsigned next_rx_queue_ = 0;
    std::uint64_t tx_errors_ = 0;
    std::vector<std::byte> host_buf_;
};

}  // namespace xenolith::backend::harness
