// Who is on the other end of a control connection, and acting with their
// rights on the files they name.
//
// The control socket is root's (0600), but an administrator may open it to
// a group, and a root client may itself run with restricted rights. Where
// xenolithd writes a file at a path the client chose (dump-core), it opens
// the path as the client would: with the client's fsuid, fsgid and groups
// (SO_PEERCRED, SO_PEERGROUPS), so the daemon never creates or truncates a
// file the client could not. setfsuid/setfsgid and the raw setgroups system
// call change only the calling thread's credentials, and each connection is
// served on its own thread, so other requests and vCPU threads keep root's.
// (The alternative, xl opening the file and passing the fd with
// SCM_RIGHTS, needs a protocol change in every client; this needs none.)
#pragma once

#include <sys/types.h>

#include <optional>
#include <vector>

#include "base/result.hpp"
#include "toolstack/daemon/device_backends.hpp"

namespace xenolith::daemon {

// pid, uid, gid and supplementary groups: the toolstack keeps the same
// record to open a guest's disks with its owner's rights.
using Caller = toolstack::Credentials;

// The credentials of the peer of a connected unix socket.
Result<Caller> peer_caller(int fd);

// The caller of the request this thread is serving (nullptr outside one,
// e.g. on the reaper thread, where the daemon acts for itself).
const Caller* current_caller();

// Makes `caller` this thread's current caller for the scope's lifetime.
class CallerScope {
public:
    explicit CallerScope(const Caller* caller);
    ~CallerScope();
    CallerScope(const CallerScope&) = delete;
    CallerScope& operator=(const CallerScope&) = delete;

private:
    const Caller* previous_;
};

// For its lifetime, this thread's file-system identity is `caller`'s (no
// change for nullptr or a root caller). Check ok() before opening anything.
// Keep the scope to the open: a thread started inside it would inherit the
// caller's identity.
class ActAsCaller {
public:
    explicit ActAsCaller(const Caller* caller);
    ~ActAsCaller();
    ActAsCaller(const ActAsCaller&) = delete;
    ActAsCaller& operator=(const ActAsCaller&) = delete;
    bool ok() const { return ok_; }

private:
    bool switched_ = false;
    bool ok_ = true;
    std::vector<gid_t> saved_groups_;
};

}  // namespace xenolith::daemon
