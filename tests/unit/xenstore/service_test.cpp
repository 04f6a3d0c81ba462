// XenstoreService end to end without KVM: a fake hypervisor hands out ring
// pages in test memory, a real unix socket takes host clients.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <thread>

#include "ring_test_util.hpp"
#include "test_util.hpp"
#include "xenstore/domain_nodes.hpp"
#include "xenstore/xenstore_service.hpp"

namespace xenolith::xenstore::test {
namespace {

using namespace std::chrono_literals;

// The hypervisor's side: one ring page per domain in test memory; the
// guest's notification is on_event[domid](), ours counts in notified.
class FakeRingHost : public RingHost {
public:
    XsResult<RingBinding> connect(domid_t domid, std::int64_t gfn, evtchn_port_t port,
                                  std::function<void()> on_event) override {
        if (gfn != 0x1000 + domid || port != 7) return XsErr::inval;
        auto& g = guests[domid];
        if (!g) g = std::make_unique<GuestRing>();
        on_events[domid] = std::move(on_event);
        notified[domid];  // created here, only read by the service thread
        RingBinding b;
        b.page = &g->page;
        b.notify = [this, domid] { ++notified.at(domid); };
        int* count = &released[domid];
        b.hold = std::shared_ptr<void>(nullptr, [count](void*) { ++*count; });
        return b;
    }
    std::map<domid_t, std::unique_ptr<GuestRing>> guests;
    std::map<domid_t, std::function<void()>> on_events;
    std::map<domid_t, std::atomic<int>> notified;
    std::map<domid_t, int> released;
};

DomainRecord record(domid_t domid) {
    DomainRecord r;
    r.domid = domid;
    r.name = "guest" + std::to_string(domid);
    r.uuid = "00000000-0000-4000-8000-00000000000" + std::to_string(domid % 10);
    r.type = "pvh";
    r.max_memkb = r.target_memkb = 32768;
    r.vcpus = 1;
    r.max_vcpus = 2;
    r.store_gfn = 0x1000 + domid;
    r.store_port = 7;
    r.console_gfn = 0x2000;
    r.console_port = 6;
    return r;
}

bool eventually(const std::function<bool()>& f) {
    for (int i = 0; i < 400; ++i) {
        if (f()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return f();
}

class ServiceTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/xenolith-xs-unit.XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        ServiceOptions o;
        o.socket_path = dir_ + "/xenstored/socket";
        auto s = XenstoreService::start(o, &host);
        ASSERT_TRUE(s) << s.error().what;
        svc = std::move(*s);
    }
    void TearDown() override {
        svc.reset();
        std::system(("rm -rf " + dir_).c_str());
    }

    int connect_socket() {
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof a.sun_path, "%s", svc->socket_path().c_str());
        EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        timeval tv{2, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        return fd;
    }
    static void send_msg(int fd, std::uint32_t type, const std::string& payload,
                         std::uint32_t req_id = 1) {
        Message m;
        m.type = type;
        m.req_id = req_id;
        m.payload = payload;
        auto b = encode_message(m);
        ASSERT_EQ(::send(fd, b.data(), b.size(), MSG_NOSIGNAL), static_cast<ssize_t>(b.size()));
    }
    // Reads one message; nullopt on EOF or timeout.
    static std::optional<Message> recv_msg(int fd) {
        std::string buf;
        auto read_n = [&](std::size_t n) {
            while (buf.size() < n) {
                char c[4096];
                ssize_t r = ::recv(fd, c, std::min(sizeof c, n - buf.size()), 0);
                if (r <= 0) return false;
                buf.append(c, static_cast<std::size_t>(r));
            }
            return true;
        };
        if (!read_n(kHeaderSize)) return std::nullopt;
        xsd_sockmsg h;
        std::memcpy(&h, buf.data(), sizeof h);
        if (!read_n(kHeaderSize + h.len)) return std::nullopt;
        return parse_messages(buf).front();
    }
    // The next message on a guest's response ring (bytes past it are kept).
    std::optional<Message> guest_next(domid_t domid) {
        GuestRing& g = *host.guests.at(domid);
        std::string& bytes = rx_[domid];
        if (!eventually([&] {
                bytes += g.take();
                return !parse_messages(bytes).empty();
            }))
            return std::nullopt;
        Message m = parse_messages(bytes).front();
        bytes.erase(0, kHeaderSize + m.payload.size());
        return m;
    }
    // The guest sends a request and waits for the reply on its ring.
    Message guest_request(domid_t domid, std::uint32_t type, const std::string& payload) {
        host.guests.at(domid)->put_message(type, payload, 42);
        host.on_events.at(domid)();
        auto m = guest_next(domid);
        EXPECT_TRUE(m);
        return m.value_or(Message{});
    }

    FakeRingHost host;
    std::unique_ptr<XenstoreService> svc;
    std::string dir_;
    std::map<domid_t, std::string> rx_;
};

TEST_F(ServiceTest, SocketClientIsPrivilegedDom0) {
    int fd = connect_socket();
    send_msg(fd, XS_READ, strs({"/local/domain/0/name"}));
    auto r = recv_msg(fd);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->payload, "Domain-0");
    send_msg(fd, XS_INTRODUCE, strs({"9", "1", "1"}), 2);  // privileged: allowed, fails in the host
    r = recv_msg(fd);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->req_id, 2u);
    EXPECT_EQ(status(*r), "EINVAL");
    ::close(fd);
}

