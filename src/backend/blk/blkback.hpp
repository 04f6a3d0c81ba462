// The block back-end's core: one blkif ring of one front end, served from
// one raw disk. It takes requests off the ring, refuses anything hostile
// with Xen's status codes (Linux xen-blkback's rules), maps the granted
// buffers, drives the disk through io_uring and answers. Everything it
// touches outside its own memory comes through the Grants and
// EventChannels services and the disk it was handed.
//
// Single-threaded: the owner waits on fds() and calls on_event() /
// on_disk(), or simply poll_once().
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "backend/blk/abi.hpp"
#include "backend/blk/ring.hpp"
#include "backend/blk/uring_disk.hpp"
#include "backend/services.hpp"
#include "base/result.hpp"

namespace xenolith::backend::blk {

// Largest ring-page-order offered (max-ring-page-order), as Linux's
// xen_blkif_max_ring_order default.
inline constexpr unsigned kMaxRingPageOrder = 4;
// feature-max-indirect-segments default and ceiling (Linux's
// MAX_INDIRECT_SEGMENTS; the protocol's own limit is 8 pages of 512).
inline constexpr unsigned kDefaultIndirectSegments = 256;
inline constexpr unsigned kMaxIndirectSegments =
    BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * kSegmentsPerIndirectPage;

// Grants kept mapped per ring with feature-persistent (Linux's
// xen_blkif_max_pgrants default).
inline constexpr unsigned kDefaultPersistentGrants = 1056;

struct Config {
    DomId frontend = 0;
    Abi abi = Abi::native;
    std::vector<GrantRef> ring_refs;  // ring-ref, or ring-ref0.. for 1 << ring-page-order
    Port port = 0;                    // local port, bound to the front end's event-channel
    bool readonly = false;            // mode=r: no request may write
    unsigned max_indirect_segments = kDefaultIndirectSegments;  // 0: no indirect
    bool discard = true;              // feature-discard
    unsigned max_in_flight = 0;       // 0: one per ring slot
    // feature-persistent, negotiated with the front end: it keeps reusing
    // the same grants, so the back end keeps them mapped (writable; a
    // read-only grant falls back to a mapping per request) up to a limit.
    bool persistent = false;
    unsigned max_persistent_grants = kDefaultPersistentGrants;
};

struct Stats {
    std::uint64_t requests = 0;
    std::uint64_t errors = 0;       // answered BLKIF_RSP_ERROR
    std::uint64_t unsupported = 0;  // answered BLKIF_RSP_EOPNOTSUPP
};

class Blkback {
public:
    static Result<std::unique_ptr<Blkback>> create(Config cfg, Grants& grants, EventChannels& evtchn,
                                                   UringDisk& disk);
    // A device with no medium (an empty cdrom): 0 sectors, read-only, so
    // every request is answered without touching a disk (BLKIF_RSP_ERROR
    // for reads and writes, EOPNOTSUPP for what is not offered).
    static Result<std::unique_ptr<Blkback>> create_empty(Config cfg, Grants& grants, EventChannels& evtchn);
    Blkback(const Blkback&) = delete;
    Blkback& operator=(const Blkback&) = delete;
    ~Blkback();

    // The fds to wait on: the event channel's and the disk's completions.
    int event_fd() const { return evtchn_.fd(); }
    int disk_fd() const { return disk_ ? disk_->completion_fd() : -1; }
    // on_event() takes every pending port of `evtchn` (a Blkback that owns
    // its event channel); a device with several queues on one EventChannels
    // takes the ports itself and calls process_ring() for the queue named.
    void on_event();
    void on_disk();
    // Reaps disk completions (answering what finished) without looking at
    // the ring; true when anything completed, then process_ring() is due
    // (it submits follow-up steps and pushes the responses).
    bool reap_completions() { return reap(); }
    Port port() const { return cfg_.port; }
    // Waits up to `timeout_ms` for either and handles it; false on timeout.
    bool poll_once(int timeout_ms);
    // Consumes whatever the ring holds (also done by on_event()).
    void process_ring();

    // Takes no new request off the ring from now on; what is in flight
    // completes and is answered. The device calls it before tearing the
    // ring down, so no response is written after the ring is unmapped.
    void stop_intake() { stopped_ = true; }

    // The front end broke the ring (lying indexes): the device must close.
    bool broken() const { return ring_.broken(); }
    unsigned in_flight() const { return in_flight_; }
    std::size_t persistent_grants() const { return persistent_.size(); }
    std::uint64_t sectors() const { return sectors_; }
    const Stats& stats() const { return stats_; }

private:
    enum class Step : std::uint8_t { none, sync, read, write, discard };
    struct Slot {
        std::uint64_t id = 0;
        std::uint8_t operation = 0;  // echoed in the response
        std::int16_t status = BLKIF_RSP_OKAY;
        Step steps[3] = {Step::none, Step::none, Step::none};
        unsigned step = 0;
        std::uint64_t offset = 0;
        std::uint64_t bytes = 0;
        GrantMapping data;
        std::vector<iovec> iov;
        bool barrier = false;
    };

    static Result<std::unique_ptr<Blkback>> make(Config cfg, Grants& grants, EventChannels& evtchn,
                                                 UringDisk* disk);
    Blkback(Config cfg, Grants& grants, EventChannels& evtchn, UringDisk* disk, GrantMapping ring);
    bool reap();

    void dispatch(const Request& req);
    void dispatch_rw(const Request& req);
    void dispatch_discard(const Request& req);
    bool gather_segments(const Request& req, std::vector<Segment>& segs);
    // The page behind `ref` from the persistent set, mapping it on first
    // use; nullptr when it cannot be kept (set full, or not mappable rw).
    std::byte* persistent_page(GrantRef ref);
    bool map_buffers(Slot& slot, std::uint8_t op);
    void answer(std::uint64_t id, std::uint8_t op, std::int16_t status);
    unsigned take_slot();
    void start(unsigned index);
    bool submit_step(unsigned index);
    void complete(std::uint64_t cookie, int result);
    void finish(unsigned index);
    void push();

    Config cfg_;
    Grants& grants_;
    EventChannels& evtchn_;
    UringDisk* disk_;  // null: no medium
    GrantMapping ring_map_;
    BackRing ring_;
    std::uint64_t sectors_;
    std::vector<Slot> slots_;
    std::vector<unsigned> free_;
    unsigned in_flight_ = 0;
    // A write barrier waits for everything before it, and nothing after it
    // is taken until it completes.
    bool draining_ = false;
    unsigned barrier_slot_ = 0;
    bool barrier_started_ = false;
    bool unpushed_ = false;
    bool stopped_ = false;
    Stats stats_;
    std::vector<Segment> segs_scratch_;
    std::vector<std::byte*> pages_scratch_;
    std::unordered_map<GrantRef, GrantMapping> persistent_;
};

}  // namespace xenolith::backend::blk
