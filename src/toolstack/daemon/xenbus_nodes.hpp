// What every xenbus device's xenstore nodes have in common, as libxl 4.17's
// libxl__device_add_async and libxl__device_generic_add write them and
// libxl__device_destroy removes them:
//
//   /libxl/<domid>/device/<kind>/<devid>          "n0"
//     frontend backend + a copy of every back-end key
//   <frontend home>/device/<kind>/<devid>         "n<domid> r<backend>"
//     backend backend-id state=1 + the kind's front-end keys
//     + read-only ones ("n<backend> r<domid>": the guest may not change them)
//   <backend home>/backend/<kind>/<domid>/<devid> "n<backend> r<domid>"
//     frontend frontend-id online=1 state=1 + the kind's back-end keys
//
// vbd_nodes.hpp and vif_nodes.hpp supply the kind's keys.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "xenstore/errors.hpp"
#include "xenstore/perms.hpp"

namespace xenolith::xenstore {
class Server;
struct Connection;
}  // namespace xenolith::xenstore

namespace xenolith::toolstack {

// One node to create, with the permissions it ends up with.
struct XenstoreWrite {
    std::string path;
    std::string value;
    xenstore::Perms perms;
};

using XenstoreKeys = std::vector<std::pair<std::string, std::string>>;

struct DeviceNodes {
    domid_t frontend_domid = 0;
    domid_t backend_domid = 0;
    std::uint32_t devid = 0;
    std::string frontend_path;  // /local/domain/<domid>/device/<kind>/<devid>
    std::string backend_path;   // /local/domain/<be>/backend/<kind>/<domid>/<devid>
    std::string libxl_path;     // /libxl/<domid>/device/<kind>/<devid>
    // In libxl's order: directories before their keys.
    std::vector<XenstoreWrite> writes;
};

// libxl's default script directory (libxl__xen_script_dir_path()).
inline constexpr const char* kXenScriptDir = "/etc/xen/scripts";

// libxl__abs_path against kXenScriptDir: a relative script name is looked up
// in Xen's script dir.
std::string xen_script_path(const std::string& script);

// "/local/domain/<domid>".
std::string domain_home(domid_t domid);

// Fills `n`'s paths (front-end kind `kind`, back-end kind `backend_kind`)
// and its writes from the kind's keys, with libxl__device_generic_add's
// three permission sets. `back` and `front` come without the generic keys
// (frontend/backend); the caller puts frontend-id, state etc. where libxl does.
void generic_device_nodes(DeviceNodes& n, const std::string& kind,
                          const std::string& backend_kind, const XenstoreKeys& back,
                          const XenstoreKeys& front, const XenstoreKeys& ro_front);

// Whether every write fits one XS_WRITE message ("path\0value").
bool writes_fit_xenstore(const DeviceNodes& n);

// Creates every node of `nodes` in one transaction over the privileged
// connection `conn` (replacing leftovers at the three paths, as libxl
// does), retrying when the commit races (EAGAIN). Nothing is left behind on
// failure.
xenstore::XsErr apply_device_nodes(xenstore::Server& server, xenstore::Connection& conn,
                                   const DeviceNodes& nodes);

// libxl__device_destroy: removes the three directories in one transaction,
// and each parent that is left empty (libxl__xs_path_cleanup), never a
// domain's home or /libxl/<domid> itself.
xenstore::XsErr remove_device_nodes(xenstore::Server& server, xenstore::Connection& conn,
                                    const DeviceNodes& nodes);

// libxl__device_nextid: the devid after the highest one under
// /libxl/<domid>/device/<kind> (0 when there is none). libxl takes the last
// directory entry; the highest is the same on a store that lists in order
// and still right on one that does not.
std::uint32_t next_device_id(xenstore::Server& server, xenstore::Connection& conn,
                             domid_t domid, const std::string& kind);

}  // namespace xenolith::toolstack