TEST_F(ServiceTest, CreatedDomainGetsLibxlNodesAndItsRing) {
    ASSERT_EQ(svc->domain_created(record(5)), XsErr::ok);
    EXPECT_EQ(svc->read("/local/domain/5/name"), "guest5");
    EXPECT_EQ(svc->read("/local/domain/5/cpu/1/availability"), "offline");
    Reply perms = svc->request(make_request(XS_GET_PERMS, {"/local/domain/5/control/shutdown"}));
    EXPECT_EQ(perms.payload, strs({"n5"}));
    perms = svc->request(make_request(XS_GET_PERMS, {"/local/domain/5"}));
    EXPECT_EQ(perms.payload, strs({"n0", "r5"}));
    EXPECT_EQ(host.guests.at(5)->page.server_features,
              XENSTORE_SERVER_FEATURE_RECONNECTION | XENSTORE_SERVER_FEATURE_ERROR);

    Message r = guest_request(5, XS_READ, strs({"name"}));
    EXPECT_EQ(r.req_id, 42u);
    EXPECT_EQ(r.payload, "guest5");
    EXPECT_GT(host.notified[5].load(), 0);
    EXPECT_EQ(status(guest_request(5, XS_READ, strs({"/local/domain/0/name"}))), "EACCES");
}

TEST_F(ServiceTest, HostWriteFiresTheGuestsWatch) {
    ASSERT_EQ(svc->domain_created(record(3)), XsErr::ok);
    EXPECT_EQ(status(guest_request(3, XS_WATCH, strs({"data/w", "tok"}))), "ok");
    auto initial = guest_next(3);
    ASSERT_TRUE(initial);
    EXPECT_EQ(initial->type, XS_WATCH_EVENT);
    EXPECT_EQ(svc->write("/local/domain/3/data/w", "v"), XsErr::ok);
    auto ev = guest_next(3);
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->type, XS_WATCH_EVENT);
    EXPECT_EQ(ev->payload, strs({"data/w", "tok"}));
}

