// libFuzzer target for VbdDevice's xenbus handling: a hostile front end
// (and a toolstack flipping `online` or removing nodes) plays a script of
// steps against one vbd. The input is read as a sequence of
// [mode][op][arguments]...; the mode byte picks read-only, cdrom,
// persistent, an empty medium, max_in_flight (0..3) and the queues offered
// (1..4). Each op writes a front-end node (state, ring-ref,
// ring-page-order, event-channel, protocol, feature-persistent,
// multi-queue-num-queues, or a queue-N/ key) with a chosen or raw value,
// grants or revokes a ring page, publishes raw request bytes (notifying
// every port), changes `online`, removes nodes, or lets the device run. At the
// end the front end closes: the device must get to Closed with nothing in
// flight and every grant mapping released. A crash, an abort or a timeout
// is a bug. VBD_FUZZ_TRACE=1 prints the state after each step (to check a
// seed reaches Connected).
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "../../unit/backend/fake_xenstore.hpp"
#include "backend/blk/vbd_device.hpp"
#include "backend/local_evtchn.hpp"
#include "backend/local_grants.hpp"

using namespace xenolith::backend;
using namespace xenolith::backend::blk;

namespace {

constexpr DomId kFront = 3;
constexpr std::size_t kPages = 24;
constexpr std::size_t kEntries = 48;
const std::string kBe = "/local/domain/0/backend/vbd/3/768";
const std::string kFe = "/local/domain/3/device/vbd/768";

class Script {
public:
    Script(const std::uint8_t* d, std::size_t n) : d_(d), n_(n) {}
    bool more() const { return i_ < n_; }
    std::uint8_t byte() { return i_ < n_ ? d_[i_++] : 0; }
    std::string bytes(std::size_t max) {
        std::size_t len = byte() % (max + 1);
        if (len > n_ - i_) len = n_ - i_;
        std::string s(reinterpret_cast<const char*>(d_ + i_), len);
        i_ += len;
        return s;
    }

private:
    const std::uint8_t* d_;
    std::size_t n_;
    std::size_t i_ = 0;
};

UringDisk& disk() {
    static std::unique_ptr<UringDisk> d = [] {
        int fd = ::memfd_create("vbd-fuzz-disk", MFD_CLOEXEC);
        if (fd < 0 || ::ftruncate(fd, 128 * 1024) != 0) std::abort();
        auto opened = UringDisk::open(DiskOpen{"vbd-fuzz-disk", fd, false, false, 64});
        ::close(fd);
        if (!opened) std::abort();
        return std::move(opened).value();
    }();
    return *d;
}

// A value for a numeric key: mostly plausible numbers, sometimes raw bytes.
std::string value(Script& s) {
    switch (s.byte() % 4) {
    case 0: return std::to_string(s.byte() % 8);
    case 1: return std::to_string(s.byte());
    case 2: {
        std::uint32_t v = 0;
        for (int i = 0; i < 4; ++i) v = (v << 8) | s.byte();
        return std::to_string(v);
    }
    default: return s.bytes(24);
    }
}

void run(VbdDevice& dev, int rounds) {
    for (int i = 0; i < rounds && dev.poll_once(0); ++i) {}
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    testing::FakeXenstore xs;
    LocalGrantTable gt{kFront, 0, kPages, kEntries};
    LocalEventChannel be, fe;
    LocalEventChannel::connect(be, fe);
    for (Port p = 5; p < 9; ++p) be.expect_remote_port(p);  // one per queue
    for (GrantRef r = 8; r < 24; ++r) gt.grant(r, r, r >= 20);  // buffers, 20.. read-only
    xs.nodes[kFe + "/state"] = "1";
    xs.nodes[kBe + "/online"] = "1";

    Script s(data, size);
    VbdConfig cfg;
    cfg.backend_path = kBe;
    cfg.frontend_path = kFe;
    cfg.frontend = kFront;
    cfg.devid = 768;
    std::uint8_t mode = s.byte();
    cfg.readonly = mode & 1;
    cfg.cdrom = mode & 2;
    cfg.offer.persistent = mode & 4;
    cfg.max_in_flight = (mode >> 4) & 3;
    cfg.offer.max_queues = 1 + (mode >> 6);
    bool empty = cfg.cdrom && (mode & 8);
    auto made = VbdDevice::create(cfg, Services{be, gt, xs}, empty ? nullptr : &disk());
    if (!made) std::abort();  // only xenstore refusing our own nodes may fail creation
    std::unique_ptr<VbdDevice> dev = std::move(made).value();

    static const char* const kKeys[] = {"ring-ref", "ring-ref0", "ring-ref1", "ring-page-order", "event-channel",
                                        "protocol", "feature-persistent", "multi-queue-num-queues"};
    // Per-queue keys (queues 0..2, one- and two-page rings, one beyond).
    static const char* const kQueueKeys[] = {"ring-ref", "ring-ref0", "ring-ref1", "event-channel"};
    static const char* const kProtocols[] = {"x86_64-abi", "x86_32-abi", "", "arm-abi", "x86_64-abi\n"};
    for (int steps = 0; s.more() && steps < 64; ++steps) {
        switch (s.byte() % 10) {
        case 0:  // front-end state: a XenbusState, often, or anything
            xs.write(0, kFe + "/state", s.byte() % 2 ? std::to_string(s.byte() % 10) : value(s));
            break;
        case 1: {
            const char* key = kKeys[s.byte() % std::size(kKeys)];
            std::string v = std::strcmp(key, "protocol") == 0 && s.byte() % 2
                                ? std::string(kProtocols[s.byte() % std::size(kProtocols)])
                                : value(s);
            xs.write(0, kFe + "/" + key, v);
            break;
        }
        case 2: {  // a ring page: granted fresh (zeroed header) or revoked
            GrantRef r = s.byte() % 8;
            if (s.byte() % 4 == 0) {
                gt.revoke(r);
            } else {
                std::memset(gt.page(r), 0, kXenPageSize);
                gt.grant(r, r, s.byte() % 8 == 0);
            }
            break;
        }
        case 3: {  // request bytes into a ring page, a producer index, a notification
            std::size_t r = s.byte() % 8;
            std::string body = s.bytes(240);
            std::memcpy(gt.page(r) + kRingHeaderSize, body.data(), body.size());
            std::uint32_t prod = s.byte() % 2 ? s.byte() % 8 : s.byte() << 8 | s.byte();
            std::memcpy(gt.page(r), &prod, sizeof prod);
            for (Port p = 1; p <= 4; ++p) fe.notify(p);  // every queue's port (unbound ones refused)
            break;
        }
        case 4:
            xs.write(0, kBe + "/online", s.byte() % 2 ? "0" : "1");
            break;
        case 5:
            switch (s.byte() % 4) {
            case 0: xs.rm(0, kFe + "/state"); break;
            case 1: xs.rm(0, kFe); break;
            case 2: xs.rm(0, kBe); break;
            default: xs.rm(0, kFe + "/" + kKeys[s.byte() % std::size(kKeys)]); break;
            }
            break;
        case 6:
            xs.fail_commits = s.byte() % 20;
            break;
        case 7: {  // num-queues (mostly a small count), or a queue's key written or removed
            std::uint8_t kind = s.byte() % 4;
            if (kind == 0) {
                xs.write(0, kFe + "/multi-queue-num-queues", s.byte() % 2 ? std::to_string(s.byte() % 6) : value(s));
                break;
            }
            std::uint8_t which = s.byte();
            std::string key = "queue-" + std::to_string(which % 3) + "/" + kQueueKeys[(which / 3) % std::size(kQueueKeys)];
            if (kind == 1)
                xs.rm(0, kFe + "/" + key);
            else
                xs.write(0, kFe + "/" + key, value(s));
            break;
        }
        default:
            run(*dev, 1 + s.byte() % 8);
            break;
        }
        run(*dev, 2);
        XenbusState st = dev->state();
        if (st < XenbusStateInitialising || st > XenbusStateClosed) std::abort();
        if (dev->done() && !dev->fds().empty()) std::abort();
        if (dev->queues() > dev->max_queues() || (dev->connected() && dev->queues() == 0)) std::abort();
        if (std::getenv("VBD_FUZZ_TRACE"))
            std::fprintf(stderr, "state %d connections %lu queues %u error %s\n", static_cast<int>(st),
                         static_cast<unsigned long>(dev->stats().connections), dev->queues(),
                         dev->last_error().c_str());
    }

    // The front end closes: whatever happened, the device must wind down.
    xs.fail_commits = 0;
    if (!dev->done() && xs.read(0, kBe + "/state").second == 0) {
        xs.write(0, kFe + "/state", "6");
        for (int i = 0; i < 200 && !dev->done() && (dev->queues() != 0 || dev->state() != XenbusStateClosed); ++i)
            dev->poll_once(20);
        if (!dev->done() && (dev->queues() != 0 || dev->state() != XenbusStateClosed)) std::abort();
    }
    dev.reset();
    if (gt.mapped_pages() != 0) std::abort();  // every mapping released
    if (be.bound()) std::abort();              // every queue's event channel unbound
    return 0;
}
