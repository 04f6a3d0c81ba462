// bench/netback.sh's contender: frames through a vif's TAP, three ways.
//   process  the real xenolith-netback process (sandboxed, over its link
//            and scoped xenstore connection, exactly as xenolithd launches
//            it) driven by the host netfront harness;
//   inproc   the same back-end code on a thread of this process (the
//            baseline for the sandbox's cost);
//   tap      no back-end: this process reads and writes the TAP itself
//            (the floor any back-end adds to).
// The host side is an AF_PACKET socket on the TAP (PACKET_VNET_HDR), in a
// network namespace of the bench's own.
//
//   netback_bench NETBACK MODE DIR SIZE QUEUES SECONDS
//     MODE: process | inproc | tap   DIR: g2h (guest -> host) | h2g
//     SIZE: frame bytes; above 1514 a TCPv4 GSO frame (gso_size 1448)
// Prints one line: pps, Gbit/s (frame bytes), back-end CPU µs per packet
// (the process's utime + stime, the in-process thread's, or the tap
// contender's own I/O thread), and mean one-way latency with one packet in
// flight.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "backend/harness/netfront_harness.hpp"
#include "backend/net/tap.hpp"

using namespace xenolith;
using namespace xenolith::backend;
using namespace xenolith::backend::harness;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

[[noreturn]] void die(const std::string& why) {
    std::fprintf(stderr, "netback_bench: %s\n", why.c_str());
    std::exit(1);
}

double thread_cpu() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Ethernet + IPv4 + UDP (or TCP for GSO), `size` bytes in all; the source
// port varies per flow so a multi-queue TAP spreads them.
std::vector<std::byte> make_frame(std::size_t size, bool tcp, unsigned flow) {
    const std::size_t l4 = tcp ? 20 : 8;
    std::vector<std::byte> f(std::max<std::size_t>(size, 14 + 20 + l4));
    auto b = [&](std::size_t at, unsigned v) { f[at] = static_cast<std::byte>(v); };
    auto w = [&](std::size_t at, unsigned v) { b(at, v >> 8); b(at + 1, v & 0xff); };
    for (int i = 0; i < 6; ++i) { b(i, 0x02); b(6 + i, 0x10 + i); }
    w(12, 0x0800);
    b(14, 0x45);
    w(16, static_cast<unsigned>(f.size() - 14));
    b(22, 64);
    b(23, tcp ? 6 : 17);
    b(26, 10); b(29, 1); b(30, 10); b(33, 2);
    w(34, 1024 + (flow % 512));
    w(36, 9);
    if (tcp) b(46, 0x50);
    else w(38, static_cast<unsigned>(f.size() - 34));
    return f;
}

// The tap contender: the TAP and its host side, no back-end.
struct PlainTap {
    std::vector<UniqueFd> fds;
    UniqueFd packet;
    std::vector<std::byte> buf = std::vector<std::byte>(net::kVnetHeaderSize + 70000);

    explicit PlainTap(unsigned queues) {
        const std::string name = "xnb" + std::to_string(::getpid());
        auto t = net::open_tap(name, queues);
        if (!t) die(t.error().what);
        fds = std::move(*t);
        net::TapOffload o{true, true, true};
        if (!net::set_tap_offload(fds[0].get(), o)) die("TUNSETOFFLOAD");
        std::ofstream("/proc/sys/net/ipv6/conf/" + name + "/disable_ipv6") << "1";
        UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        ifreq ifr{};
        std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
        ::ioctl(s.get(), SIOCGIFFLAGS, &ifr);
        ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
        if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) != 0) die("up");
        packet.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL)));
        int one = 1, big = 32 << 20;
        ::setsockopt(packet.get(), SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one);
        ::setsockopt(packet.get(), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
        ::setsockopt(packet.get(), SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
        sockaddr_ll sll{};
        sll.sll_family = AF_PACKET;
        sll.sll_protocol = htons(ETH_P_ALL);
        sll.sll_ifindex = static_cast<int>(::if_nametoindex(name.c_str()));
        if (::bind(packet.get(), reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) die("bind");
    }
    // The guest's side: a frame onto (write) or off (read) TAP queue q.
    bool tap_write(unsigned q, const net::VnetHeader& h, const std::vector<std::byte>& f) {
        iovec iov[2] = {{const_cast<net::VnetHeader*>(&h), sizeof h}, {const_cast<std::byte*>(f.data()), f.size()}};
        return ::writev(fds[q].get(), iov, 2) > 0;
    }
    // Any queue's next frame; its size, 0 on timeout.
    std::size_t tap_read(int timeout_ms) {
        std::vector<pollfd> p;
        for (auto& fd : fds) p.push_back(pollfd{fd.get(), POLLIN, 0});
        if (::poll(p.data(), p.size(), timeout_ms) <= 0) return 0;
        for (auto& x : p)
            if (x.revents) {
                ssize_t n = ::read(x.fd, buf.data(), buf.size());
                if (n > static_cast<ssize_t>(net::kVnetHeaderSize)) return static_cast<std::size_t>(n) - net::kVnetHeaderSize;
            }
        return 0;
    }
};

// The host side common to all contenders.
struct HostSide {
    int fd;
    std::vector<std::byte> buf = std::vector<std::byte>(net::kVnetHeaderSize + 70000);
    bool send(const net::VnetHeader& h, const std::vector<std::byte>& f) {
        iovec iov[2] = {{const_cast<net::VnetHeader*>(&h), sizeof h}, {const_cast<std::byte*>(f.data()), f.size()}};
        msghdr m{};
        m.msg_iov = iov;
        m.msg_iovlen = 2;
        for (;;) {
            if (::sendmsg(fd, &m, 0) > 0) return true;
            if (errno != ENOBUFS && errno != EAGAIN) return false;
            std::this_thread::yield();
        }
    }
    // The next frame the interface received (not our own); its size or 0.
    std::size_t receive(int timeout_ms) {
        for (;;) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, timeout_ms) <= 0) return 0;
            sockaddr_ll from{};
            socklen_t len = sizeof from;
            ssize_t n = ::recvfrom(fd, buf.data(), buf.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &len);
            if (n <= static_cast<ssize_t>(net::kVnetHeaderSize)) continue;
            if (from.sll_pkttype == PACKET_OUTGOING) continue;
            return static_cast<std::size_t>(n) - net::kVnetHeaderSize;
        }
    }
};

}  // namespace

