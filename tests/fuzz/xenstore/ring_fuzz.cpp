// libFuzzer target for RingTransport: the input is a script of guest
// actions on a shared xenstore page (arbitrary index values, arbitrary ring
// bytes, reconnection requests) interleaved with the server's reads and
// writes. ASan catches any read or write outside the page; the checks below
// are the transport's contract.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "xenstore/ring_transport.hpp"

using namespace xenolith;
using namespace xenolith::xenstore;

namespace {

struct Script {
    const std::uint8_t* p;
    std::size_t n;
    bool empty() const { return n == 0; }
    std::uint8_t byte() {
        if (!n) return 0;
        --n;
        return *p++;
    }
    std::uint32_t word() {
        std::uint32_t v = 0;
        for (int i = 0; i < 4; ++i) v = (v << 8) | byte();
        return v;
    }
};

void check(bool ok) {
    if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // The page on the heap, exactly one page long, so ASan sees overruns.
    auto* page = static_cast<xenstore_domain_interface*>(std::aligned_alloc(4096, 4096));
    std::memset(page, 0, 4096);
    Script s{data, size};
    page->req_cons = page->req_prod = s.word();
    page->rsp_cons = page->rsp_prod = s.word();
    RingTransport ring(page);
    ring.attach();
    MessageReader reader;
    while (!s.empty()) {
        switch (s.byte() % 8) {
            case 0: {  // the guest produces bytes honestly
                std::uint8_t len = s.byte();
                for (std::uint8_t i = 0; i < len && !s.empty(); ++i)
                    page->req[MASK_XENSTORE_IDX(page->req_prod++)] = static_cast<char>(s.byte());
                break;
            }
            case 1: page->req_prod = s.word(); break;  // lies
            case 2: page->rsp_cons = s.word(); break;
            case 3: page->req_cons = s.word(); break;  // scribbles on ours
            case 4: {
                std::size_t consumed = 0;
                const XENSTORE_RING_IDX before = page->req_prod;
                auto io = ring.read(reader, &consumed);
                check(consumed <= XENSTORE_RING_SIZE);
                if (io == RingTransport::Io::ok && consumed)
                    check(before - page->req_cons <= XENSTORE_RING_SIZE);
                if (io == RingTransport::Io::protocol) reader.reset();
                if (reader.ready()) {
                    Message m = reader.take();
                    check(m.payload.size() <= XENSTORE_PAYLOAD_MAX);
                }
                break;
            }
            case 5: {
                std::vector<std::uint8_t> out(s.byte() * 8u, 0x5a);
                std::size_t written = 0;
                const std::size_t space = ring.write_space();
                auto io = ring.write(out, &written);
                check(written <= out.size());
                if (io == RingTransport::Io::ok) check(written == std::min(space, out.size()));
                break;
            }
            case 6:
                page->connection = XENSTORE_RECONNECT;
                if (ring.reconnect_requested()) ring.reconnect();
                check(page->connection == XENSTORE_CONNECTED && !ring.failed());
                break;
            case 7: ring.fail(XENSTORE_ERROR_RINGIDX); break;
        }
    }
    std::free(page);
    return 0;
}
