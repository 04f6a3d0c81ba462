// netback's tx request decoder and validation, and its rx placement, fed a
// hostile front end. Input:
//   [features][flags: 1 lie, 2 frames, 4 no rx hold, >>4 budget][rx buffers to post][req_prod u32 if flags&1]
//   [n tx slots][n * 12 raw tx slot bytes]
//   [then frames for the TAP: (vnet header 10 bytes, length u16, bytes)...]
//   whatever is left fills the guest's data pages.
// Guest refs 2..31 are granted writable, 32..39 read-only, 40..47 to
// another domain, the rest unset. Checks: a queue that did not fail
// answered every slot it was given, and nothing stays mapped but the rings.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "net_front.hpp"

using namespace xenolith::backend;
using namespace xenolith::backend::net;
using namespace xenolith::backend::net::testing;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 4) return 0;
    std::size_t at = 0;
    auto take = [&](std::size_t n) -> const std::uint8_t* {
        if (size - at < n) return nullptr;
        const std::uint8_t* p = data + at;
        at += n;
        return p;
    };
    std::uint8_t feat = *take(1), flags = *take(1), rx_bufs = *take(1);
    FrontendFeatures f;
    f.sg = feat & 1;
    f.gso_tcpv4 = feat & 2;
    f.gso_tcpv6 = feat & 4;
    f.csum = feat & 8;
    f.ipv6_csum = feat & 16;

    NetFront g;
    for (GrantRef r = 32; r < 40; ++r) g.gt.grant(r, r, true);
    for (GrantRef r = 40; r < 48; ++r) g.gt.grant_to(r, r, 9, GTF_permit_access);
    for (GrantRef r = 48; r < kGuestPages; ++r) g.gt.revoke(r);
    g.start(f, -1, 1 + (flags >> 4), (flags & 4) ? 0 : 1000);

    std::uint32_t req_prod = 0;
    bool lie = flags & 1;
    if (lie) {
        const std::uint8_t* p = take(4);
        if (!p) return 0;
        std::memcpy(&req_prod, p, 4);
    }
    const std::uint8_t* np = take(1);
    unsigned n = np ? *np : 0;
    std::vector<netif_tx_request> reqs;
    for (unsigned i = 0; i < n; ++i) {
        const std::uint8_t* p = take(sizeof(netif_tx_request));
        if (!p) break;
        netif_tx_request r;
        std::memcpy(&r, p, sizeof r);
        reqs.push_back(r);
    }
    // Frames for the rx side.
    std::vector<std::pair<VnetHeader, std::vector<std::byte>>> frames;
    while (frames.size() < 8 && (flags & 2)) {
        const std::uint8_t* h = take(kVnetHeaderSize + 2);
        if (!h) break;
        VnetHeader vh;
        std::memcpy(&vh, h, sizeof vh);
        std::uint16_t len;
        std::memcpy(&len, h + kVnetHeaderSize, 2);
        len = static_cast<std::uint16_t>(len % 9000);
        const std::uint8_t* b = take(len);
        if (!b) break;
        frames.emplace_back(vh, std::vector<std::byte>(reinterpret_cast<const std::byte*>(b),
                                                       reinterpret_cast<const std::byte*>(b) + len));
    }
    // The rest fills the data pages, so headers parse now and then.
    std::size_t rest = size - at;
    if (rest > 0) {
        for (std::size_t page = 2; page < 8; ++page)
            std::memcpy(g.gt.page(page), data + at, std::min(rest, kXenPageSize));
    }

    g.post_rx(rx_bufs % 40, 2, 500);
    for (const auto& [vh, bytes] : frames) g.host_write(vh, bytes);
    for (const auto& r : reqs) g.tx->queue(r);
    if (lie) g.tx->set_req_prod(req_prod);
    else g.tx->push_requests();
    g.netback->on_event();
    for (int i = 0; i < 1000 && g.netback->more_work(); ++i) g.netback->poll_once(0);

    if (!g.netback->failed() && !lie && !g.netback->more_work()) {
        std::size_t answered = g.tx_responses().size();
        if (answered != reqs.size()) std::abort();
    }
    if (g.gt.mapped_pages() != 2) std::abort();
    while (g.host_read()) {
    }
    return 0;
}
