// bench/blkback.sh's front end for the real back-end process: the host
// blkfront harness drives xenolith-blkback (sandboxed, over its link and
// scoped xenstore connection, exactly as xenolithd launches it) through a
// shared ring; with `inproc` the same back-end code runs on a thread of
// this process instead, which is the baseline for the sandbox's cost.
//
//   blkproc_bench BLKBACK FILE MODE BS QD SECONDS [persistent] [inproc]
//     MODE: randread | randwrite | read | write     BS: bytes (4 KiB .. 1 MiB)
// Prints one line: iops, MB/s, mean latency, and the back-end side's CPU per
// request (the back-end and the link server that serves it).
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "backend/harness/blkfront_harness.hpp"
#include "blk_workload.hpp"

using namespace xenolith::backend;
using namespace xenolith::backend::blk;
using namespace std::chrono_literals;

namespace {

double seconds_of(const timespec& ts) {
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
double thread_cpu() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return seconds_of(ts);
}
double process_cpu() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return seconds_of(ts);
}
// utime + stime of another process, from /proc/<pid>/stat.
double pid_cpu(pid_t pid) {
    if (pid <= 0) return 0;
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(f, line);
    auto close = line.rfind(')');
    if (close == std::string::npos) return 0;
    std::vector<std::string> fields;
    std::string cur;
    for (char c : line.substr(close + 2)) {
        if (c == ' ') { fields.push_back(cur); cur.clear(); } else { cur += c; }
    }
    if (fields.size() < 13) return 0;
    return static_cast<double>(std::stoull(fields[11]) + std::stoull(fields[12])) /
           static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 7) {
        std::fprintf(stderr,
                     "usage: %s BLKBACK FILE randread|randwrite|read|write BS QD SECONDS [persistent] [inproc]\n",
                     argv[0]);
        return 2;
    }
    std::string binary = argv[1], path = argv[2], mode = argv[3];
    unsigned bs = static_cast<unsigned>(std::atoi(argv[4]));
    unsigned qd = static_cast<unsigned>(std::atoi(argv[5]));
    double secs = std::atof(argv[6]);
    bool persistent = false, inproc = false;
    for (int i = 7; i < argc; ++i) {
        if (std::strcmp(argv[i], "persistent") == 0) persistent = true;
        else if (std::strcmp(argv[i], "inproc") == 0) inproc = true;
        else { std::fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
    }
    xenolith::bench::BlkWorkload wl;
    wl.bs = bs;
    wl.write = mode == "randwrite" || mode == "write";
    wl.random = mode == "randread" || mode == "randwrite";
    if (bs % 4096 != 0 || wl.segs() == 0 || wl.segs() > 256 || qd == 0 || qd > 256) {
        std::fprintf(stderr, "BS must be 4 KiB .. 1 MiB in pages, QD 1..256\n");
        return 2;
    }
    unsigned order = qd > 32 ? 2 : 0;
    wl.ring_pages = 1u << order;

    harness::HarnessOptions o;
    o.disk = path;
    o.binary = binary;
    o.direct = true;
    o.in_process = inproc;
    o.guest_pages = wl.pages(qd);
    auto made = harness::BlkfrontHarness::start(o);
    if (!made) { std::fprintf(stderr, "%s\n", made.error().what.c_str()); return 1; }
    auto& h = **made;
    if (auto st = h.connect(order, persistent); !st) {
        std::fprintf(stderr, "%s\n", st.error().what.c_str());
        return 1;
    }
    wl.disk_blocks = h.sectors() * 512 / bs;
    wl.prepare(qd, [&](GrantRef r) { return h.guest().page(r); });

    using clock = std::chrono::steady_clock;
    std::vector<clock::time_point> issued(qd);
    double latency_sum = 0;
    std::uint64_t done = 0, errors = 0;
    pid_t pid = h.backend_pid();
    double cpu0 = process_cpu() - thread_cpu() + pid_cpu(pid);
    auto t0 = clock::now();
    auto deadline = t0 + std::chrono::duration<double>(secs);
    for (unsigned s = 0; s < qd; ++s) {
        h.ring().queue(wl.make(s));
        issued[s] = clock::now();
    }
    h.push();
    unsigned outstanding = qd;
    while (outstanding > 0) {
        bool more = true;
        while (more) {
            while (auto rsp = h.ring().next_response()) {
                auto s = static_cast<unsigned>(rsp->id);
                auto now = clock::now();
                latency_sum += std::chrono::duration<double>(now - issued[s]).count();
                ++done;
                if (rsp->status != BLKIF_RSP_OKAY) ++errors;
                if (now < deadline) {
                    h.ring().queue(wl.make(s));
                    issued[s] = now;
                } else {
                    --outstanding;
                }
            }
            h.push();
            more = outstanding > 0 && h.ring().final_check_for_responses();
        }
        if (outstanding > 0 && !h.wait_event(5s)) {
            std::fprintf(stderr, "no response for 5 s\n");
            return 1;
        }
    }
    double elapsed = std::chrono::duration<double>(clock::now() - t0).count();
    double cpu = process_cpu() - thread_cpu() + pid_cpu(pid) - cpu0;
    if (errors != 0) {
        std::fprintf(stderr, "%llu requests failed\n", static_cast<unsigned long long>(errors));
        return 1;
    }
    double iops = static_cast<double>(done) / elapsed;
    std::printf("iops=%.0f mbps=%.1f lat_us=%.1f backend_cpu_us_per_req=%.2f\n", iops, iops * bs / 1e6,
                latency_sum / static_cast<double>(done) * 1e6, cpu / static_cast<double>(done) * 1e6);
    return 0;
}
