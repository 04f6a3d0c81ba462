// SocketXenstore against a real XenstoreService (no rings): over the host
// unix socket and over a scoped connection, the scope's confinement, a
// hostile server on the other end of a socketpair, and the client inside a
// sandboxed back-end process.
#include "backend/xs_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "backend/sandbox/backend_process.hpp"
#include "xenstore/domain_nodes.hpp"
#include "xenstore/xenstore_service.hpp"

namespace xenolith::backend {
namespace {

using xenstore::Scope;
using xenstore::XenstoreService;

constexpr const char* kBack = "/local/domain/0/backend/vbd/5/51712";
constexpr const char* kFront = "/local/domain/5/device/vbd/51712";

bool readable(int fd, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, timeout_ms) == 1;
}

Scope vbd_scope(int domid = 5, const std::string& dev = "51712") {
    Scope s;
    s.domid = 0;
    s.writable = {"/local/domain/0/backend/vbd/" + std::to_string(domid) + "/" + dev};
    s.readable = {"/local/domain/" + std::to_string(domid) + "/device/vbd/" + dev};
    return s;
}

class XsClientTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/xenolith-xsclient.XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        xenstore::ServiceOptions o;
        o.socket_path = dir_ + "/socket";
        auto s = XenstoreService::start(o, nullptr);
        ASSERT_TRUE(s) << s.error().what;
        svc = std::move(*s);
        // A vbd of domains 5 and 7, as libxl lays them out.
        for (int d : {5, 7}) {
            const std::string back = "/local/domain/0/backend/vbd/" + std::to_string(d) + "/51712";
            const std::string front = "/local/domain/" + std::to_string(d) + "/device/vbd/51712";
            admin(back + "/state", "1");
            admin(back + "/params", "/dev/disk" + std::to_string(d));
            admin_perms(back, {"n0", "r" + std::to_string(d)});
            admin_perms(back + "/state", {"n0", "r" + std::to_string(d)});
            admin_perms(back + "/params", {"n0", "r" + std::to_string(d)});
            admin(front + "/state", "1");
            admin(front + "/ring-ref", "8");
            for (const std::string& p : {front, front + "/state", front + "/ring-ref"})
                admin_perms(p, {"n" + std::to_string(d), "r0"});
        }
        admin("/local/domain/0/backend/vbd/5/517120/state", "secret");
    }
    void TearDown() override {
        svc.reset();
        std::system(("rm -rf " + dir_).c_str());
    }

    void admin(const std::string& path, const std::string& value) {
        ASSERT_EQ(svc->write(path, value), xenstore::XsErr::ok) << path;
    }
    void admin_perms(const std::string& path, std::initializer_list<std::string> perms) {
        std::string payload = path + '\0';
        for (const auto& p : perms) payload += p + '\0';
        xenstore::Message m;
        m.type = XS_SET_PERMS;
        m.payload = payload;
        ASSERT_NE(svc->request(m).type, XS_ERROR) << path;
    }

    std::unique_ptr<SocketXenstore> scoped(const Scope& s = vbd_scope()) {
        auto fd = svc->connect_scoped(s);
        EXPECT_TRUE(fd) << fd.error().what;
        if (!fd) return nullptr;
        auto c = SocketXenstore::open(fd->release());
        EXPECT_TRUE(c) << c.error().what;
        return c ? std::move(*c) : nullptr;
    }
    std::unique_ptr<SocketXenstore> unix_client() {
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof a.sun_path, "%s", svc->socket_path().c_str());
        EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        auto c = SocketXenstore::open(fd);
        EXPECT_TRUE(c);
        return c ? std::move(*c) : nullptr;
    }

    std::string dir_;
    std::unique_ptr<XenstoreService> svc;
};

// ---- the operations, on the host socket (privileged dom0) -------------

