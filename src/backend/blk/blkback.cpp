#include "backend/blk/blkback.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

namespace xenolith::backend::blk {

namespace {
constexpr std::uint64_t kSectorSize = 512;
}

Result<std::unique_ptr<Blkback>> Blkback::create(Config cfg, Grants& grants, EventChannels& evtchn,
                                                 UringDisk& disk) {
    return make(std::move(cfg), grants, evtchn, &disk);
}

Result<std::unique_ptr<Blkback>> Blkback::create_empty(Config cfg, Grants& grants, EventChannels& evtchn) {
    cfg.readonly = true;
    cfg.discard = false;
    return make(std::move(cfg), grants, evtchn, nullptr);
}

Result<std::unique_ptr<Blkback>> Blkback::make(Config cfg, Grants& grants, EventChannels& evtchn,
                                               UringDisk* disk) {
    std::size_t pages = cfg.ring_refs.size();
    if (pages == 0 || pages > (1u << kMaxRingPageOrder) || (pages & (pages - 1)) != 0)
        return make_error(fmt::format("ring of {} pages: ring-page-order above {} or not a power of two",
                                      pages, kMaxRingPageOrder));
    if (cfg.readonly == false && disk && disk->readonly())
        return make_error("a writable device on a read-only disk");
    if (cfg.max_indirect_segments > kMaxIndirectSegments)
        cfg.max_indirect_segments = kMaxIndirectSegments;
    auto [ring, st] = grants.map(cfg.frontend, cfg.ring_refs, true);
    if (st != GNTST_okay)
        return make_error(fmt::format("mapping the ring from domain {}: grant status {}", cfg.frontend, st));
    return std::unique_ptr<Blkback>(new Blkback(std::move(cfg), grants, evtchn, disk, std::move(ring)));
}

Blkback::Blkback(Config cfg, Grants& grants, EventChannels& evtchn, UringDisk* disk, GrantMapping ring)
    : cfg_(std::move(cfg)), grants_(grants), evtchn_(evtchn), disk_(disk), ring_map_(std::move(ring)),
      ring_(ring_map_.data(), ring_map_.pages(), cfg_.abi),
      sectors_(disk ? disk->size_bytes() / kSectorSize : 0) {
    unsigned n = cfg_.max_in_flight == 0 || cfg_.max_in_flight > ring_.size() ? ring_.size()
                                                                               : cfg_.max_in_flight;
    slots_.resize(n);
    for (unsigned i = n; i-- > 0;) free_.push_back(i);
}

// Outstanding disk operations write into guest buffers this object maps:
// wait for them before the mappings go.
Blkback::~Blkback() {
    while (in_flight_ > 0 && disk_) {
        pollfd p{disk_->completion_fd(), POLLIN, 0};
        ::poll(&p, 1, 1000);
        reap();
    }
}

bool Blkback::reap() {
    bool any = false;
    if (disk_)
        disk_->reap([this, &any](std::uint64_t cookie, int result) {
            any = true;
            complete(cookie, result);
        });
    return any;
}

void Blkback::on_event() {
    while (auto port = evtchn_.pending()) evtchn_.unmask(*port);
    process_ring();
}

void Blkback::on_disk() {
    reap();
    process_ring();
}

bool Blkback::poll_once(int timeout_ms) {
    pollfd p[2] = {{evtchn_.fd(), POLLIN, 0}, {disk_fd(), POLLIN, 0}};
    if (::poll(p, 2, timeout_ms) <= 0) return false;
    if (p[1].revents) on_disk();
    if (p[0].revents) on_event();
    return true;
}

void Blkback::process_ring() {
    for (;;) {
        while (!stopped_ && !draining_ && !free_.empty()) {
            auto req = ring_.next();
            if (!req) break;
            ++stats_.requests;
            dispatch(*req);
        }
        if (stopped_ || ring_.broken() || draining_ || free_.empty()) break;
        if (!ring_.final_check_for_requests()) break;
    }
    if (disk_) disk_->submit();
    push();
}

void Blkback::dispatch(const Request& req) {
    switch (req.operation) {
    case BLKIF_OP_READ:
    case BLKIF_OP_WRITE:
    case BLKIF_OP_WRITE_BARRIER:
    case BLKIF_OP_FLUSH_DISKCACHE:
        dispatch_rw(req);
        return;
    case BLKIF_OP_INDIRECT:
        if (cfg_.max_indirect_segments != 0) {
            dispatch_rw(req);
            return;
        }
        break;  // not offered: unknown to this device
    case BLKIF_OP_DISCARD:
        if (cfg_.discard) {
            dispatch_discard(req);
            return;
        }
        break;
    default:
        break;
    }
    answer(req.id, req.operation, BLKIF_RSP_EOPNOTSUPP);
}

// Copies the segment descriptors out of the request or its indirect pages.
bool Blkback::gather_segments(const Request& req, std::vector<Segment>& segs) {
    segs.clear();
    if (req.operation != BLKIF_OP_INDIRECT) {
        segs.assign(req.seg.begin(), req.seg.begin() + req.nr_segments);
        return true;
    }
    unsigned pages = (req.nr_segments + kSegmentsPerIndirectPage - 1) / kSegmentsPerIndirectPage;
    segs.reserve(req.nr_segments);
    if (cfg_.persistent) {
        pages_scratch_.clear();
        for (unsigned p = 0; p < pages; ++p) pages_scratch_.push_back(persistent_page(req.indirect_grefs[p]));
        if (std::find(pages_scratch_.begin(), pages_scratch_.end(), nullptr) == pages_scratch_.end()) {
            for (unsigned i = 0; i < req.nr_segments; ++i) {
                std::span<const std::byte> page(pages_scratch_[i / kSegmentsPerIndirectPage], kXenPageSize);
                segs.push_back(decode_indirect_segment(page, i % kSegmentsPerIndirectPage));
            }
            return true;
        }
    }
    auto [map, st] = grants_.map(cfg_.frontend, std::span<const GrantRef>(req.indirect_grefs.data(), pages),
                                 false);
    if (st != GNTST_okay) return false;
    std::span<const std::byte> all(map.data(), map.size());
    for (unsigned i = 0; i < req.nr_segments; ++i) segs.push_back(decode_indirect_segment(all, i));
    return true;
}

std::byte* Blkback::persistent_page(GrantRef ref) {
    if (auto it = persistent_.find(ref); it != persistent_.end()) return it->second.data();
    if (persistent_.size() >= cfg_.max_persistent_grants) return nullptr;
    GrantRef refs[] = {ref};
    auto [map, st] = grants_.map(cfg_.frontend, refs, true);
    if (st != GNTST_okay) return nullptr;
    std::byte* page = map.data();
    persistent_.emplace(ref, std::move(map));
    return page;
}

// Points the slot's iovecs at the request's buffers: persistent pages when
// every one can be, else one mapping for this request alone, writable only
// for a read (the back end writes into the guest's buffer then).
bool Blkback::map_buffers(Slot& slot, std::uint8_t op) {
    slot.iov.clear();
    if (cfg_.persistent) {
        pages_scratch_.clear();
        for (const Segment& s : segs_scratch_) pages_scratch_.push_back(persistent_page(s.gref));
        if (std::find(pages_scratch_.begin(), pages_scratch_.end(), nullptr) == pages_scratch_.end()) {
            for (std::size_t i = 0; i < segs_scratch_.size(); ++i) {
                const Segment& s = segs_scratch_[i];
                slot.iov.push_back(iovec{pages_scratch_[i] + s.first_sect * kSectorSize,
                                         (s.last_sect - s.first_sect + 1u) * kSectorSize});
            }
            return true;
        }
    }
    std::vector<GrantRef> refs;
    refs.reserve(segs_scratch_.size());
    for (const Segment& s : segs_scratch_) refs.push_back(s.gref);
    auto [map, st] = grants_.map(cfg_.frontend, refs, op == BLKIF_OP_READ);
    if (st != GNTST_okay) return false;
    slot.data = std::move(map);
    for (std::size_t i = 0; i < segs_scratch_.size(); ++i) {
        const Segment& s = segs_scratch_[i];
        slot.iov.push_back(iovec{slot.data.data() + i * kXenPageSize + s.first_sect * kSectorSize,
                                 (s.last_sect - s.first_sect + 1u) * kSectorSize});
    }
    return true;
}

void Blkback::dispatch_rw(const Request& req) {
    bool indirect = req.operation == BLKIF_OP_INDIRECT;
    std::uint8_t op = indirect ? req.indirect_op : req.operation;
    if (indirect && op != BLKIF_OP_READ && op != BLKIF_OP_WRITE) return answer(req.id, op, BLKIF_RSP_ERROR);
    bool preflush = op == BLKIF_OP_FLUSH_DISKCACHE || op == BLKIF_OP_WRITE_BARRIER;
    unsigned nseg = req.nr_segments;
    if ((nseg == 0 && !preflush) || (!indirect && nseg > BLKIF_MAX_SEGMENTS_PER_REQUEST) ||
        (indirect && nseg > cfg_.max_indirect_segments))
        return answer(req.id, op, BLKIF_RSP_ERROR);
    if (!gather_segments(req, segs_scratch_)) return answer(req.id, op, BLKIF_RSP_ERROR);

    std::uint64_t nr_sects = 0;
    for (const Segment& s : segs_scratch_) {
        if (s.last_sect >= kSectorsPerPage || s.last_sect < s.first_sect)
            return answer(req.id, op, BLKIF_RSP_ERROR);
        nr_sects += s.last_sect - s.first_sect + 1u;
    }
    // vbd_translate: nothing but reads on a read-only device (flushes
    // included), and the whole range inside the disk.
    if (op != BLKIF_OP_READ && cfg_.readonly) return answer(req.id, op, BLKIF_RSP_ERROR);
    if (nr_sects != 0) {
        std::uint64_t end = req.sector_number + nr_sects;
        if (end < req.sector_number || end > sectors_) return answer(req.id, op, BLKIF_RSP_ERROR);
    }

    unsigned index = take_slot();
    Slot& slot = slots_[index];
    slot.id = req.id;
    slot.operation = op;
    slot.offset = req.sector_number * kSectorSize;
    slot.bytes = nr_sects * kSectorSize;
    slot.iov.clear();
    if (nseg != 0 && !map_buffers(slot, op)) {
        slot.status = BLKIF_RSP_ERROR;
        finish(index);
        return;
    }
    Step io = nseg == 0 ? Step::none : op == BLKIF_OP_READ ? Step::read : Step::write;
    switch (op) {
    case BLKIF_OP_FLUSH_DISKCACHE:  // a flush, then the write it carries
        slot.steps[0] = Step::sync;
        slot.steps[1] = io;
        break;
    case BLKIF_OP_WRITE_BARRIER:  // earlier writes stable, this one too
        slot.steps[0] = Step::sync;
        slot.steps[1] = io;
        slot.steps[2] = io == Step::none ? Step::none : Step::sync;
        slot.barrier = true;
        break;
    default:
        slot.steps[0] = io;
        break;
    }
    if (slot.barrier) {
        draining_ = true;
        barrier_slot_ = index;
        barrier_started_ = false;
        if (in_flight_ == 1) {
            barrier_started_ = true;
            start(index);
        }
        return;
    }
    start(index);
}

void Blkback::dispatch_discard(const Request& req) {
    if (cfg_.readonly) return answer(req.id, BLKIF_OP_DISCARD, BLKIF_RSP_ERROR);
    std::uint64_t end = req.sector_number + req.nr_sectors;
    if (end < req.sector_number || end > sectors_) return answer(req.id, BLKIF_OP_DISCARD, BLKIF_RSP_ERROR);
    if (req.nr_sectors == 0) return answer(req.id, BLKIF_OP_DISCARD, BLKIF_RSP_OKAY);
    std::uint64_t offset = req.sector_number * kSectorSize, len = req.nr_sectors * kSectorSize;
    // BLKIF_DISCARD_SECURE is ignored where discard-secure is not offered.
    if ((req.discard_flag & BLKIF_DISCARD_SECURE) && disk_ && disk_->can_secure_discard()) {
        int rc = disk_->secure_discard(offset, len);
        return answer(req.id, BLKIF_OP_DISCARD,
                      rc == 0 ? BLKIF_RSP_OKAY : rc == -EOPNOTSUPP ? BLKIF_RSP_EOPNOTSUPP : BLKIF_RSP_ERROR);
    }
    unsigned index = take_slot();
    Slot& slot = slots_[index];
    slot.id = req.id;
    slot.operation = BLKIF_OP_DISCARD;
    slot.offset = offset;
    slot.bytes = len;
    slot.steps[0] = Step::discard;
    start(index);
}

void Blkback::answer(std::uint64_t id, std::uint8_t op, std::int16_t status) {
    if (status == BLKIF_RSP_ERROR) ++stats_.errors;
    if (status == BLKIF_RSP_EOPNOTSUPP) ++stats_.unsupported;
    ring_.respond(id, op, status);
    unpushed_ = true;
}

unsigned Blkback::take_slot() {
    unsigned index = free_.back();
    free_.pop_back();
    ++in_flight_;
    Slot& s = slots_[index];
    s.status = BLKIF_RSP_OKAY;
    s.steps[0] = s.steps[1] = s.steps[2] = Step::none;
    s.step = 0;
    s.barrier = false;
    return index;
}

void Blkback::start(unsigned index) {
    if (slots_[index].steps[0] == Step::none || !submit_step(index)) finish(index);
}

// Submits the slot's current step; false when there is none left or the
// submission queue refused it (then the request fails).
bool Blkback::submit_step(unsigned index) {
    Slot& s = slots_[index];
    while (s.step < 3 && s.steps[s.step] == Step::none) ++s.step;
    if (s.step >= 3) return false;
    bool ok = false;
    auto iovcnt = static_cast<unsigned>(s.iov.size());
    if (disk_) {
        switch (s.steps[s.step]) {
        case Step::sync: ok = disk_->datasync(index); break;
        case Step::read: ok = disk_->read(s.offset, s.iov.data(), iovcnt, index); break;
        case Step::write: ok = disk_->write(s.offset, s.iov.data(), iovcnt, index); break;
        case Step::discard: ok = disk_->discard(s.offset, s.bytes, index); break;
        case Step::none: break;
        }
    }
    if (!ok) s.status = BLKIF_RSP_ERROR;
    return ok;
}

void Blkback::complete(std::uint64_t cookie, int result) {
    if (cookie >= slots_.size()) return;
    auto index = static_cast<unsigned>(cookie);
    Slot& s = slots_[index];
    Step step = s.steps[s.step];
    bool transfer = step == Step::read || step == Step::write;
    if (result == -EOPNOTSUPP && !transfer) {
        s.status = BLKIF_RSP_EOPNOTSUPP;
    } else if (result < 0 || (transfer && static_cast<std::uint64_t>(result) != s.bytes)) {
        // A short transfer is reported as an error, not retried.
        s.status = BLKIF_RSP_ERROR;
    }
    ++s.step;
    if (s.status != BLKIF_RSP_OKAY || !submit_step(index)) finish(index);
}

void Blkback::finish(unsigned index) {
    Slot& s = slots_[index];
    s.data.reset();  // unmap before the front end may reuse its pages
    answer(s.id, s.operation, s.status);
    free_.push_back(index);
    --in_flight_;
    if (draining_) {
        if (s.barrier && barrier_slot_ == index) {
            draining_ = false;
        } else if (!barrier_started_ && in_flight_ == 1) {
            barrier_started_ = true;
            start(barrier_slot_);
        }
    }
}

void Blkback::push() {
    if (!unpushed_) return;
    unpushed_ = false;
    if (ring_.push_responses()) evtchn_.notify(cfg_.port);
}

}  // namespace xenolith::backend::blk
