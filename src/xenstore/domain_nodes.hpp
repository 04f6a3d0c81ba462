// The nodes a toolstack writes for a domain, as libxl does
// (libxl__domain_make, libxl__build_post, the primary console frontend) and
// as docs/misc/xenstore-paths.pandoc describes them, expressed as xenstore
// requests that xenolithd runs over its own privileged connection:
//
//   /local/domain/<id>          dom0-owned, the domain may read ("n0 r<id>")
//     vm name domid             -> /vm/<uuid>, name, id
//     memory/static-max target videoram, cpu/<n>/availability
//     store/port ring-ref, console/{port,ring-ref,limit,type,output,tty,...}
//     control/                  read-only; shutdown, feature-*, sysrq owned
//                               by the domain; platform-feature-* = 1
//     device/ (+ suspend/event-channel), data/ drivers/ feature/ attr/
//     error/                    owned by the domain ("n<id>")
//   /vm/<uuid>                  uuid, name, start_time ("n0 r<id>")
//   /libxl/<id>                 type, device/ (dom0 only)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "xenstore/types.hpp"
#include "xenstore/wire.hpp"

namespace xenolith::xenstore {

struct DomainRecord {
    domid_t domid = 0;
    std::string name;
    std::string uuid;  // "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
    std::string type;  // libxl's domain type: "pvh", "hvm" or "pv"
    std::uint64_t max_memkb = 0;
    std::uint64_t target_memkb = 0;
    unsigned vcpus = 1;
    unsigned max_vcpus = 1;
    std::uint64_t store_gfn = 0;
    std::uint32_t store_port = 0;
    std::uint64_t console_gfn = 0;
    std::uint32_t console_port = 0;
    std::string start_time;  // "<seconds>.<centiseconds>", as libxl
};

std::string domain_home(domid_t domid);

// A request for the privileged internal connection (tx_id 0).
Message make_request(std::uint32_t type, std::initializer_list<std::string_view> args);
// WRITE's payload is "path\0value" with no final NUL.
Message make_write(std::string_view path, std::string_view value);

// Everything to create for a new domain, in order (removals of leftovers
// first, then directories with their permissions, then values).
std::vector<Message> domain_setup_requests(const DomainRecord& d);

// What xen-init-dom0 writes for domain 0 (the host): its name and id.
std::vector<Message> dom0_setup_requests();

// Removals when a domain is destroyed (libxl's devices_destroy_cb):
// its home, its /vm/<uuid> (`vm_path`, read from <home>/vm; may be empty)
// and /libxl/<id>.
std::vector<Message> domain_teardown_requests(domid_t domid, const std::string& vm_path);

}  // namespace xenolith::xenstore