TEST_F(XsClientTest, node_operations_over_unix_socket_then_as_libxenstore) {
    auto xs = unix_client();
    ASSERT_TRUE(xs);
    EXPECT_EQ(xs->write(0, "/t/a", "hello"), 0);
    EXPECT_EQ(xs->read(0, "/t/a"), std::make_pair(std::string("hello"), 0));
    const std::string binary("x\0y", 3);
    EXPECT_EQ(xs->write(0, "/t/bin", binary), 0);
    EXPECT_EQ(xs->read(0, "/t/bin").first, binary);
    EXPECT_EQ(xs->mkdir(0, "/t/dir"), 0);
    EXPECT_EQ(xs->mkdir(0, "/t/dir"), 0);  // existing: fine
    EXPECT_EQ(xs->read(0, "/t/dir"), std::make_pair(std::string(), 0));
    auto [names, err] = xs->directory(0, "/t");
    EXPECT_EQ(err, 0);
    EXPECT_EQ(names, (std::vector<std::string>{"a", "bin", "dir"}));
    EXPECT_EQ(xs->directory(0, "/t/dir"), std::make_pair(std::vector<std::string>{}, 0));
    EXPECT_EQ(xs->rm(0, "/t/a"), 0);
    EXPECT_EQ(xs->read(0, "/t/a").second, ENOENT);
    EXPECT_EQ(xs->rm(0, "/nope/deeper"), ENOENT);

    const XsPerm perms[] = {{3, 'n'}, {0, 'r'}, {4, 'b'}};
    EXPECT_EQ(xs->set_perms(0, "/t/dir", perms), 0);
    auto [got, perr] = xs->get_perms(0, "/t/dir");
    EXPECT_EQ(perr, 0);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].domid, 3);
    EXPECT_EQ(got[0].access, 'n');
    EXPECT_EQ(got[2].domid, 4);
    EXPECT_EQ(got[2].access, 'b');
    EXPECT_EQ(xs->failure(), 0);
}

TEST_F(XsClientTest, bad_arguments_then_errno_and_connection_still_usable) {
    auto xs = unix_client();
    ASSERT_TRUE(xs);
    EXPECT_EQ(xs->read(0, "/bad path").second, EINVAL);             // server: bad chars
    EXPECT_EQ(xs->write(0, "/t/", "v"), EINVAL);                     // trailing slash
    EXPECT_EQ(xs->read(0, std::string("/a\0b", 4)).second, EINVAL);  // local: NUL in path
    EXPECT_EQ(xs->write(0, "/t/big", std::string(5000, 'x')), E2BIG);
    EXPECT_EQ(xs->watch("/t", std::string("a\0b", 3)), EINVAL);
    const XsPerm bad[] = {{0, 'x'}};
    EXPECT_EQ(xs->set_perms(0, "/t", bad), EINVAL);
    EXPECT_EQ(xs->set_perms(0, "/t", {}), EINVAL);
    EXPECT_EQ(xs->read(0, "/missing").second, ENOENT);
    EXPECT_EQ(xs->read(77, "/t").second, ENOENT);  // no such transaction
    EXPECT_EQ(xs->transaction_end(0, true), EINVAL);
    EXPECT_EQ(xs->unwatch("/t", "never"), ENOENT);
    EXPECT_EQ(xs->write(0, "/t/ok", "1"), 0);
    EXPECT_EQ(xs->failure(), 0);
}

TEST_F(XsClientTest, transaction_conflict_then_eagain_and_retry_commits) {
    auto xs = unix_client();
    auto other = unix_client();
    ASSERT_TRUE(xs && other);
    ASSERT_EQ(xs->write(0, "/t/counter", "0"), 0);

    // Abort discards.
    auto [t0, e0] = xs->transaction_start();
    ASSERT_EQ(e0, 0);
    EXPECT_NE(t0, 0u);
    EXPECT_EQ(xs->write(t0, "/t/counter", "9"), 0);
    EXPECT_EQ(xs->read(t0, "/t/counter").first, "9");
    EXPECT_EQ(xs->read(0, "/t/counter").first, "0");
    EXPECT_EQ(xs->transaction_end(t0, false), 0);
    EXPECT_EQ(xs->read(0, "/t/counter").first, "0");

    int attempts = 0;
    for (;;) {
        ++attempts;
        auto [tx, err] = xs->transaction_start();
        ASSERT_EQ(err, 0);
        auto [v, rerr] = xs->read(tx, "/t/counter");
        ASSERT_EQ(rerr, 0);
        ASSERT_EQ(xs->write(tx, "/t/counter", std::to_string(std::stoi(v) + 1)), 0);
        // Someone else changes it while the first try is open.
        if (attempts == 1) {
            ASSERT_EQ(other->write(0, "/t/counter", "10"), 0);
        }
        const int end = xs->transaction_end(tx, true);
        if (end == EAGAIN) continue;
        ASSERT_EQ(end, 0);
        break;
    }
    EXPECT_EQ(attempts, 2);
    EXPECT_EQ(xs->read(0, "/t/counter").first, "11");
}

// ---- watches ----------------------------------------------------------