int main(int argc, char** argv) {
    if (argc < 7) {
        std::fprintf(stderr, "usage: %s NETBACK process|inproc|tap g2h|h2g SIZE QUEUES SECONDS\n", argv[0]);
        return 2;
    }
    const std::string binary = argv[1], mode = argv[2], dir = argv[3];
    const std::size_t size = std::strtoul(argv[4], nullptr, 10);
    const unsigned queues = static_cast<unsigned>(std::strtoul(argv[5], nullptr, 10));
    const double seconds = std::strtod(argv[6], nullptr);
    const bool g2h = dir == "g2h";
    const bool gso = size > 1514;
    if (::unshare(CLONE_NEWNET) != 0) die(std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno));

    std::unique_ptr<NetfrontHarness> h;
    std::unique_ptr<PlainTap> tap;
    if (mode == "tap") {
        tap = std::make_unique<PlainTap>(queues);
    } else {
        NetHarnessOptions o;
        o.binary = binary;
        o.in_process = mode == "inproc";
        o.tap_queues = queues;
        auto r = NetfrontHarness::start(o);
        if (!r) die(r.error().what);
        h = std::move(r).value();
        if (auto st = h->connect(queues); !st) die(st.error().what);
    }
    HostSide host{tap ? tap->packet.get() : h->packet_fd()};

    // Frames per flow, and their metadata both ways.
    std::vector<std::vector<std::byte>> frames;
    for (unsigned i = 0; i < 64; ++i) frames.push_back(make_frame(size, gso, i));
    FrameMeta meta;
    net::VnetHeader vnet{};
    if (gso) {
        meta.flags = NETTXF_csum_blank;
        meta.gso_type = XEN_NETIF_GSO_TYPE_TCPV4;
        meta.gso_size = 1448;
        vnet.flags = net::kVnetNeedsCsum;
        vnet.gso_type = net::kVnetGsoTcpv4;
        vnet.gso_size = 1448;
        vnet.hdr_len = 54;
        vnet.csum_start = 34;
        vnet.csum_offset = 16;
    }

    // The guest's side of one frame, and of waiting for one.
    auto guest_send = [&](unsigned i) {
        unsigned q = i % queues;
        if (tap) return tap->tap_write(q, vnet, frames[i % frames.size()]);
        return h->send(q, frames[i % frames.size()], meta, 2s).ok();
    };
    auto guest_receive = [&](int timeout_ms) -> std::size_t {
        if (tap) return tap->tap_read(timeout_ms);
        auto f = h->receive(std::chrono::milliseconds(timeout_ms));
        return f ? f->data.size() : 0;
    };
    auto backend_cpu = [&] { return tap ? thread_cpu() : h->backend_cpu_seconds(); };

    // Latency: one frame in flight, 300 times.
    double lat_sum = 0;
    unsigned lat_n = 0;
    for (unsigned i = 0; i < 300; ++i) {
        auto t0 = Clock::now();
        std::size_t got = 0;
        if (g2h) {
            if (!guest_send(i)) die("send");
            got = host.receive(1000);
            if (h) h->reap_tx();
        } else {
            if (!host.send(vnet, frames[i % frames.size()])) die("host send");
            got = guest_receive(1000);
        }
        if (got == 0) continue;
        lat_sum += std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
        ++lat_n;
    }

    // Throughput: one side streams, the other counts what arrives.
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> received{0}, bytes{0};
    double cpu0 = 0, cpu1 = 0;
    auto t0 = Clock::now();
    auto until = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    if (g2h) {
        std::thread counter([&] {
            while (!stop.load()) {
                std::size_t n = host.receive(20);
                if (n) {
                    ++received;
                    bytes += n;
                }
            }
        });
        cpu0 = backend_cpu();
        for (unsigned i = 0; Clock::now() < until; ++i)
            if (!guest_send(i)) break;
        if (h) h->wait_tx_done(2s);
        cpu1 = backend_cpu();
        std::this_thread::sleep_for(50ms);
        stop = true;
        counter.join();
    } else {
        std::thread sender([&] {
            for (unsigned i = 0; !stop.load(); ++i) host.send(vnet, frames[i % frames.size()]);
        });
        cpu0 = backend_cpu();
        while (Clock::now() < until) {
            std::size_t n = guest_receive(20);
            if (n) {
                ++received;
                bytes += n;
            }
        }
        cpu1 = backend_cpu();
        stop = true;
        sender.join();
    }
    double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    double pps = static_cast<double>(received.load()) / elapsed;
    double gbps = static_cast<double>(bytes.load()) * 8 / elapsed / 1e9;
    double cpu_us = received.load() ? (cpu1 - cpu0) * 1e6 / static_cast<double>(received.load()) : 0;
    std::printf("mode=%s dir=%s size=%zu queues=%u pps=%.0f gbps=%.3f backend_cpu_us_per_pkt=%.2f lat_us=%.1f\n",
                mode.c_str(), dir.c_str(), size, queues, pps, gbps, cpu_us, lat_n ? lat_sum / lat_n : 0.0);
    return 0;
}