TEST_F(ServiceTest, LyingIndexStopsTheRingUntilReconnect) {
    ASSERT_EQ(svc->domain_created(record(4)), XsErr::ok);
    GuestRing& g = *host.guests.at(4);
    g.page.req_prod = g.page.req_cons + 5000;
    host.on_events.at(4)();
    ASSERT_TRUE(eventually([&] { return g.page.error == XENSTORE_ERROR_RINGIDX; }));
    EXPECT_EQ(svc->stats().rings_failed, 1u);
    // Others are unaffected.
    EXPECT_EQ(svc->read("/local/domain/4/name"), "guest4");
    g.page.connection = XENSTORE_RECONNECT;
    host.on_events.at(4)();
    ASSERT_TRUE(eventually([&] { return g.page.connection == XENSTORE_CONNECTED; }));
    EXPECT_EQ(g.page.error, XENSTORE_ERROR_NONE);
    EXPECT_EQ(guest_request(4, XS_READ, strs({"domid"})).payload, "4");
}

TEST_F(ServiceTest, OversizedHeaderClosesOnlyThatSocket) {
    int bad = connect_socket();
    int good = connect_socket();
    xsd_sockmsg h{};
    h.type = XS_READ;
    h.len = 0xffffffffu;
    ASSERT_EQ(::send(bad, &h, sizeof h, MSG_NOSIGNAL), static_cast<ssize_t>(sizeof h));
    char c;
    EXPECT_EQ(::recv(bad, &c, 1, 0), 0);  // closed
    send_msg(good, XS_READ, strs({"/local/domain/0/domid"}));
    auto r = recv_msg(good);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->payload, "0");
    EXPECT_TRUE(eventually([&] { return svc->stats().sockets_dropped == 1; }));
    ::close(bad);
    ::close(good);
}

TEST_F(ServiceTest, ClientThatNeverReadsIsThrottledNotBuffered) {
    int flood = connect_socket();
    timeval tv{0, 200000};
    ::setsockopt(flood, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    Message m;
    m.type = XS_READ;
    m.payload = strs({"/local/domain/0/name"});
    auto one = encode_message(m);
    std::vector<std::uint8_t> blob;
    for (int i = 0; i < 1000; ++i) blob.insert(blob.end(), one.begin(), one.end());
    std::size_t sent = 0;
    for (int i = 0; i < 200; ++i) {  // up to 200,000 requests
        ssize_t n = ::send(flood, blob.data(), blob.size(), MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
    }
    EXPECT_LT(sent, blob.size() * 200);  // the server stopped reading
    int good = connect_socket();
    send_msg(good, XS_READ, strs({"/local/domain/0/name"}));
    auto r = recv_msg(good);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->payload, "Domain-0");
    ::close(flood);
    ::close(good);
}

TEST_F(ServiceTest, DestroyRemovesNodesReleasesRingAndFiresReleaseDomain) {
    ASSERT_EQ(svc->domain_created(record(6)), XsErr::ok);
    int fd = connect_socket();
    send_msg(fd, XS_WATCH, strs({"@releaseDomain", "rel"}));
    ASSERT_TRUE(recv_msg(fd));  // OK
    ASSERT_TRUE(recv_msg(fd));  // initial event
    svc->domain_destroyed(6);
    auto ev = recv_msg(fd);
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->type, XS_WATCH_EVENT);
    EXPECT_EQ(ev->payload, strs({"@releaseDomain", "rel"}));
    EXPECT_EQ(svc->read("/local/domain/6"), std::nullopt);
    EXPECT_EQ(svc->read("/vm/00000000-0000-4000-8000-000000000006"), std::nullopt);
    EXPECT_EQ(svc->read("/libxl/6"), std::nullopt);
    EXPECT_EQ(host.released[6], 1);
    ::close(fd);
}

TEST_F(ServiceTest, ShutdownNoticeFiresReleaseDomainOnce) {
    ASSERT_EQ(svc->domain_created(record(8)), XsErr::ok);
    int fd = connect_socket();
    send_msg(fd, XS_WATCH, strs({"@releaseDomain", "rel"}));
    ASSERT_TRUE(recv_msg(fd));
    ASSERT_TRUE(recv_msg(fd));
    svc->domain_shutdown(8);
    svc->domain_shutdown(8);
    auto ev = recv_msg(fd);
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->payload, strs({"@releaseDomain", "rel"}));
    timeval tv{0, 100000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    EXPECT_FALSE(recv_msg(fd));  // not twice
    ::close(fd);
}