TEST_F(XsClientTest, watch_fires_then_fd_readable_until_drained) {
    auto xs = unix_client();
    auto other = unix_client();
    ASSERT_TRUE(xs && other);
    ASSERT_EQ(xs->watch("/w", "tok"), 0);
    ASSERT_TRUE(readable(xs->watch_fd(), 2000));
    auto ev = xs->next_watch_event();  // the initial event
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->path, "/w");
    EXPECT_EQ(ev->token, "tok");
    EXPECT_FALSE(xs->next_watch_event());
    EXPECT_FALSE(readable(xs->watch_fd(), 0));

    ASSERT_EQ(other->write(0, "/w/x", "1"), 0);
    ASSERT_TRUE(readable(xs->watch_fd(), 2000));
    ev = xs->next_watch_event();
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->path, "/w/x");
    EXPECT_FALSE(readable(xs->watch_fd(), 0));

    EXPECT_EQ(xs->watch("/w", "tok"), EEXIST);
    EXPECT_EQ(xs->unwatch("/w", "tok"), 0);
    ASSERT_EQ(other->write(0, "/w/y", "1"), 0);
    EXPECT_FALSE(readable(xs->watch_fd(), 100));
}

TEST_F(XsClientTest, event_arriving_during_a_request_then_queued_and_fd_stays_readable) {
    auto xs = unix_client();
    auto other = unix_client();
    ASSERT_TRUE(xs && other);
    ASSERT_EQ(xs->watch("/w", "tok"), 0);
    ASSERT_TRUE(readable(xs->watch_fd(), 2000));
    ASSERT_TRUE(xs->next_watch_event());
    ASSERT_EQ(other->write(0, "/w/a", "1"), 0);
    ASSERT_TRUE(readable(xs->watch_fd(), 2000));  // the event is on the socket
    // The request reads it off the socket while waiting for its reply.
    EXPECT_EQ(xs->read(0, "/w/a").first, "1");
    // Its own write: reply and event go out together.
    EXPECT_EQ(xs->write(0, "/w/b", "2"), 0);
    EXPECT_TRUE(readable(xs->watch_fd(), 2000));
    auto a = xs->next_watch_event();
    ASSERT_TRUE(a);
    EXPECT_EQ(a->path, "/w/a");
    EXPECT_TRUE(readable(xs->watch_fd(), 2000));
    auto b = xs->next_watch_event();
    ASSERT_TRUE(b);
    EXPECT_EQ(b->path, "/w/b");
    EXPECT_FALSE(xs->next_watch_event());
    EXPECT_FALSE(readable(xs->watch_fd(), 0));
}

// ---- scoped connections -----------------------------------------------

TEST_F(XsClientTest, scoped_inside_scope_then_node_operations_work) {
    auto xs = scoped();
    ASSERT_TRUE(xs);
    const std::string back = kBack;
    const std::string front = kFront;
    EXPECT_EQ(xs->read(0, back + "/params").first, "/dev/disk5");
    EXPECT_EQ(xs->write(0, back + "/state", "2"), 0);
    EXPECT_EQ(xs->write(0, back + "/sectors", "2048"), 0);
    EXPECT_EQ(xs->mkdir(0, back + "/q"), 0);
    EXPECT_EQ(xs->rm(0, back + "/q"), 0);
    auto [names, err] = xs->directory(0, back);
    EXPECT_EQ(err, 0);
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"params", "sectors", "state"}));
    EXPECT_EQ(xs->read(0, front + "/ring-ref").first, "8");
    EXPECT_EQ(xs->directory(0, front).second, 0);
    EXPECT_EQ(xs->get_perms(0, front).second, 0);
    // Relative paths resolve under the connection's domain (0) first.
    EXPECT_EQ(xs->read(0, "backend/vbd/5/51712/state").first, "2");
    // A new node inherits the parent's perms: the guest may read it.
    auto [perms, perr] = xs->get_perms(0, back + "/sectors");
    EXPECT_EQ(perr, 0);
    ASSERT_EQ(perms.size(), 2u);
    EXPECT_EQ(perms[1].domid, 5);
    const XsPerm p[] = {{0, 'n'}, {5, 'r'}};
    EXPECT_EQ(xs->set_perms(0, back + "/sectors", p), 0);
    EXPECT_EQ(svc->read(back + "/state").value_or(""), "2");
}

