// Input: [abi][flags][ring order | persistent<<7][req_prod u32][bytes for the ring slots,
// then for the guest's other pages (indirect pages, buffers)]. The guest's
// grant table is fixed: refs 0..31 writable, 32..47 read-only, 48..55
// granted to another domain, the rest unset, so requests hit every kind of
// grant the decoder must cope with.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "backend/blk/blkback.hpp"
#include "backend/local_evtchn.hpp"
#include "backend/local_grants.hpp"

using namespace xenolith::backend;
using namespace xenolith::backend::blk;

namespace {

constexpr DomId kFront = 3;
constexpr std::size_t kPages = 64;

struct World {
    LocalGrantTable gt{kFront, 0, kPages, 128};
    LocalEventChannel be, fe;
    std::unique_ptr<UringDisk> disk;

    World() {
        LocalEventChannel::connect(be, fe);
        for (GrantRef r = 0; r < 32; ++r) gt.grant(r, r, false);
        for (GrantRef r = 32; r < 48; ++r) gt.grant(r, r, true);
        for (GrantRef r = 48; r < 56; ++r) gt.grant_to(r, r, 9, GTF_permit_access);
        int fd = ::memfd_create("fuzz-disk", MFD_CLOEXEC);
        if (fd < 0 || ::ftruncate(fd, 256 * 1024) != 0) std::abort();
        auto d = UringDisk::open(DiskOpen{"fuzz-disk", fd, false, false, 64});
        ::close(fd);
        if (!d) std::abort();
        disk = std::move(d).value();
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static World w;
    if (size < 7) return 0;
    Config cfg;
    cfg.frontend = kFront;
    cfg.abi = static_cast<Abi>(data[0] % 3);
    cfg.readonly = data[1] & 1;
    cfg.discard = data[1] & 2;
    cfg.max_indirect_segments = (data[1] & 4) ? 0 : (data[1] & 8) ? kMaxIndirectSegments : 256;
    cfg.max_in_flight = (data[1] >> 4);
    unsigned pages = 1u << ((data[2] & 0x7f) % 3);
    cfg.persistent = data[2] & 0x80;
    cfg.max_persistent_grants = 40;  // below the 56 grantable refs: the fallback runs too
    std::uint32_t req_prod;
    std::memcpy(&req_prod, data + 3, 4);
    data += 7;
    size -= 7;

    // Ring pages: header zeroed, then the fuzzer's bytes; other pages after.
    std::size_t guest = kPages * kXenPageSize;
    std::memset(w.gt.page(0), 0, guest);
    std::size_t n = size < guest - kRingHeaderSize ? size : guest - kRingHeaderSize;
    std::memcpy(w.gt.page(0) + kRingHeaderSize, data, n);
    std::memcpy(w.gt.page(0), &req_prod, 4);
    for (unsigned i = 0; i < pages; ++i) cfg.ring_refs.push_back(i);
    cfg.port = 1;
    w.be.bind_interdomain(kFront, 1);

    auto b = Blkback::create(cfg, w.gt, w.be, *w.disk);
    if (!b) return 0;
    std::unique_ptr<Blkback> back = std::move(b).value();
    back->process_ring();
    for (int spins = 0; back->in_flight() > 0 && spins < 1000; ++spins) back->poll_once(100);
    if (back->in_flight() != 0) std::abort();  // a request that never completes is a hang
    back.reset();
    if (w.gt.mapped_pages() != 0) std::abort();  // every mapping released
    return 0;
}
