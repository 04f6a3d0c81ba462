#include <cstdint>
#include "domain/domain_table.hpp"

#include <algorithm>
#include <cstdlib>
#include <thread>

#include <fmt/format.h>

namespace xenolith::domain {

Status valid_domain_name(std::string_view name) {
    if (name.empty() || name.size() > kMaxDomainNameLength)
        return make_error(fmt::format("Invalid domain name: it must be 1 to {} bytes long",
                                      kMaxDomainNameLength));
    for (const char c : name) {
        const auto b = static_cast<unsigned char>(c);
        if (b < 0x20 || b == 0x7f)
            return make_error("Invalid domain name: it must not contain control characters");
        if (c == '/') return make_error("Invalid domain name: it must not contain '/'");
    }
    return ok_status();
}

DomainTable::DomainTable() {
    if (const char* hold = std::getenv("XENOLITH_TEST_HOLD_BUILD_MS"))
        test_hold_build_ =
            std::chrono::milliseconds(std::min(std::strtoul(hold, nullptr, 10), 60000ul));
}

DomainTable::~DomainTable() { destroy_all(); }

std::shared_ptr<evtchn::EventChannels> DomainTable::find(domid_t domid) {
    if (domid == 0) return services_ ? services_->host_events : nullptr;
    std::lock_guard lock(mu_);
    auto it = domains_.find(domid);  // reservations are not in domains_
    return it == domains_.end() ? nullptr : it->second->events_ptr();
}

domid_t DomainTable::allocate_domid_locked() {
    for (unsigned tries = 0; tries < unsigned{DOMID_FIRST_RESERVED}; ++tries) {
        const domid_t d = next_domid_;
        next_domid_ = static_cast<domid_t>(d + 1u >= DOMID_FIRST_RESERVED ? 1u : d + 1u);
        if (!domains_.count(d) && !reserved_.count(d)) return d;
    }
    return 0;
}

bool DomainTable::name_taken_locked(const std::string& name, domid_t except) const {
    if (name == "Domain-0") return true;
    for (const auto& [id, d] : domains_)
        if (id != except && d->name() == name) return true;
    for (const auto& [id, reserved_name] : reserved_)
        if (id != except && reserved_name == name) return true;
    return false;
}

Result<std::shared_ptr<Domain>> DomainTable::create(BuildRequest req, const Builder& build) {
    if (auto st = valid_domain_name(req.identity.name); !st) return st.error();
    {
        std::lock_guard lock(mu_);
        // The name is claimed with the domid, under the same lock: of two
        // creates racing with one name, exactly one gets it.
        if (name_taken_locked(req.identity.name, DOMID_INVALID))
            return make_error(fmt::format("Domain with name \"{}\" already exists.",
                                          req.identity.name));
        // set_global_virq_handler: a VIRQ handled by a live domain is not
        // taken over (Xen refuses while the handler has it bound; a
        // xenolith handler is always one the configuration named).
        for (unsigned virq : req.identity.global_virqs) {
            if (virq >= NR_VIRQS || !evtchn::virq_is_global(virq))
                return make_error(fmt::format("VIRQ {} is not a global VIRQ", virq));
            if (const domid_t h = global_virq_handlers_[virq]; h && domains_.count(h))
                return make_error(fmt::format("VIRQ {} is already handled by domain {}", virq, h));
        }
        const domid_t domid = allocate_domid_locked();
        if (domid == 0) return make_error("no free domain id");
        req.identity.domid = domid;
        reserved_.emplace(domid, req.identity.name);
    }
    if (test_hold_build_.count()) std::this_thread::sleep_for(test_hold_build_);
    auto dom = build ? build(req) : builder_ ? builder_(req) : build_domain(req, *services_);
    {
        std::lock_guard lock(mu_);
        reserved_.erase(req.identity.domid);
        if (!dom) return dom.error();
        domains_[req.identity.domid] = *dom;
        for (unsigned virq : req.identity.global_virqs)
            global_virq_handlers_[virq] = req.identity.domid;
    }
    // Outside the table lock: hooks look domains up.
    if (services_->on_created) services_->on_created(**dom);
    (*dom)->start(req.paused);
    return dom;
}

std::shared_ptr<Domain> DomainTable::get(domid_t domid) {
    std::lock_guard lock(mu_);
    auto it = domains_.find(domid);
    return it == domains_.end() ? nullptr : it->second;
}

std::shared_ptr<Domain> DomainTable::find_by_name(const std::string& name) {
    std::lock_guard lock(mu_);
    for (const auto& [id, d] : domains_)
        if (d->name() == name) return d;
    return nullptr;
}

std::vector<std::shared_ptr<Domain>> DomainTable::all() {
    std::lock_guard lock(mu_);
    std::vector<std::shared_ptr<Domain>> out;
    for (const auto& [id, d] : domains_) out.push_back(d);
    return out;
}

bool DomainTable::destroy(domid_t domid) {
    std::shared_ptr<Domain> d;
    {
        std::lock_guard lock(mu_);
        auto it = domains_.find(domid);
        if (it == domains_.end()) return false;
        d = it->second;
        domains_.erase(it);
        for (domid_t& h : global_virq_handlers_)  // clear_global_virq_handlers
            if (h == domid) h = 0;
    }
    d->destroy();
    if (services_->on_destroyed) services_->on_destroyed(domid);
    services_->hvlog.append_line(fmt::format("(XEN) Domain {} ({}) destroyed", domid, d->name()));
    send_global_virq(VIRQ_DOM_EXC);  // complete_domain_destroy
    return true;
}

domid_t DomainTable::global_virq_handler(unsigned virq) {
    std::lock_guard lock(mu_);
    return virq < NR_VIRQS ? global_virq_handlers_[virq] : 0;
}

void DomainTable::send_global_virq(unsigned virq) {
    std::shared_ptr<Domain> handler;
    {
        std::lock_guard lock(mu_);
        if (virq >= NR_VIRQS || !global_virq_handlers_[virq]) return;
        auto it = domains_.find(global_virq_handlers_[virq]);
        if (it == domains_.end()) return;
        handler = it->second;
    }
    handler->events().raise_virq(0, virq);
}

void DomainTable::destroy_all() {
    for (const auto& d : all()) destroy(d->domid());
}

void DomainTable::notify_shutdown(domid_t) {
    send_global_virq(VIRQ_DOM_EXC);  // __domain_finalise_shutdown
}

Status DomainTable::rename(domid_t domid, const std::string& new_name) {
    std::lock_guard lock(mu_);
    auto it = domains_.find(domid);
    if (it == domains_.end()) return make_error("no such domain");
    if (auto st = valid_domain_name(new_name); !st) return st;
    if (name_taken_locked(new_name, domid))
        return make_error(fmt::format("Domain with name \"{}\" already exists.", new_name));
    it->second->set_name(new_name);
    return ok_status();
}

}  // namespace xenolith::domain