TEST_F(XsClientTest, scoped_outside_scope_then_eacces) {
    auto xs = scoped();
    ASSERT_TRUE(xs);
    const std::string other_back = "/local/domain/0/backend/vbd/7/51712";
    const std::string other_front = "/local/domain/7/device/vbd/51712";
    const XsPerm p[] = {{0, 'b'}};
    for (const std::string& path :
         {other_back + "/state", other_front + "/state", std::string("/local/domain/0/backend/vbd/5"),
          std::string("/local/domain/0/backend/vbd/5/517120/state"), std::string("/local/domain/0"),
          std::string("/"), std::string("/tool"), std::string("/local/domain/5/name")}) {
        EXPECT_EQ(xs->read(0, path).second, EACCES) << path;
        EXPECT_EQ(xs->write(0, path, "x"), EACCES) << path;
        EXPECT_EQ(xs->mkdir(0, path == "/" ? "/d" : path + "/d"), EACCES) << path;
        EXPECT_EQ(xs->rm(0, path), EACCES) << path;
        EXPECT_EQ(xs->directory(0, path).second, EACCES) << path;
        EXPECT_EQ(xs->get_perms(0, path).second, EACCES) << path;
        EXPECT_EQ(xs->set_perms(0, path, p), EACCES) << path;
        EXPECT_EQ(xs->watch(path, "t"), EACCES) << path;
    }
    // The readable prefix is read-only.
    const std::string front = kFront;
    EXPECT_EQ(xs->write(0, front + "/state", "5"), EACCES);
    EXPECT_EQ(xs->rm(0, front + "/ring-ref"), EACCES);
    EXPECT_EQ(xs->mkdir(0, front + "/x"), EACCES);
    EXPECT_EQ(xs->set_perms(0, front, p), EACCES);
    // Special names are in no scope.
    EXPECT_EQ(xs->watch("@releaseDomain", "t"), EACCES);
    EXPECT_EQ(xs->watch("@introduceDomain", "t"), EACCES);
    EXPECT_EQ(xs->get_perms(0, "@releaseDomain").second, EACCES);
    // Relative paths cannot step out either.
    EXPECT_EQ(xs->read(0, "backend/vbd/7/51712/state").second, EACCES);
    EXPECT_EQ(xs->read(0, "backend/vbd/5/517120/state").second, EACCES);
    // Odd spellings are not paths at all.
    for (const std::string& odd :
         {std::string(kBack) + "/../../7/51712", std::string(kBack) + "/./state",
          std::string(kBack) + "/", std::string("/local//domain/0/backend/vbd/5/51712"),
          std::string(kBack) + "//state", std::string("../7"), std::string("")})
        EXPECT_EQ(xs->read(0, odd).second, EINVAL) << odd;
    EXPECT_EQ(svc->read(other_back + "/state").value_or(""), "1");
    EXPECT_EQ(svc->read(other_front + "/state").value_or(""), "1");
    EXPECT_EQ(xs->failure(), 0);
}

TEST_F(XsClientTest, scoped_inside_scope_then_node_permissions_still_apply) {
    const std::string back = kBack;
    const std::string front = kFront;
    admin(back + "/private", "x");
    admin_perms(back + "/private", {"n7"});  // owned by 7, nobody else
    admin(front + "/private", "y");
    admin_perms(front + "/private", {"n5"});  // the guest's, not shared with 0
    auto xs = scoped();
    ASSERT_TRUE(xs);
    EXPECT_EQ(xs->read(0, back + "/private").second, EACCES);
    EXPECT_EQ(xs->write(0, back + "/private", "z"), EACCES);
    EXPECT_EQ(xs->read(0, front + "/private").second, EACCES);
    // Not privileged: it cannot give a node away.
    const XsPerm give[] = {{5, 'b'}};
    EXPECT_EQ(xs->set_perms(0, back + "/state", give), EPERM);
}

