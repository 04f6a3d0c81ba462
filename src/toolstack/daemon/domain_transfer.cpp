#include "toolstack/daemon/toolstack.hpp"

namespace xenolith::toolstack {

// Being written (issue 13): the daemon's save and restore.
Result<SaveReport> Toolstack::save(domid_t, int, const SaveOptions&) {
    return make_error("save: not supported by this xenolithd yet");
}

Result<std::shared_ptr<domain::Domain>> Toolstack::restore(GuestConfig, int, const RestoreOptions&) {
    return make_error("restore: not supported by this xenolithd yet");
}

Status Toolstack::resume_suspended(domid_t) {
    return make_error("resume: not supported by this xenolithd yet");
}

}  // namespace xenolith::toolstack
