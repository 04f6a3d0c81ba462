// Every domain xenolithd runs, by domid: allocation, lookup by id or name,
// destruction and the global VIRQ handlers. What happens after a guest shuts
// down (xl's on_* actions) is toolstack policy: src/toolstack/daemon.
#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "domain/domain.hpp"
#include "domain/domain_builder.hpp"

namespace xenolith::domain {

// The daemon's own check of a domain name (clients are untrusted): 1 to
// kMaxDomainNameLength bytes, no control characters (they would reach
// logs and terminals) and no '/' (the name is a path component of the
// console log and the core dump). Returns xl-style error text.
inline constexpr std::size_t kMaxDomainNameLength = 64;
Status valid_domain_name(std::string_view name);

class DomainTable final : public evtchn::Registry {
public:
    DomainTable();
    ~DomainTable() override;

    // Must be called once, before create(); `services` outlives the table.
    void set_services(Services* services) { services_ = services; }
    // What create() builds with: build_domain with the table's services,
    // unless replaced (unit tests drive the reservation rules without KVM).
    using Builder = std::function<Result<std::shared_ptr<Domain>>(const BuildRequest&)>;
    void set_builder(Builder builder) { builder_ = std::move(builder); }

    // evtchn::Registry
    std::shared_ptr<evtchn::EventChannels> find(domid_t domid) override;

    // Builds and starts a domain. The domid is chosen here; the name must
    // be valid (valid_domain_name) and unique among built domains and those
    // being built. On failure nothing remains. `build`, when given, builds
    // instead of the table's builder (a restore: an empty domain filled
    // from a stream before anyone can see it).
    Result<std::shared_ptr<Domain>> create(BuildRequest req, const Builder& build = {});
    // Lookups (find, get, find_by_name, all) see only built domains: a domid
    // reserved by a create in progress and one already destroyed are
    // equally "no such domain" (-ESRCH to a guest).
    std::shared_ptr<Domain> get(domid_t domid);
    // By name only: a string of digits is a domid, which callers parse
    // (control::qualifier_domid) and look up with get().
    std::shared_ptr<Domain> find_by_name(const std::string& name);
    std::vector<std::shared_ptr<Domain>> all();
    // Destroys and forgets a domain. True only for the one caller that
    // removed it: false when it was not there or another destroy came first
    // (the toolstack restarts a domain only after its own destroy).
    bool destroy(domid_t domid);
    // Destroys every domain (daemon shutdown).
    void destroy_all();

    // Called from a vCPU thread when a domain has shut down: tells the
    // VIRQ_DOM_EXC handler (__domain_finalise_shutdown).
    void notify_shutdown(domid_t domid);

    // send_global_virq: raises `virq` in the domain designated for it
    // (DomainIdentity::global_virqs), or nowhere when that is domain 0 —
    // the host, whose consumers (xenstore) are told directly.
    void send_global_virq(unsigned virq);
    // The domain receiving `virq`; 0 for the host.
    domid_t global_virq_handler(unsigned virq);
    // Renames a domain. Fails when another domain has the name or the
    // domain is unknown.
    Status rename(domid_t domid, const std::string& new_name);

private:
    domid_t allocate_domid_locked();
    // Whether `name` belongs to a built domain other than `except`, to a
    // create in progress, or to Domain-0.
    bool name_taken_locked(const std::string& name, domid_t except) const;

    Services* services_ = nullptr;
    Builder builder_;
    std::mutex mu_;
    std::map<domid_t, std::shared_ptr<Domain>> domains_;  // built: never null
    // Creates in progress: the domid and name they hold until the domain is
    // built. Kept apart from domains_ so no lookup can reach a domain that
    // does not exist yet.
    std::map<domid_t, std::string> reserved_;
    // XENOLITH_TEST_HOLD_BUILD_MS: a test-only pause between reserving and
    // building, so a suite can race guests and clients against a create.
    std::chrono::milliseconds test_hold_build_{0};
    std::array<domid_t, NR_VIRQS> global_virq_handlers_{};  // 0: the host
    domid_t next_domid_ = 1;
};

}  // namespace xenolith::domain