TEST_F(XsClientTest, scoped_privileged_and_domain_requests_then_eacces) {
    auto fd = svc->connect_scoped(vbd_scope());
    ASSERT_TRUE(fd);
    const int s = fd->get();
    timeval tv{2, 0};
    ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    auto ask = [&](std::uint32_t type, std::initializer_list<std::string_view> args) {
        const auto bytes = xenstore::encode_message(xenstore::make_request(type, args));
        EXPECT_EQ(::send(s, bytes.data(), bytes.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(bytes.size()));
        xsd_sockmsg h{};
        EXPECT_EQ(::recv(s, &h, sizeof h, MSG_WAITALL), static_cast<ssize_t>(sizeof h));
        std::string payload(h.len, '\0');
        if (h.len) {
            EXPECT_EQ(::recv(s, payload.data(), h.len, MSG_WAITALL), static_cast<ssize_t>(h.len));
        }
        if (h.type != XS_ERROR) return std::string("ok:") + payload.c_str();
        return std::string(payload.c_str());
    };
    EXPECT_EQ(ask(XS_INTRODUCE, {"9", "4096", "3"}), "EACCES");
    EXPECT_EQ(ask(XS_RELEASE, {"5"}), "EACCES");
    EXPECT_EQ(ask(XS_SET_TARGET, {"5", "7"}), "EACCES");
    EXPECT_EQ(ask(XS_RESUME, {"5"}), "EACCES");
    EXPECT_EQ(ask(XS_IS_DOMAIN_INTRODUCED, {"5"}), "EACCES");
    EXPECT_EQ(ask(XS_GET_DOMAIN_PATH, {"5"}), "EACCES");
    EXPECT_EQ(ask(XS_GET_DOMAIN_PATH, {"0"}), "ok:/local/domain/0");
    EXPECT_EQ(ask(XS_RESET_WATCHES, {}), "EACCES");
    EXPECT_EQ(ask(XS_CONTROL, {"quota", "nodes", "5"}), "EACCES");
    EXPECT_EQ(ask(XS_WATCH_EVENT, {"/x", "t"}), "EACCES");
    EXPECT_EQ(ask(99, {"x"}), "EACCES");
    EXPECT_EQ(ask(XS_READ, {std::string(kBack) + "/state"}), "ok:1");
}

TEST_F(XsClientTest, scoped_watch_then_only_events_inside_scope) {
    auto xs = scoped();
    auto host = unix_client();
    ASSERT_TRUE(xs && host);
    const std::string back = kBack;
    const std::string front = kFront;
    ASSERT_EQ(xs->watch(back, "b"), 0);
    ASSERT_EQ(xs->watch(front + "/state", "f"), 0);
    while (readable(xs->watch_fd(), 200)) (void)xs->next_watch_event();  // initial events

    // Outside: siblings, neighbours by prefix, other domains, specials.
    ASSERT_EQ(host->write(0, "/local/domain/0/backend/vbd/5/517120/state", "4"), 0);
    ASSERT_EQ(host->write(0, "/local/domain/0/backend/vbd/7/51712/state", "4"), 0);
    ASSERT_EQ(host->write(0, "/local/domain/7/device/vbd/51712/state", "4"), 0);
    ASSERT_EQ(host->write(0, "/local/domain/0/backend/vbd/5/other", "4"), 0);
    ASSERT_EQ(host->write(0, front + "/ring-ref", "9"), 0);  // readable, but not watched
    ASSERT_EQ(host->write(0, "/local/domain/5/device/vbd/51712x", "4"), 0);
    EXPECT_FALSE(readable(xs->watch_fd(), 200));
    EXPECT_FALSE(xs->next_watch_event());

    // Inside.
    ASSERT_EQ(host->write(0, front + "/state", "3"), 0);
    ASSERT_TRUE(readable(xs->watch_fd(), 2000));
    auto ev = xs->next_watch_event();
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->path, front + "/state");
    EXPECT_EQ(ev->token, "f");
    // Removing an ancestor outside the scope: the events name only the
    // watched nodes inside it.
    ASSERT_EQ(host->rm(0, "/local/domain/0/backend/vbd/5"), 0);
    ASSERT_TRUE(readable(xs->watch_fd(), 2000));
    std::vector<std::string> seen;
    while (readable(xs->watch_fd(), 200)) {
        if (auto e = xs->next_watch_event()) seen.push_back(e->path);
    }
    ASSERT_FALSE(seen.empty());
    for (const auto& p : seen) EXPECT_TRUE(p == back || p.starts_with(back + "/")) << p;
}

TEST_F(XsClientTest, scoped_transaction_then_same_rules_and_commit_inside) {
    auto xs = scoped();
    ASSERT_TRUE(xs);
    const std::string back = kBack;
    auto [tx, err] = xs->transaction_start();
    ASSERT_EQ(err, 0);
    EXPECT_EQ(xs->read(tx, "/local/domain/0/backend/vbd/7/51712/state").second, EACCES);
    EXPECT_EQ(xs->write(tx, "/local/domain/7/device/vbd/51712/state", "6"), EACCES);
    EXPECT_EQ(xs->write(tx, std::string(kFront) + "/state", "6"), EACCES);
    EXPECT_EQ(xs->read(tx, std::string(kFront) + "/state").first, "1");
    EXPECT_EQ(xs->write(tx, back + "/state", "4"), 0);
    EXPECT_EQ(xs->transaction_end(tx, true), 0);
    EXPECT_EQ(svc->read(back + "/state").value_or(""), "4");
    EXPECT_EQ(svc->read("/local/domain/7/device/vbd/51712/state").value_or(""), "1");
}