TEST_F(ServiceTest, WaitForNodeSeesTheGuestsAcknowledgement) {
    ASSERT_EQ(svc->domain_created(record(2)), XsErr::ok);
    ASSERT_EQ(svc->write("/local/domain/2/control/shutdown", "poweroff"), XsErr::ok);
    std::thread guest([&] {
        std::this_thread::sleep_for(50ms);
        guest_request(2, XS_WRITE, std::string("control/shutdown\0", 17));
    });
    const bool acked = svc->wait_for_node(
        "/local/domain/2/control/shutdown",
        [](const std::optional<std::string>& v) { return !v || v->empty(); },
        std::chrono::steady_clock::now() + 5s);
    guest.join();
    EXPECT_TRUE(acked);
    EXPECT_FALSE(svc->wait_for_node(
        "/local/domain/2/name", [](const std::optional<std::string>& v) { return !v; },
        std::chrono::steady_clock::now() + 50ms));
}

TEST_F(ServiceTest, SecondServiceOnALiveSocketIsRefused) {
    ServiceOptions o;
    o.socket_path = svc->socket_path();
    auto again = XenstoreService::start(o, &host);
    ASSERT_FALSE(again);
    EXPECT_NE(again.error().what.find("another xenstored"), std::string::npos);
}

// Before: at the fd limit the loop spun on the readable listening socket,
// logging each EMFILE (~600k lines/s) at 100% CPU.
TEST_F(ServiceTest, AtTheFdLimit_ClientsAreRefusedAndTheLoopIdles) {
    // Sockets made while fds are still free; connect() needs no new one.
    std::vector<int> clients;
    for (int i = 0; i < 8; ++i) clients.push_back(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    rlimit old{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
    int highest = 0;
    for (int fd = 0; fd < 4096; ++fd)
        if (::fcntl(fd, F_GETFD) >= 0) highest = fd;
    rlimit tight{static_cast<rlim_t>(highest + 1), old.rlim_max};
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);
    std::vector<int> fillers;  // the free numbers below the limit
    for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fillers.push_back(fd);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", svc->socket_path().c_str());
    for (int fd : clients)
        ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    timespec c0{}, c1{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    std::this_thread::sleep_for(500ms);
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    const double cpu = double(c1.tv_sec - c0.tv_sec) + double(c1.tv_nsec - c0.tv_nsec) / 1e9;
    // Refused clients see the end of the stream, not a hang.
    int refused = 0;
    for (int fd : clients) {
        timeval tv{0, 200000};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char c;
        if (::recv(fd, &c, 1, 0) == 0) ++refused;
    }
    for (int fd : fillers) ::close(fd);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
    EXPECT_LT(cpu, 0.1) << "the service loop spins at the fd limit";
    EXPECT_EQ(refused, 8);
    for (int fd : clients) ::close(fd);
    // Descriptors are back: new clients are served.
    int fd = connect_socket();
    send_msg(fd, XS_READ, strs({"/local/domain/0/name"}));
    auto r = recv_msg(fd);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->payload, "Domain-0");
    ::close(fd);
}

TEST_F(ServiceTest, StopRemovesTheSocket) {
    const std::string path = svc->socket_path();
    svc->stop();
    EXPECT_NE(::access(path.c_str(), F_OK), 0);
}

TEST(DomainNodes, TeardownOnlyRemovesAVmPath) {
    auto reqs = domain_teardown_requests(3, "/local/domain/0");
    ASSERT_EQ(reqs.size(), 2u);  // home and /libxl/3, not the bogus vm path
    EXPECT_EQ(reqs[0].payload, strs({"/local/domain/3"}));
    EXPECT_EQ(reqs[1].payload, strs({"/libxl/3"}));
}

}  // namespace
}  // namespace xenolith::xenstore::test
