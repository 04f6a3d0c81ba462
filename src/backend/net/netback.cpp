#include "backend/net/netback.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "backend/net/frame.hpp"

namespace xenolith::backend::net {

namespace {

// The largest frame either way: a 64 KiB GSO packet and its Ethernet and
// VLAN headers (the TAP's gso_max_size is 64 KiB of IP).
constexpr std::size_t kMaxFrame = 65536 + 18;
// The bytes of a tx frame copied into the back-end's own memory before its
// headers are read (the rest goes to the TAP straight from the guest's
// pages): enough for Ethernet, VLAN, IPv6 and TCP with options; longer
// headers are read from a private copy of the whole frame.
constexpr std::size_t kTxHeadBytes = 256;
// Data slots held per tx batch: one link message's worth.
constexpr std::size_t kTxBatchSpans = 256;
// A tx packet's iovecs: its head, then at most a slot each.
constexpr std::size_t kTxMaxIov = 1 + 1 + kMaxFollowingSlots;
// rx slots the largest frame takes: its pages and a GSO extra.
constexpr unsigned kMaxFrameSlots = (kMaxFrame + kXenPageSize - 1) / kXenPageSize + 1;
// rx buffers taken ahead at most: a ring's worth, one link message.
constexpr unsigned kRxHoldMax = RxBackRing::kSize;
// A frame read in place: its vnet header, its pages, what does not fit.
constexpr std::size_t kRxMaxIov = 1 + kMaxFrameSlots + 1;
// The bytes of a frame read in place that are judged from a private copy.
constexpr std::size_t kRxHeadBytes = 256;

}  // namespace

TapOffload offload_for(const FrontendFeatures& f) {
    TapOffload o;
    // The TAP's TUN_F_CSUM does not tell IPv4 from IPv6: with IPv4
    // offload only, an IPv6 partial checksum is completed here.
    o.csum = f.csum || f.ipv6_csum;
    o.tso4 = o.csum && f.sg && f.gso_tcpv4 && f.csum;
    o.tso6 = o.csum && f.sg && f.gso_tcpv6 && f.ipv6_csum;
    return o;
}

Result<std::unique_ptr<Netback>> Netback::create(QueueConfig cfg, Grants& grants, link::GrantHolder& holder,
                                                 EventChannels& evtchn) {
    GrantRef tx_ref[] = {cfg.tx_ring_ref};
    auto [tx, tx_st] = grants.map(cfg.frontend, tx_ref, true);
    if (tx_st != GNTST_okay)
        return make_error(fmt::format("mapping tx-ring-ref {} of domain {}: grant status {}", cfg.tx_ring_ref,
                                      cfg.frontend, tx_st));
    GrantRef rx_ref[] = {cfg.rx_ring_ref};
    auto [rx, rx_st] = grants.map(cfg.frontend, rx_ref, true);
    if (rx_st != GNTST_okay)
        return make_error(fmt::format("mapping rx-ring-ref {} of domain {}: grant status {}", cfg.rx_ring_ref,
                                      cfg.frontend, rx_st));
    if (cfg.budget == 0) cfg.budget = 1;
    return std::unique_ptr<Netback>(new Netback(std::move(cfg), holder, evtchn, std::move(tx), std::move(rx)));
}

Netback::Netback(QueueConfig cfg, link::GrantHolder& holder, EventChannels& evtchn, GrantMapping tx,
                 GrantMapping rx)
    : cfg_(std::move(cfg)), holder_(holder), evtchn_(evtchn), tx_map_(std::move(tx)), rx_map_(std::move(rx)),
      tx_(tx_map_.data()), rx_(rx_map_.data()), tx_head_(kVnetHeaderSize + kTxHeadBytes),
      tx_whole_(kVnetHeaderSize + kMaxFrame), rx_buf_(kVnetHeaderSize + kMaxFrame), rx_head_(kRxHeadBytes),
      rx_scratch_(kXenPageSize) {
    tx_spans_.reserve(kTxBatchSpans);
    tx_hold_.reserve(kTxBatchSpans);
    tx_iov_.reserve(kTxMaxIov);
    rx_reqs_.reserve(kRxHoldMax);
    rx_spans_.reserve(kRxHoldMax);
    rx_hold_.reserve(kRxHoldMax);
    rx_batch_.reserve(kRxHoldMax);
    rx_iov_.reserve(kRxMaxIov);
}

void Netback::fail(std::string why) {
    if (failed_) return;
    failed_ = true;
    failure_ = std::move(why);
}

bool Netback::wants_tap() { return !failed_ && !held_ && rx_.unconsumed() != 0; }

void Netback::on_event() {
    while (auto port = evtchn_.pending()) evtchn_.unmask(*port);
    process_tx();
    process_rx();
}

void Netback::on_tap() { process_rx(); }

bool Netback::poll_once(int timeout_ms) {
    pollfd p[2] = {{evtchn_.fd(), POLLIN, 0}, {cfg_.tap_fd, static_cast<short>(wants_tap() ? POLLIN : 0), 0}};
    for (int deadline : {rx_deadline_ms(), tx_deadline_ms()})
        if (deadline >= 0 && (timeout_ms < 0 || deadline < timeout_ms)) timeout_ms = deadline;
    bool had_work = more_work() || rx_deadline_ms() == 0 || tx_deadline_ms() == 0;
    if (::poll(p, 2, had_work ? 0 : timeout_ms) <= 0) {
        had_work = had_work || rx_deadline_ms() == 0 || tx_deadline_ms() == 0;
        if (!had_work) return false;
    }
    if (p[0].revents) on_event();
    else if (had_work) process_tx();
    if (p[1].revents || had_work) process_rx();
    return true;
}

// Answers the packet at req_cons, which was not decoded to the end (an
// error or a multicast request): the first and every data slot with
// `status`, extra-info slots NETIF_RSP_NULL; then consumes it.
void Netback::answer_unread_tx(unsigned slots, unsigned extras, std::int16_t status) {
    for (unsigned i = 0; i < slots; ++i) {
        netif_tx_response r{};
        bool extra = i >= 1 && i <= extras;
        r.id = extra ? 0 : tx_.peek(i).id;
        r.status = extra ? static_cast<std::int16_t>(NETIF_RSP_NULL) : status;
        tx_.respond(r);
    }
    tx_.consume(slots);
    tx_unpushed_ = true;
}

// Answers a sent packet (already consumed), as above. Its ids come from
// the packet's own copy of its requests, never from the shared ring again.
void Netback::answer_tx(const TxPacket& p, std::int16_t status) {
    for (unsigned i = 0; i < p.slots; ++i) {
        netif_tx_response r{};
        bool extra = i >= 1 && i <= p.extras;
        r.id = extra ? 0 : p.data[i == 0 ? 0 : i - p.extras].id;
        r.status = extra ? static_cast<std::int16_t>(NETIF_RSP_NULL) : status;
        tx_.respond(r);
    }
    tx_unpushed_ = true;
}

void Netback::process_tx() {
    unsigned done = 0;
    tx_more_ = false;
    tx_limited_ = false;
    while (!failed_ && !tx_limited_) {
        while (!failed_ && done < cfg_.budget) {
            unsigned available = tx_.unconsumed();
            if (tx_.broken()) {
                fail("tx ring: request producer more than a ring ahead");
                break;
            }
            if (available == 0) break;
            TxPacket p = read_tx_packet(tx_, available);
            if (p.verdict == TxVerdict::incomplete) break;
            if (p.verdict == TxVerdict::fatal) {
                fail(fmt::format("tx ring: {}", p.reason));
                break;
            }
            if (p.verdict == TxVerdict::send && cfg_.tx_credit &&
                !cfg_.tx_credit->take(p.total, std::chrono::steady_clock::now())) {
                // Left on the ring, unanswered, until the next window.
                tx_limited_ = true;
                ++stats_.tx_rate_waits;
                break;
            }
            ++done;
            switch (p.verdict) {
            case TxVerdict::send:
                tx_.consume(p.slots);
                queue_tx(p);
                break;
            case TxVerdict::error:
                flush_tx();  // responses stay in ring order
                ++stats_.tx_errors;
                answer_unread_tx(p.slots, p.extras, NETIF_RSP_ERROR);
                break;
            case TxVerdict::mcast:
                // No filter is kept: every multicast frame reaches the guest,
                // which is what accepting the address would give it.
                flush_tx();
                ++stats_.tx_mcast;
                answer_unread_tx(p.slots, p.extras, NETIF_RSP_OKAY);
                break;
            default:
                break;
            }
        }
        flush_tx();
        if (failed_ || tx_limited_) break;
        if (done >= cfg_.budget) {
            // Out of budget: come back at once if more is queued, else ask
            // for the next notification (the event index must move on, or
            // the front end's next request would wake no one).
            tx_more_ = tx_.final_check_for_requests();
            break;
        }
        if (!tx_.final_check_for_requests()) break;
    }
    flush_tx();
    if (tx_unpushed_) {
        tx_unpushed_ = false;
        if (tx_.push_responses()) evtchn_.notify(cfg_.tx_port);
    }
}

// Adds a consumed packet's data slots to the batch; a full batch is sent
// first. The batch's pages are held with one call (across a link, one
// round trip for up to a budget of packets) and each packet is written to
// the TAP straight from them.
void Netback::queue_tx(const TxPacket& p) {
    if (!tx_batch_.empty() && tx_spans_.size() + p.data_slots > kTxBatchSpans) flush_tx();
    PendingTx pend;
    pend.packet = p;
    pend.first_span = tx_spans_.size();
    std::size_t at = 0;
    for (unsigned i = 0; i < p.data_slots; ++i) {
        const netif_tx_request& r = p.data[i];
        link::HeldSpan span;
        span.ref = r.gref;
        span.offset = r.offset;
        span.len = r.size;
        tx_spans_.push_back(span);
        at += r.size;
    }
    pend.len = at;
    tx_batch_.push_back(pend);
}

void Netback::flush_tx() {
    if (tx_batch_.empty()) return;
    holder_.hold(cfg_.frontend, tx_spans_, false, tx_hold_);
    for (const PendingTx& pend : tx_batch_) send_tx(pend);
    // Given back before any answer is pushed: the front end may end its
    // grants as soon as it sees them answered.
    tx_hold_.release();
    tx_batch_.clear();
    tx_spans_.clear();
}

namespace {

// Copies `n` bytes from `from` on of a frame laid out in held spans.
void gather(std::span<const link::HeldSpan> spans, std::size_t from, std::size_t n, std::byte* to) {
    for (const link::HeldSpan& s : spans) {
        if (n == 0) return;
        if (from >= s.len) {
            from -= s.len;
            continue;
        }
        std::size_t k = std::min<std::size_t>(s.len - from, n);
        std::memcpy(to, s.data + from, k);
        to += k;
        n -= k;
        from = 0;
    }
}

}  // namespace

// One packet to the TAP and answered. Its headers are read from a private
// copy of its first bytes (the guest may rewrite its pages meanwhile; what
// was judged is what is sent), which go out behind the vnet header; the rest
// is written from the guest's held pages.
void Netback::send_tx(const PendingTx& pend) {
    const TxPacket& p = pend.packet;
    const auto spans = std::span<const link::HeldSpan>(tx_spans_).subspan(pend.first_span, p.data_slots);
    for (const link::HeldSpan& s : spans) {
        if (s.status != GNTST_okay) {
            ++stats_.tx_errors;
            return answer_tx(p, NETIF_RSP_ERROR);
        }
    }
    const std::size_t len = pend.len;
    std::byte* head = tx_head_.data();
    std::size_t copied = std::min(len, kTxHeadBytes);
    gather(spans, 0, copied, head + kVnetHeaderSize);
    VnetHeader h{};
    bool blank = p.flags & NETTXF_csum_blank;
    bool gso = p.gso_type != XEN_NETIF_GSO_TYPE_NONE;
    if (blank || gso) {
        // A GSO packet is checksum-offloaded whether or not the front end
        // said so (Linux forces CHECKSUM_PARTIAL and reseeds the sum).
        auto o = l4_offsets(std::span<const std::byte>(head + kVnetHeaderSize, copied), len);
        if (!o && copied < len) {
            head = tx_whole_.data();
            copied = len;
            gather(spans, 0, len, head + kVnetHeaderSize);
            o = l4_offsets(std::span<const std::byte>(head + kVnetHeaderSize, len));
        }
        bool fits = o && (!gso || (o->protocol == IPPROTO_TCP && o->ipv6 == (p.gso_type == XEN_NETIF_GSO_TYPE_TCPV6)));
        if (!fits) {
            ++stats_.tx_dropped;
            return answer_tx(p, NETIF_RSP_OKAY);
        }
        // The checksum field lies inside the headers read, so in the copy.
        if (!blank) seed_pseudo_header(std::span<std::byte>(head + kVnetHeaderSize, copied), *o);
        h.flags = kVnetNeedsCsum;
        h.csum_start = o->l4_start;
        h.csum_offset = o->csum_offset;
        if (gso) {
            h.gso_type = p.gso_type == XEN_NETIF_GSO_TYPE_TCPV4 ? kVnetGsoTcpv4 : kVnetGsoTcpv6;
            h.gso_size = p.gso_size;
            h.hdr_len = o->headers_len;
        }
    } else if (p.flags & NETTXF_data_validated) {
        h.flags = kVnetDataValid;
    }
    std::memcpy(head, &h, sizeof h);
    tx_iov_.clear();
    tx_iov_.push_back(iovec{head, kVnetHeaderSize + copied});
    std::size_t skip = copied;
    for (const link::HeldSpan& s : spans) {
        if (skip >= s.len) {
            skip -= s.len;
            continue;
        }
        tx_iov_.push_back(iovec{s.data + skip, s.len - skip});
        skip = 0;
    }
    ssize_t n = ::writev(cfg_.tap_fd, tx_iov_.data(), static_cast<int>(tx_iov_.size()));
    if (n == static_cast<ssize_t>(kVnetHeaderSize + len)) {
        ++stats_.tx_packets;
        stats_.tx_bytes += len;
    } else {
        ++stats_.tx_dropped;  // the TAP is full or down: dropped, as a NIC would
    }
    answer_tx(p, NETIF_RSP_OKAY);
}

// Host -> guest. While the ring has buffers posted for the largest frame,
// the next of them are held writable with one call (across a link, one
// round trip) and frames are read from the TAP straight into them, laid out
// as Linux's netback lays them out; the batch is answered in ring order,
// the buffers given back, then one push and notification. With fewer
// buffers posted a frame is read into the back-end's own buffer and copied
// in (or held until the front end posts enough).
void Netback::process_rx() {
    unsigned done = 0;
    rx_more_ = false;
    const unsigned most = cfg_.features.sg ? kMaxFrameSlots : 1;
    while (!failed_) {
        if (done >= cfg_.budget) {
            // As for tx: re-arm the event index when nothing is left.
            rx_more_ = held_ || rx_.final_check_for_requests();
            break;
        }
        if (held_) {
            // The frame waits for the front end's buffers; feature-rx-notify
            // wakes us when enough are posted.
            if (rx_.wait_for_requests(held_->slots)) {
                deliver_local(*held_);
                held_.reset();
                ++done;
                continue;
            }
            if (rx_.broken()) {
                fail("rx ring: request producer more than a ring ahead");
                break;
            }
            if (rx_deadline_ms() == 0) {
                ++stats_.rx_no_room;
                held_.reset();
                continue;
            }
            break;
        }
        unsigned available = rx_.unconsumed();
        if (rx_.broken()) {
            fail("rx ring: request producer more than a ring ahead");
            break;
        }
        if (available == 0) {
            // feature-rx-notify: ask for an event when buffers are posted.
            if (rx_.final_check_for_requests()) continue;
            break;
        }
        bool in_place = rx_reqs_.size() - rx_used_ >= most;
        if (!in_place && available >= most) {
            // Buffers are taken ahead only for frames that are there.
            if (!tap_readable()) break;
            hold_rx_buffers(most);
            in_place = true;
        }
        ssize_t n = in_place ? read_in_place(most) : ::read(cfg_.tap_fd, rx_buf_.data(), rx_buf_.size());
        if (n < 0) break;  // EAGAIN: nothing queued (anything else: the TAP is gone)
        ++done;
        if (static_cast<std::size_t>(n) < kVnetHeaderSize + 14) {
            ++stats_.rx_unsupported;
            continue;
        }
        const std::size_t len = static_cast<std::size_t>(n) - kVnetHeaderSize;
        if (in_place) {
            place_rx(len, most);
            continue;
        }
        std::memcpy(&rx_vnet_, rx_buf_.data(), sizeof rx_vnet_);
        std::span<std::byte> whole(rx_buf_.data() + kVnetHeaderSize, len);
        if (auto fr = judge_rx(whole, whole, len, rx_vnet_)) route_local(*fr);
    }
    flush_rx();
    if (rx_unpushed_) {
        rx_unpushed_ = false;
        if (rx_.push_responses()) evtchn_.notify(cfg_.rx_port);
    }
}

bool Netback::tap_readable() const {
    pollfd p{cfg_.tap_fd, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
}

// Makes at least `need` buffers held and untaken: the batch so far is
// answered and given back, then the next posted requests (at least `need`,
// as many as the last batches used, at most a ring) are copied privately
// and their pages held writable. The ring has `need` posted.
void Netback::hold_rx_buffers(unsigned need) {
    if (rx_reqs_.size() - rx_used_ >= need) return;
    const bool ran_out = !rx_reqs_.empty();
    flush_rx();
    if (ran_out) rx_hold_want_ = std::min(kRxHoldMax, rx_hold_want_ * 2);
    const unsigned n = std::min(rx_.unconsumed(), std::max(need, rx_hold_want_));
    for (unsigned i = 0; i < n; ++i) {
        netif_rx_request req = rx_.peek(i);
        rx_reqs_.push_back(req);
        link::HeldSpan span;
        span.ref = req.gref;
        span.offset = 0;
        span.len = static_cast<std::uint16_t>(kXenPageSize);
        rx_spans_.push_back(span);
    }
    holder_.hold(cfg_.frontend, rx_spans_, true, rx_hold_);
}

// Reads the next frame into the untaken held buffers in Linux's GSO layout
// (data pages in slots 0, 2, 3...: slot 1 is the extra info's if the frame
// is GSO, which is known only once read); a buffer whose hold failed takes
// its bytes into scratch, and what passes the buffers (a multi-page frame
// for a front end without feature-sg) into rx_buf_ at its place in the
// frame.
ssize_t Netback::read_in_place(unsigned most) {
    rx_iov_.clear();
    rx_iov_.push_back(iovec{&rx_vnet_, kVnetHeaderSize});
    std::size_t room = 0;
    for (unsigned i = 0; i < most && room < kMaxFrame; ++i) {
        if (i == 1) continue;
        const link::HeldSpan& s = rx_spans_[rx_used_ + i];
        rx_iov_.push_back(iovec{s.status == GNTST_okay ? s.data : rx_scratch_.data(), kXenPageSize});
        room += kXenPageSize;
    }
    rx_page_iovs_ = rx_iov_.size() - 1;
    if (room < kMaxFrame) rx_iov_.push_back(iovec{rx_buf_.data() + kVnetHeaderSize + room, kMaxFrame - room});
    return ::readv(cfg_.tap_fd, rx_iov_.data(), static_cast<int>(rx_iov_.size()));
}

// A frame just read in place (data page j at rx_iov_[1 + j]). A frame that
// is already where Linux puts it (GSO, or one page) is judged from a
// private copy of its head and taken as it lies; anything else (a
// multi-page frame without GSO, whose pages sit one slot late; one that
// passed the buffers; one whose checksum must be completed across pages) is
// gathered into rx_buf_ and goes the local way.
void Netback::place_rx(std::size_t len, unsigned most) {
    const std::size_t pages = (len + kXenPageSize - 1) / kXenPageSize;
    const std::size_t page_iovs = rx_page_iovs_;
    std::uint32_t lost = 0;
    for (std::size_t j = 0; j < pages && j < page_iovs; ++j)
        if (rx_iov_[1 + j].iov_base == rx_scratch_.data()) lost |= 1u << j;
    auto page = [&](std::size_t j) { return static_cast<std::byte*>(rx_iov_[1 + j].iov_base); };
    const bool gso = (rx_vnet_.gso_type & ~kVnetGsoEcn) != kVnetGsoNone;
    const bool lies_right = pages <= page_iovs && (pages == 1 || (gso && most > 1));
    std::optional<RxFrame> fr;
    if (lies_right) {
        // The head, privately: the guest may rewrite its buffers meanwhile.
        std::size_t head = std::min(len, kRxHeadBytes);
        for (std::size_t at = 0; at < head;) {
            std::size_t k = std::min(kXenPageSize, head - at);
            std::memcpy(rx_head_.data() + at, page(at / kXenPageSize), k);
            at += k;
        }
        std::span<std::byte> whole = pages == 1 ? std::span<std::byte>(page(0), len) : std::span<std::byte>();
        fr = judge_rx(std::span<const std::byte>(rx_head_.data(), head), whole, len, rx_vnet_);
        if (!fr) return;
        if (!fr->needs_whole) {
            fr->lost_pages = lost;
            ++stats_.rx_in_place;
            take_rx_slots(*fr);
            return;
        }
    }
    // Gathered in one piece; what passed the buffers is already in place.
    std::byte* to = rx_buf_.data() + kVnetHeaderSize;
    for (std::size_t j = 0; j < pages && j < page_iovs; ++j)
        std::memmove(to + j * kXenPageSize, page(j), std::min(kXenPageSize, len - j * kXenPageSize));
    std::span<std::byte> whole(to, len);
    fr = judge_rx(whole, whole, len, rx_vnet_);
    if (!fr) return;
    fr->lost_pages = lost;
    route_local(*fr);
}

// A frame in rx_buf_: copied into buffers if enough are posted, else held.
void Netback::route_local(RxFrame fr) {
    if (fr.slots <= rx_.unconsumed()) {
        deliver_local(fr);
    } else {
        hold_rx(fr);
    }
}

// Copies a frame from rx_buf_ into held buffers (taken ahead if need be)
// in Linux's layout, and takes their slots.
void Netback::deliver_local(const RxFrame& fr) {
    hold_rx_buffers(fr.slots);
    const bool gso = fr.gso_type != XEN_NETIF_GSO_TYPE_NONE;
    const std::byte* frame = rx_buf_.data() + kVnetHeaderSize;
    std::size_t at = 0;
    for (unsigned i = 0; i < fr.slots; ++i) {
        if (gso && i == 1) continue;
        const link::HeldSpan& s = rx_spans_[rx_used_ + i];
        const std::size_t n = std::min(kXenPageSize, fr.len - at);
        if (s.status == GNTST_okay) std::memcpy(s.data, frame + at, n);
        at += n;
    }
    take_rx_slots(fr);
}

void Netback::take_rx_slots(const RxFrame& fr) {
    rx_batch_.push_back(PendingRx{fr, rx_used_});
    rx_used_ += fr.slots;
    rx_.consume(fr.slots);
}

// A frame with too few buffers posted: the batch ahead of it is answered,
// and it waits in rx_buf_ (the TAP is not read meanwhile).
void Netback::hold_rx(RxFrame fr) {
    flush_rx();
    held_ = fr;
    held_since_ = std::chrono::steady_clock::now();
}

int Netback::tx_deadline_ms() const {
    if (!tx_limited_ || !cfg_.tx_credit || failed_) return -1;
    return cfg_.tx_credit->wait_ms(std::chrono::steady_clock::now());
}

int Netback::rx_deadline_ms() const {
    if (!held_) return -1;
    auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - held_since_);
    auto left = static_cast<long long>(cfg_.rx_hold_ms) - waited.count();
    return left > 0 ? static_cast<int>(left) : 0;
}

// `head` is the frame's first bytes (private), `whole` the frame in one
// piece when it is (empty otherwise), `len` its length.
std::optional<Netback::RxFrame> Netback::judge_rx(std::span<const std::byte> head, std::span<std::byte> whole,
                                                  std::size_t len, const VnetHeader& h) {
    const FrontendFeatures& fe = cfg_.features;
    RxFrame fr;
    fr.len = len;
    if (h.flags & kVnetNeedsCsum) {
        auto o = l4_offsets(head, len);
        if (!o && head.size() < len) {
            if (whole.empty()) {
                fr.needs_whole = true;
                return fr;
            }
            o = l4_offsets(whole);
        }
        bool v6 = o && o->ipv6;
        if (fe.csum && (!v6 || fe.ipv6_csum)) {
            fr.csum_flags = NETRXF_csum_blank | NETRXF_data_validated;
        } else if (whole.empty()) {
            fr.needs_whole = true;
            return fr;
        } else if (complete_checksum(whole, h.csum_start, h.csum_offset, o && o->protocol == IPPROTO_UDP)) {
            fr.csum_flags = NETRXF_data_validated;
        } else {
            ++stats_.rx_unsupported;
            return std::nullopt;
        }
    } else if (h.flags & kVnetDataValid) {
        fr.csum_flags = NETRXF_data_validated;
    }
    switch (h.gso_type & ~kVnetGsoEcn) {
    case kVnetGsoNone: break;
    case kVnetGsoTcpv4: fr.gso_type = XEN_NETIF_GSO_TYPE_TCPV4; break;
    case kVnetGsoTcpv6: fr.gso_type = XEN_NETIF_GSO_TYPE_TCPV6; break;
    default: ++stats_.rx_unsupported; return std::nullopt;
    }
    bool gso = fr.gso_type != XEN_NETIF_GSO_TYPE_NONE;
    if (gso && (h.gso_size == 0 || !fe.sg || !(h.flags & kVnetNeedsCsum) ||
                !(fr.gso_type == XEN_NETIF_GSO_TYPE_TCPV4 ? fe.gso_tcpv4 : fe.gso_tcpv6))) {
        ++stats_.rx_unsupported;
        return std::nullopt;
    }
    fr.gso_size = h.gso_size;
    auto data_slots = static_cast<unsigned>((len + kXenPageSize - 1) / kXenPageSize);
    if (data_slots > 1 && !fe.sg) {
        ++stats_.rx_unsupported;
        return std::nullopt;
    }
    fr.slots = data_slots + (gso ? 1 : 0);
    return fr;
}

// Answers the batch in ring order and gives its buffers back (before the
// caller pushes the answers: the front end may end its grants as soon as
// it sees them); buffers held but not taken stay posted.
void Netback::flush_rx() {
    if (!rx_batch_.empty()) {
        for (const PendingRx& pend : rx_batch_) answer_rx(pend);
        rx_unpushed_ = true;
    }
    if (!rx_reqs_.empty() && rx_used_ * 2 < rx_reqs_.size())
        rx_hold_want_ = std::max<unsigned>(static_cast<unsigned>(rx_used_) * 2, kMaxFrameSlots);
    rx_hold_.release();
    rx_batch_.clear();
    rx_reqs_.clear();
    rx_spans_.clear();
    rx_used_ = 0;
}

// One frame's responses: a slot per page, the GSO extra info in slot 1,
// NETRXF_more_data on all but the last data slot; a slot whose buffer
// failed its hold (or whose bytes were lost so) is NETIF_RSP_ERROR.
void Netback::answer_rx(const PendingRx& pend) {
    const RxFrame& fr = pend.frame;
    bool gso = fr.gso_type != XEN_NETIF_GSO_TYPE_NONE;
    std::size_t at = 0;
    unsigned page = 0;
    for (unsigned i = 0; i < fr.slots; ++i) {
        if (gso && i == 1) {
            netif_extra_info e{};
            e.type = XEN_NETIF_EXTRA_TYPE_GSO;
            e.u.gso.type = fr.gso_type;
            e.u.gso.size = fr.gso_size;
            rx_.respond(e);
            continue;
        }
        const std::size_t len = std::min(kXenPageSize, fr.len - at);
        at += len;
        netif_rx_response r{};
        r.id = rx_reqs_[pend.first_slot + i].id;
        r.offset = 0;
        if (i == 0) r.flags = static_cast<std::uint16_t>(fr.csum_flags | (gso ? NETRXF_extra_info : 0));
        if (at < fr.len) r.flags = static_cast<std::uint16_t>(r.flags | NETRXF_more_data);
        if (rx_spans_[pend.first_slot + i].status == GNTST_okay && !(fr.lost_pages >> page & 1u)) {
            r.status = static_cast<std::int16_t>(len);
        } else {
            r.status = NETIF_RSP_ERROR;
            ++stats_.rx_copy_errors;
        }
        ++page;
        rx_.respond(r);
    }
    ++stats_.rx_packets;
    stats_.rx_bytes += fr.len;
}

}  // namespace xenolith::backend::net