TEST_F(XsClientTest, scoped_as_driver_domain_then_relative_paths_under_its_home) {
    admin("/local/domain/9/backend/vbd/5/51712/state", "1");
    admin_perms("/local/domain/9/backend/vbd/5/51712", {"n9", "r5"});
    admin_perms("/local/domain/9/backend/vbd/5/51712/state", {"n9", "r5"});
    Scope s;
    s.domid = 9;
    s.writable = {"/local/domain/9/backend/vbd/5/51712"};
    s.readable = {kFront};
    auto xs = scoped(s);
    ASSERT_TRUE(xs);
    EXPECT_EQ(xs->write(0, "backend/vbd/5/51712/state", "2"), 0);
    EXPECT_EQ(svc->read("/local/domain/9/backend/vbd/5/51712/state").value_or(""), "2");
    // In scope, but the front end shares it with domain 0 only.
    EXPECT_EQ(xs->read(0, std::string(kFront) + "/state").second, EACCES);
    EXPECT_EQ(xs->read(0, std::string(kBack) + "/state").second, EACCES);
}

TEST_F(XsClientTest, connect_scoped_with_bad_prefix_then_error) {
    for (const char* bad : {"relative/path", "/trailing/", "/dou//ble", "@special", "", "/sp ace"}) {
        Scope s;
        s.writable = {bad};
        EXPECT_FALSE(svc->connect_scoped(s)) << bad;
        Scope r;
        r.readable = {bad};
        EXPECT_FALSE(svc->connect_scoped(r)) << bad;
    }
}

