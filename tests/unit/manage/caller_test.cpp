// dump-core's file is opened with the client's rights (daemon/caller.hpp).
// Needs root, as xenolithd runs.
#include <gtest/gtest.h>

#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <future>
#include <thread>

#include "daemon/caller.hpp"
#include "domain/core_dump.hpp"

namespace xenolith::daemon {
namespace {

class CallerRights : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "needs root";
        char tmpl[] = "/tmp/xenolith-caller.XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        ::chmod(dir_.c_str(), 0755);
        ASSERT_EQ(::mkdir((dir_ + "/root").c_str(), 0700), 0);
        ASSERT_EQ(::mkdir((dir_ + "/nobody").c_str(), 0700), 0);
        ASSERT_EQ(::chown((dir_ + "/nobody").c_str(), kNobody, kNobody), 0);
    }
    void TearDown() override {
        if (!dir_.empty()) std::system(("rm -rf " + dir_).c_str());
    }
    static constexpr uid_t kNobody = 65534;
    Caller nobody_{1, kNobody, kNobody, {}};
    std::string dir_;
};

TEST_F(CallerRights, a_caller_cannot_create_a_core_where_it_may_not_write) {
    int err = 0;
    {
        const ActAsCaller as(&nobody_);
        ASSERT_TRUE(as.ok());
        EXPECT_FALSE(domain::create_core_file(dir_ + "/root/core", &err).ok());
    }
    EXPECT_EQ(err, EACCES);
    EXPECT_NE(::access((dir_ + "/root/core").c_str(), F_OK), 0);
}

TEST_F(CallerRights, a_caller_creates_its_core_in_its_own_directory_owned_by_it) {
    int err = 0;
    {
        const ActAsCaller as(&nobody_);
        auto f = domain::create_core_file(dir_ + "/nobody/core", &err);
        ASSERT_TRUE(f.ok()) << f.error().what;
    }
    struct stat st {};
    ASSERT_EQ(::stat((dir_ + "/nobody/core").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, kNobody);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(CallerRights, the_thread_gets_roots_rights_back_and_other_threads_keep_them) {
    // A thread made earlier (as the daemon's are) keeps root's rights while
    // this one acts as the caller. (Threads made inside the scope would
    // inherit the caller's: nothing is started there.)
    std::promise<void> switched;
    std::thread other([&, ready = switched.get_future()]() mutable {
        ready.wait();
        int err = 0;
        EXPECT_TRUE(domain::create_core_file(dir_ + "/root/other", &err).ok());
    });
    {
        const ActAsCaller as(&nobody_);
        switched.set_value();
        other.join();
    }
    int err = 0;
    EXPECT_TRUE(domain::create_core_file(dir_ + "/root/after", &err).ok());
    EXPECT_EQ(static_cast<uid_t>(::setfsuid(static_cast<uid_t>(-1))), 0u);
}

TEST_F(CallerRights, a_fifo_at_the_core_path_is_refused_without_blocking) {
    const std::string fifo = dir_ + "/root/fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    int err = 0;
    EXPECT_FALSE(domain::create_core_file(fifo, &err).ok());
    EXPECT_EQ(err, EINVAL);
}

TEST(PeerCaller, reads_the_peers_credentials) {
    int sp[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    auto c = peer_caller(sp[0]);
    ASSERT_TRUE(c.ok()) << c.error().what;
    EXPECT_EQ(c->uid, ::geteuid());
    EXPECT_EQ(c->pid, ::getpid());
    ::close(sp[0]);
    ::close(sp[1]);
}

}  // namespace
}  // namespace xenolith::daemon
