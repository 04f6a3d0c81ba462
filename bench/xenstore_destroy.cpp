// xenstored's share of `xl destroy` with N domains in the store: the
// toolstack's removals (libxl's devices_destroy_cb) and the hypervisor's
// destruction notice (orphans, @releaseDomain) for one domain, while N-1
// others keep their nodes. Each round destroys the last domain and builds
// it again; prints the median per N. No KVM needed.
//   xenstore_destroy [N...]   (default 1 50 200)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "xenstore/domain_nodes.hpp"
#include "xenstore/server.hpp"

namespace xs = xenolith::xenstore;

namespace {

xs::DomainRecord record(domid_t domid) {
    xs::DomainRecord r;
    r.domid = domid;
    r.name = "idle-" + std::to_string(domid);
    char uuid[40];
    std::snprintf(uuid, sizeof uuid, "00000000-0000-0000-0000-%012u", domid);
    r.uuid = uuid;
    r.type = "pvh";
    r.max_memkb = r.target_memkb = 8192;
    r.store_gfn = 0xfeffc;
    r.store_port = 2;
    r.console_gfn = 0xfeffb;
    r.console_port = 1;
    r.start_time = "1.00";
    return r;
}

void create(xs::Server& s, xs::Connection& dom0, domid_t domid) {
    for (const xs::Message& m : xs::domain_setup_requests(record(domid))) (void)s.handle(dom0, m);
    (void)s.introduce_domain(domid, 0xfeffc, 2);
}

double destroy_us(xs::Server& s, xs::Connection& dom0, domid_t domid) {
    const auto t0 = std::chrono::steady_clock::now();
    for (const xs::Message& m : xs::domain_teardown_requests(
             domid, "/vm/" + record(domid).uuid))
        (void)s.handle(dom0, m);
    s.domain_destroyed(domid);
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
        .count();
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<unsigned> counts;
    for (int i = 1; i < argc; ++i) counts.push_back(static_cast<unsigned>(std::atoi(argv[i])));
    if (counts.empty()) counts = {1, 50, 200};
    constexpr int kRounds = 200;
    double first = 0;
    std::printf("%8s %8s %16s %8s\n", "domains", "nodes", "destroy, us p50", "vs 1st");
    for (unsigned n : counts) {
        xs::Server s;
        xs::Connection& dom0 = s.connect_socket();
        for (domid_t d = 1; d <= n; ++d) create(s, dom0, d);
        const std::size_t nodes = s.store().size();
        std::vector<double> us;
        for (int i = 0; i < kRounds; ++i) {
            us.push_back(destroy_us(s, dom0, static_cast<domid_t>(n)));
            create(s, dom0, static_cast<domid_t>(n));
        }
        std::nth_element(us.begin(), us.begin() + kRounds / 2, us.end());
        const double p50 = us[kRounds / 2];
        if (first == 0) first = p50;
        std::printf("%8u %8zu %16.1f %8.2f\n", n, nodes, p50, p50 / first);
    }
}
