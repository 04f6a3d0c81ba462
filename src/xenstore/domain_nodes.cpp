#include "xenstore/domain_nodes.hpp"

#include <fmt/format.h>

namespace xenolith::xenstore {

namespace {

// libxl's LIBXL_XENCONSOLE_LIMIT.
constexpr std::string_view kConsoleLimit = "1048576";

class Builder {
public:
    explicit Builder(domid_t domid)
        : home_(domain_home(domid)),
          ro_(fmt::format("r{}", domid)),
          owner_(fmt::format("n{}", domid)) {}

    void rm(const std::string& path) { out_.push_back(make_request(XS_RM, {path})); }
    void write(const std::string& path, std::string_view value) {
        out_.push_back(make_write(path, value));
    }
    // libxl__xs_mknod: an empty node with exactly these permissions.
    void mknod_ro(const std::string& path) {  // dom0's, the domain may read
        mkdir(path);
        out_.push_back(make_request(XS_SET_PERMS, {path, "n0", ro_}));
    }
    void mknod_rw(const std::string& path) {  // the domain's own
        mkdir(path);
        out_.push_back(make_request(XS_SET_PERMS, {path, owner_}));
    }
    void mknod_none(const std::string& path) {  // dom0 only
        mkdir(path);
        out_.push_back(make_request(XS_SET_PERMS, {path, "n0"}));
    }
    void write_ro(const std::string& path, std::string_view value) {
        write(path, value);
        out_.push_back(make_request(XS_SET_PERMS, {path, "n0", ro_}));
    }
    void write_rw_backend_read(const std::string& path, std::string_view value) {
        write(path, value);
        out_.push_back(make_request(XS_SET_PERMS, {path, owner_, "r0"}));
    }

    const std::string& home() const { return home_; }
    std::string at(std::string_view rel) const { return fmt::format("{}/{}", home_, rel); }
    std::vector<Message> take() { return std::move(out_); }

private:
    void mkdir(const std::string& path) { out_.push_back(make_request(XS_MKDIR, {path})); }

    std::string home_;
    std::string ro_;
    std::string owner_;
    std::vector<Message> out_;
};

}  // namespace

std::string domain_home(domid_t domid) { return fmt::format("/local/domain/{}", domid); }

Message make_request(std::uint32_t type, std::initializer_list<std::string_view> args) {
    Message m;
    m.type = type;
    for (std::string_view a : args) {
        m.payload += a;
        m.payload += '\0';
    }
    return m;
}

Message make_write(std::string_view path, std::string_view value) {
    Message m;
    m.type = XS_WRITE;
    m.payload.reserve(path.size() + 1 + value.size());
    m.payload += path;
    m.payload += '\0';
    m.payload += value;
    return m;
}

std::vector<Message> domain_setup_requests(const DomainRecord& d) {
    Builder b(d.domid);
    const std::string vm = "/vm/" + d.uuid;
    const std::string libxl = fmt::format("/libxl/{}", d.domid);

    // libxl__domain_make
    b.rm(b.home());
    b.mknod_ro(b.home());
    b.rm(vm);
    b.mknod_ro(vm);
    b.rm(libxl);
    b.mknod_none(libxl);
    b.mknod_none(libxl + "/device");
    b.write(b.at("vm"), vm);
    b.write(b.at("name"), d.name);
    b.mknod_ro(b.at("cpu"));
    b.mknod_ro(b.at("memory"));
    b.mknod_ro(b.at("device"));
    b.mknod_rw(b.at("device/suspend/event-channel"));
    b.mknod_ro(b.at("control"));
    for (const char* n : {"control/shutdown", "control/feature-poweroff", "control/feature-reboot",
                          "control/feature-suspend"})
        b.mknod_rw(b.at(n));
    if (d.type == "hvm") {
        b.mknod_ro(b.at("hvmloader"));
        b.mknod_rw(b.at("control/feature-s3"));
        b.mknod_rw(b.at("control/feature-s4"));
    }
    b.mknod_rw(b.at("control/sysrq"));
    for (const char* n : {"data", "drivers", "feature", "attr", "error"}) b.mknod_rw(b.at(n));
    b.write(vm + "/uuid", d.uuid);
    b.write(vm + "/name", d.name);
    b.write(b.at("control/platform-feature-multiprocessor-suspend"), "1");
    b.write(b.at("control/platform-feature-xs_reset_watches"), "1");
    b.write(libxl + "/type", d.type);

    // The primary console's frontend (libxl__device_console_add with build
    // state); its back-end lives in xenolithd, not under a backend path.
    b.mknod_ro(b.at("console"));
    b.write_rw_backend_read(b.at("console/backend-id"), "0");
    b.write_ro(b.at("console/limit"), kConsoleLimit);
    b.write_ro(b.at("console/type"), "xenconsoled");
    b.write_ro(b.at("console/output"), "pty");
    b.write_ro(b.at("console/tty"), "");
    b.write_ro(b.at("console/port"), fmt::format("{}", d.console_port));
    b.write_ro(b.at("console/ring-ref"), fmt::format("{}", d.console_gfn));

    // libxl__build_post (video memory is 0 for PVH, so no target fudge).
    b.write(b.at("memory/static-max"), fmt::format("{}", d.max_memkb));
    b.write(b.at("memory/target"), fmt::format("{}", d.target_memkb));
    b.write(b.at("memory/videoram"), "0");
    b.write(b.at("domid"), fmt::format("{}", d.domid));
    b.write(b.at("store/port"), fmt::format("{}", d.store_port));
    b.write(b.at("store/ring-ref"), fmt::format("{}", d.store_gfn));
    for (unsigned i = 0; i < d.max_vcpus; ++i)
        b.write(b.at(fmt::format("cpu/{}/availability", i)), i < d.vcpus ? "online" : "offline");
    if (!d.start_time.empty()) b.write(vm + "/start_time", d.start_time);
    return b.take();
}

std::vector<Message> dom0_setup_requests() {
    return {make_write("/local/domain/0/domid", "0"),
            make_write("/local/domain/0/name", "Domain-0")};
}

std::vector<Message> domain_teardown_requests(domid_t domid, const std::string& vm_path) {
    std::vector<Message> out{make_request(XS_RM, {domain_home(domid)})};
    // Only a /vm/<uuid> path: the value came from a node the domain could
    // not write, but check anyway.
    if (vm_path.starts_with("/vm/") && vm_path.size() > 4 &&
        vm_path.find('/', 4) == std::string::npos)
        out.push_back(make_request(XS_RM, {vm_path}));
    out.push_back(make_request(XS_RM, {fmt::format("/libxl/{}", domid)}));
    return out;
}

}  // namespace xenolith::xenstore