TEST_F(XsClientTest, scoped_fd_closed_then_disconnected) {
    const std::size_t before = svc->stats().socket_clients;
    {
        auto xs = scoped();
        ASSERT_TRUE(xs);
        EXPECT_EQ(xs->watch(kBack, "t"), 0);
        EXPECT_EQ(svc->stats().socket_clients, before + 1);
    }
    for (int i = 0; i < 400 && svc->stats().socket_clients != before; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(svc->stats().socket_clients, before);
}

TEST_F(XsClientTest, service_stopped_then_requests_fail_enotconn_and_fd_readable) {
    auto xs = scoped();
    ASSERT_TRUE(xs);
    svc->stop();
    EXPECT_EQ(xs->read(0, std::string(kBack) + "/state").second, ENOTCONN);
    EXPECT_EQ(xs->write(0, std::string(kBack) + "/state", "1"), ENOTCONN);
    EXPECT_EQ(xs->failure(), ENOTCONN);
    EXPECT_TRUE(readable(xs->watch_fd(), 0));
    EXPECT_FALSE(xs->next_watch_event());
}

// ---- a hostile server --------------------------------------------------

class HostileServer : public ::testing::Test {
protected:
    void SetUp() override {
        int sv[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        peer.reset(sv[1]);
        auto c = SocketXenstore::open(sv[0]);
        ASSERT_TRUE(c);
        xs = std::move(*c);
    }
    // Queues raw bytes for the client to read.
    void feed(const std::string& bytes) {
        ASSERT_EQ(::send(peer.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(bytes.size()));
    }
    static std::string msg(std::uint32_t type, std::uint32_t req_id, const std::string& payload,
                           std::uint32_t len_override = ~0u) {
        xsd_sockmsg h{};
        h.type = type;
        h.req_id = req_id;
        h.len = len_override != ~0u ? len_override : static_cast<std::uint32_t>(payload.size());
        return std::string(reinterpret_cast<const char*>(&h), sizeof h) + payload;
    }
    UniqueFd peer;
    std::unique_ptr<SocketXenstore> xs;
};

TEST_F(HostileServer, well_formed_replies_then_parsed) {
    feed(msg(XS_READ, 1, "v"));
    EXPECT_EQ(xs->read(0, "/a"), std::make_pair(std::string("v"), 0));
    feed(msg(XS_ERROR, 2, std::string("EACCES") + '\0'));
    EXPECT_EQ(xs->read(0, "/a").second, EACCES);
    feed(msg(XS_ERROR, 3, std::string("EAGAIN") + '\0'));
    EXPECT_EQ(xs->transaction_end(5, true), EAGAIN);
    EXPECT_EQ(xs->failure(), 0);
}

TEST_F(HostileServer, oversized_length_then_eio_for_good) {
    feed(msg(XS_READ, 1, "", 0x7fffffff));
    EXPECT_EQ(xs->read(0, "/a").second, EIO);
    EXPECT_EQ(xs->read(0, "/a").second, EIO);
    EXPECT_EQ(xs->write(0, "/a", "b"), EIO);
    EXPECT_TRUE(readable(xs->watch_fd(), 0));
    EXPECT_FALSE(xs->next_watch_event());
}

TEST_F(HostileServer, length_just_over_payload_max_then_eio) {
    feed(msg(XS_READ, 1, std::string(XENSTORE_PAYLOAD_MAX + 1, 'a')));
    EXPECT_EQ(xs->read(0, "/a").second, EIO);
}

TEST_F(HostileServer, wrong_req_id_then_eio) {
    feed(msg(XS_READ, 42, "v"));
    EXPECT_EQ(xs->read(0, "/a").second, EIO);
    EXPECT_EQ(xs->failure(), EIO);
}

TEST_F(HostileServer, wrong_reply_type_then_eio) {
    feed(msg(XS_DIRECTORY, 1, "v"));
    EXPECT_EQ(xs->read(0, "/a").second, EIO);
}

TEST_F(HostileServer, malformed_payloads_then_eio) {
    struct Case {
        std::string reply;
        std::function<int(SocketXenstore&)> op;
    };
    const std::vector<Case> cases = {
        {msg(XS_ERROR, 1, "EACCES"), [](auto& x) { return x.read(0, "/a").second; }},
        {msg(XS_ERROR, 1, std::string("ENOPE") + '\0'), [](auto& x) { return x.read(0, "/a").second; }},
        {msg(XS_ERROR, 1, ""), [](auto& x) { return x.read(0, "/a").second; }},
        {msg(XS_WRITE, 1, "NO"), [](auto& x) { return x.write(0, "/a", "v"); }},
        {msg(XS_DIRECTORY, 1, "a\0b"), [](auto& x) { return x.directory(0, "/a").second; }},
        {msg(XS_TRANSACTION_START, 1, std::string("x1") + '\0'),
         [](auto& x) { return x.transaction_start().second; }},
        {msg(XS_TRANSACTION_START, 1, std::string("0") + '\0'),
         [](auto& x) { return x.transaction_start().second; }},
        {msg(XS_TRANSACTION_START, 1, std::string("99999999999") + '\0'),
         [](auto& x) { return x.transaction_start().second; }},
        {msg(XS_GET_PERMS, 1, std::string("q0") + '\0'),
         [](auto& x) { return x.get_perms(0, "/a").second; }},
        {msg(XS_GET_PERMS, 1, std::string("b70000") + '\0'),
         [](auto& x) { return x.get_perms(0, "/a").second; }},
        {msg(XS_WATCH_EVENT, 0, std::string("onlypath") + '\0'),
         [](auto& x) { return x.read(0, "/a").second; }},
    };
    for (std::size_t i = 0; i < cases.size(); ++i) {
        SetUp();
        feed(cases[i].reply);
        EXPECT_EQ(cases[i].op(*xs), EIO) << "case " << i;
    }
}

TEST_F(HostileServer, truncated_message_then_close_then_enotconn) {
    feed(msg(XS_READ, 1, "value").substr(0, 19));
    peer.reset();
    EXPECT_EQ(xs->read(0, "/a").second, ENOTCONN);
    EXPECT_EQ(xs->read(0, "/a").second, ENOTCONN);
}

TEST_F(HostileServer, peer_gone_before_request_then_enotconn_no_sigpipe) {
    peer.reset();
    EXPECT_EQ(xs->write(0, "/a", "v"), ENOTCONN);
}

TEST_F(HostileServer, reply_while_idle_then_eio) {
    feed(msg(XS_WATCH_EVENT, 0, std::string("/p") + '\0' + "t" + '\0'));
    feed(msg(XS_READ, 1, "unasked"));
    ASSERT_TRUE(readable(xs->watch_fd(), 1000));
    (void)xs->next_watch_event();
    EXPECT_EQ(xs->failure(), EIO);
}

TEST_F(HostileServer, events_around_reply_then_queued_in_order) {
    std::string bytes = msg(XS_WATCH_EVENT, 0, std::string("/1") + '\0' + "t" + '\0');
    bytes += msg(XS_READ, 1, "v");
    bytes += msg(XS_WATCH_EVENT, 0, std::string("/2") + '\0' + "t" + '\0');
    feed(bytes);
    EXPECT_EQ(xs->read(0, "/a").first, "v");
    EXPECT_TRUE(readable(xs->watch_fd(), 0));
    EXPECT_EQ(xs->next_watch_event()->path, "/1");
    EXPECT_EQ(xs->next_watch_event()->path, "/2");
    EXPECT_FALSE(xs->next_watch_event());
    EXPECT_FALSE(readable(xs->watch_fd(), 0));
}

TEST_F(HostileServer, event_flood_then_bounded_queue) {
    std::thread flood([fd = peer.get()] {
        const std::string one = msg(XS_WATCH_EVENT, 0, std::string("/p") + '\0' + "t" + '\0');
        std::string many;
        for (int i = 0; i < 1000; ++i) many += one;
        for (int i = 0; i < 6; ++i)
            (void)::send(fd, many.data(), many.size(), MSG_NOSIGNAL);
        const std::string reply = msg(XS_READ, 1, "v");
        (void)::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
    });
    EXPECT_EQ(xs->read(0, "/a").first, "v");
    flood.join();
    EXPECT_EQ(xs->dropped_events(), 6000 - SocketXenstore::kMaxQueuedEvents);
    std::size_t n = 0;
    while (xs->next_watch_event()) ++n;
    EXPECT_EQ(n, SocketXenstore::kMaxQueuedEvents);
}

TEST_F(HostileServer, random_bytes_then_errors_never_crash) {
    std::mt19937 rng(1234);
    for (int round = 0; round < 300; ++round) {
        SetUp();
        std::string junk;
        const std::size_t n = rng() % 64;
        for (std::size_t i = 0; i < n; ++i) junk += static_cast<char>(rng());
        // Sometimes a plausible header with a random type, id and length.
        if (rng() % 2) junk = msg(rng() % 30, rng() % 3, junk, rng() % 2 ? ~0u : rng() % 8192) + junk;
        feed(junk);
        peer.reset();  // end of stream after the junk
        const int r = xs->read(0, "/a").second;
        EXPECT_TRUE(r == 0 || r == EIO || r == ENOTCONN || r > 0) << r;
        (void)xs->next_watch_event();
        (void)xs->directory(0, "/a");
    }
}

// ---- inside the back-end sandbox ---------------------------------------

TEST_F(XsClientTest, client_in_sandboxed_process_then_works_under_seccomp) {
    auto fd = svc->connect_scoped(vbd_scope());
    ASSERT_TRUE(fd);
    const std::string back = kBack;
    const std::string front = kFront;
    sandbox::SandboxSpec spec;
    spec.name = "xs-client";
    spec.fds = {fd->get()};
    auto proc = sandbox::BackendProcess::fork_function(
        spec, [back, front]() -> int {
            auto c = SocketXenstore::open(sandbox::kFirstPassedFd);
            if (!c) return 10;
            SocketXenstore& xs = **c;
            if (xs.read(0, front + "/ring-ref").first != "8") return 11;
            if (xs.write(0, back + "/state", "4") != 0) return 12;
            if (xs.read(0, "/local/domain/7/device/vbd/51712/state").second != EACCES) return 13;
            auto [tx, err] = xs.transaction_start();
            if (err || xs.write(tx, back + "/sectors", "8") || xs.transaction_end(tx, true))
                return 14;
            if (xs.watch(front + "/state", "fe") != 0) return 15;
            // The initial event, then the one the test's write causes.
            for (int seen = 0; seen < 2;) {
                pollfd p{xs.watch_fd(), POLLIN, 0};
                if (::poll(&p, 1, 5000) != 1) return 16;
                while (auto ev = xs.next_watch_event()) {
                    if (ev->token != "fe") return 17;
                    ++seen;
                    if (seen == 1 && xs.write(0, back + "/ready", "1")) return 18;
                }
            }
            return 0;
        });
    ASSERT_TRUE(proc) << proc.error().what;
    fd->reset();
    ASSERT_TRUE(svc->wait_for_node(back + "/ready", [](const auto& v) { return v.has_value(); },
                                   std::chrono::steady_clock::now() + std::chrono::seconds(10)));
    admin(front + "/state", "3");
    const sandbox::ExitInfo e = proc->wait();
    EXPECT_FALSE(e.signaled) << e.describe();
    EXPECT_EQ(e.code, 0) << e.describe();
    EXPECT_EQ(svc->read(back + "/state").value_or(""), "4");
    EXPECT_EQ(svc->read(back + "/sectors").value_or(""), "8");
}

}  // namespace
}  // namespace xenolith::backend
