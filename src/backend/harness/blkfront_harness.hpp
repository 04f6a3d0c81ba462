// A blkfront on the host: plays the guest of a vbd so that the real
// xenolith-blkback process can be driven through a real ring without a
// guest (tests, bench/blkback.sh). The guest's RAM and grant table are a
// LocalGrantTable, its event channel the LocalLinkProvider's guest side,
// the store an in-process XenstoreService holding the nodes libxl writes;
// the back-end is launched exactly as xenolithd launches it (BlkbackHost:
// sandbox, link, scoped xenstore connection, supervision), or, for the
// sandbox-cost baseline, the same back-end code runs on a thread.
//
// Guest frames: ref r grants frame r (all granted writable at start); the
// rings take frames [0, queues << order) (queue q's pages are
// [q << order, (q + 1) << order)), data goes anywhere after that.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "backend/blk/abi.hpp"
#include "backend/blk/blkback_host.hpp"
#include "backend/blk/ring.hpp"
#include "backend/link/local_link_provider.hpp"
#include "backend/local_grants.hpp"
#include "backend/xenbus_state.hpp"
#include "base/result.hpp"
#include "xenstore/xenstore_service.hpp"

namespace xenolith::backend::harness {

using namespace std::chrono_literals;

struct HarnessOptions {
    std::string disk;              // image file or block device
    bool readonly = false;         // mode=r
    bool direct = false;           // direct-io-safe
    bool in_process = false;       // run the back-end on a thread, no process, no sandbox
    std::string binary;            // xenolith-blkback (process mode)
    std::size_t guest_pages = 4096;
    DomId frontend = 1;
    unsigned devid = 51712;        // xvda
    unsigned max_queues = 0;       // multi-queue-max-queues offered; 0: the host default
    sandbox::RestartPolicy restart{};
};

class BlkfrontHarness {
public:
    static Result<std::unique_ptr<BlkfrontHarness>> start(const HarnessOptions& opts);
    ~BlkfrontHarness();
    BlkfrontHarness(const BlkfrontHarness&) = delete;
    BlkfrontHarness& operator=(const BlkfrontHarness&) = delete;

    // The front end's handshake: waits for the back-end's InitWait, lays
    // out a ring of 1 << ring_page_order pages, binds a port, writes
    // ring-ref(s), event-channel, protocol, feature-persistent, goes
    // Initialised, waits for Connected and says Connected itself. With
    // `queues` above one, blkfront's multi-queue keys: multi-queue-num-queues
    // and per queue queue-N/ring-ref(s) and queue-N/event-channel, one ring
    // and one port (alloc_unbound) per queue.
    Status connect(unsigned ring_page_order = 0, bool persistent = true,
                   std::chrono::milliseconds timeout = 10s, unsigned queues = 1);
    // Closing, waits for the back-end's Closing/Closed, then Closed.
    Status disconnect(std::chrono::milliseconds timeout = 10s);
    void set_frontend_state(XenbusState s);

    // Waits until the back-end's state is `want`; false on timeout.
    bool wait_backend_state(XenbusState want, std::chrono::milliseconds timeout = 10s);
    std::optional<std::string> read(const std::string& path) const;
    void write(const std::string& path, const std::string& value);
    const std::string& backend_path() const { return backend_path_; }
    const std::string& frontend_path() const { return frontend_path_; }

    LocalGrantTable& guest() { return *guest_; }
    // Queue q's ring and guest port (queue 0 unless told).
    blk::FrontRing& ring(unsigned q = 0) { return *rings_.at(q); }
    Port port(unsigned q = 0) const { return ports_.at(q); }
    unsigned queues() const { return static_cast<unsigned>(rings_.size()); }
    std::uint64_t sectors() const { return sectors_; }
    // Publishes queue q's queued requests and notifies its port when the
    // back-end asks for it.
    void push(unsigned q = 0);
    // Waits up to `timeout` for a notification from the back-end, on any
    // port; takes every pending one and returns it (empty on timeout).
    std::vector<Port> wait_events(std::chrono::milliseconds timeout);
    bool wait_event(std::chrono::milliseconds timeout) { return !wait_events(timeout).empty(); }
    // One request, synchronously: `pages` whole pages from guest frame
    // `frame` (read, write), or a flush/barrier with no segments, on
    // queue `queue`. The response's status, or an error when none comes
    // within `timeout`.
    Result<std::int16_t> io(std::uint8_t op, std::uint64_t sector, unsigned frame, unsigned pages,
                            std::chrono::milliseconds timeout = 10s, unsigned queue = 0);

    // The back-end process (process mode): its pid (-1 between a death and
    // its relaunch), relaunches so far, and what the link holds.
    pid_t backend_pid();
    unsigned restarts();
    std::size_t pins_held();
    std::size_t deaths() const { return deaths_.load(); }

private:
    BlkfrontHarness() = default;
    Status write_device_nodes(const HarnessOptions& opts);
    void serve();  // the server thread: the link and the supervisor

    HarnessOptions opts_;
    std::unique_ptr<xenstore::XenstoreService> store_;
    std::unique_ptr<LocalGrantTable> guest_;
    std::unique_ptr<link::LocalLinkProvider> provider_;
    std::string backend_path_, frontend_path_;

    std::mutex host_mu_;
    std::unique_ptr<blk::BlkbackHost> host_;  // process mode
    std::unique_ptr<link::LinkServer> link_;   // in-process mode
    std::thread server_;
    std::thread in_process_;                  // in-process mode
    std::atomic<bool> stop_{false};
    std::atomic<std::size_t> deaths_{0};

    std::vector<std::unique_ptr<blk::FrontRing>> rings_;
    std::vector<Port> ports_;
    std::uint64_t sectors_ = 0;
    std::uint64_t next_id_ = 1;
};

}  // namespace xenolith::backend::harness
