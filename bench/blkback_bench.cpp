// bench/blkback.sh's front end: drives blkback's core through a real shared
// ring, the way a guest's blkfront would, with no guest involved. The
// "guest" is LocalGrantTable (a memfd; every request's buffers are really
// mapped and unmapped), the back end runs on its own thread as it would in
// its own process, and notifications are eventfds.
//
//   blkback_bench FILE MODE BS QD SECONDS [persistent]
//     MODE: randread | randwrite | read | write     BS: bytes (4096 .. 1 MiB)
//     persistent: negotiate feature-persistent (grants stay mapped)
// Prints one line: iops, MB/s, mean latency, back-end CPU per request.
#include <poll.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "backend/blk/blkback.hpp"
#include "backend/local_evtchn.hpp"
#include "backend/local_grants.hpp"
#include "blk_workload.hpp"

using namespace xenolith::backend;
using namespace xenolith::backend::blk;

namespace {

constexpr DomId kFront = 1;

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 6 && !(argc == 7 && std::string(argv[6]) == "persistent")) {
        std::fprintf(stderr, "usage: %s FILE randread|randwrite|read|write BS QD SECONDS [persistent]\n",
                     argv[0]);
        return 2;
    }
    std::string path = argv[1], mode = argv[2];
    unsigned bs = static_cast<unsigned>(std::atoi(argv[3]));
    unsigned qd = static_cast<unsigned>(std::atoi(argv[4]));
    double seconds = std::atof(argv[5]);
    xenolith::bench::BlkWorkload wl;
    wl.bs = bs;
    wl.write = mode == "randwrite" || mode == "write";
    wl.random = mode == "randread" || mode == "randwrite";
    if (bs % 4096 != 0 || wl.segs() == 0 || wl.segs() > 256 || qd == 0 || qd > 256) {
        std::fprintf(stderr, "BS must be 4 KiB .. 1 MiB in pages, QD 1..256\n");
        return 2;
    }

    auto disk = UringDisk::open(DiskOpen{path, -1, false, true, 512});
    if (!disk) {
        std::fprintf(stderr, "%s\n", disk.error().what.c_str());
        return 1;
    }
    // Ring pages, then per slot: one indirect page and the buffer pages.
    wl.ring_pages = qd > 32 ? 4 : 1;
    const unsigned ring_pages = wl.ring_pages;
    std::size_t pages = wl.pages(qd);
    LocalGrantTable gt(kFront, 0, pages, pages);
    for (GrantRef r = 0; r < pages; ++r) gt.grant(r, r, false);
    LocalEventChannel be, fe;
    LocalEventChannel::connect(be, fe);

    Config cfg;
    cfg.frontend = kFront;
    cfg.port = be.bind_interdomain(kFront, 1).first;
    cfg.persistent = argc == 7;
    for (unsigned i = 0; i < ring_pages; ++i) cfg.ring_refs.push_back(i);
    FrontRing front(gt.page(0), ring_pages, Abi::native);
    auto made = Blkback::create(cfg, gt, be, **disk);
    if (!made) {
        std::fprintf(stderr, "%s\n", made.error().what.c_str());
        return 1;
    }
    std::unique_ptr<Blkback> back = std::move(made).value();
    wl.disk_blocks = (*disk)->size_bytes() / bs;

    std::atomic<bool> stop{false};
    double backend_cpu = 0;
    std::thread backend([&] {
        double t0 = thread_cpu_seconds();
        while (!stop.load(std::memory_order_relaxed)) back->poll_once(20);
        backend_cpu = thread_cpu_seconds() - t0;
    });

    // Fill each slot's indirect page once; the buffers stay the same.
    wl.prepare(qd, [&](GrantRef r) { return gt.page(r); });

    using clock = std::chrono::steady_clock;
    std::vector<clock::time_point> issued(qd);
    double latency_sum = 0;
    std::uint64_t done = 0, errors = 0;
    auto t0 = clock::now();
    auto deadline = t0 + std::chrono::duration<double>(seconds);
    for (unsigned s = 0; s < qd; ++s) {
        front.queue(wl.make(s));
        issued[s] = clock::now();
    }
    if (front.push_requests()) fe.notify(1);
    unsigned outstanding = qd;
    while (outstanding > 0) {
        pollfd p{fe.fd(), POLLIN, 0};
        ::poll(&p, 1, 1000);
        while (fe.pending()) {}
        bool more = true;
        while (more) {
            while (auto rsp = front.next_response()) {
                auto s = static_cast<unsigned>(rsp->id);
                auto now = clock::now();
                latency_sum += std::chrono::duration<double>(now - issued[s]).count();
                ++done;
                if (rsp->status != BLKIF_RSP_OKAY) ++errors;
                if (now < deadline) {
                    front.queue(wl.make(s));
                    issued[s] = now;
                } else {
                    --outstanding;
                }
            }
            if (front.push_requests()) fe.notify(1);
            more = outstanding > 0 && front.final_check_for_responses();
        }
    }
    double elapsed = std::chrono::duration<double>(clock::now() - t0).count();
    stop = true;
    backend.join();
    if (errors != 0) {
        std::fprintf(stderr, "%llu requests failed\n", static_cast<unsigned long long>(errors));
        return 1;
    }
    double iops = static_cast<double>(done) / elapsed;
    std::printf("iops=%.0f mbps=%.1f lat_us=%.1f backend_cpu_us_per_req=%.2f direct=%d\n", iops,
                iops * bs / 1e6, latency_sum / static_cast<double>(done) * 1e6,
                backend_cpu / static_cast<double>(done) * 1e6, (*disk)->direct() ? 1 : 0);
    return 0;
}
