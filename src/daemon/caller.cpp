#include "daemon/caller.hpp"

#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "base/log.hpp"

namespace xenolith::daemon {

namespace {

thread_local const Caller* t_caller = nullptr;

// glibc's setgroups() changes every thread (its setxid broadcast); the
// system call itself changes only this one, which is what is wanted here.
int set_thread_groups(const std::vector<gid_t>& groups) {
    return static_cast<int>(::syscall(SYS_setgroups, groups.size(), groups.data()));
}

}  // namespace

Result<Caller> peer_caller(int fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return make_error(fmt::format("SO_PEERCRED: {}", std::strerror(errno)));
    Caller c{cred.pid, cred.uid, cred.gid, {}};
    c.groups.resize(64);
    for (;;) {
        socklen_t glen = static_cast<socklen_t>(c.groups.size() * sizeof(gid_t));
        if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, c.groups.data(), &glen) == 0) {
            c.groups.resize(glen / sizeof(gid_t));
            break;
        }
        if (errno != ERANGE || c.groups.size() >= 65536)
            return make_error(fmt::format("SO_PEERGROUPS: {}", std::strerror(errno)));
        c.groups.resize(glen / sizeof(gid_t) + 1);
    }
    return c;
}

const Caller* current_caller() { return t_caller; }

CallerScope::CallerScope(const Caller* caller) : previous_(t_caller) { t_caller = caller; }

CallerScope::~CallerScope() { t_caller = previous_; }

ActAsCaller::ActAsCaller(const Caller* caller) {
    if (!caller || caller->uid == 0) return;
    const int n = ::getgroups(0, nullptr);
    saved_groups_.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    if (n > 0 && ::getgroups(n, saved_groups_.data()) < 0) saved_groups_.clear();
    switched_ = true;
    if (set_thread_groups(caller->groups) < 0) ok_ = false;
    ::setfsgid(caller->gid);
    ::setfsuid(caller->uid);
    // setfsuid reports the previous id, never an error: read it back.
    if (static_cast<uid_t>(::setfsuid(static_cast<uid_t>(-1))) != caller->uid ||
        static_cast<gid_t>(::setfsgid(static_cast<gid_t>(-1))) != caller->gid)
        ok_ = false;
}

ActAsCaller::~ActAsCaller() {
    if (!switched_) return;
    ::setfsuid(::geteuid());
    ::setfsgid(::getegid());
    if (set_thread_groups(saved_groups_) < 0)
        log::error("xenolithd: cannot restore this thread's groups: {}", std::strerror(errno));
}

}  // namespace xenolith::daemon
