#include <cstdint>
#include "domain/domain_table.hpp"

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>

#include <fmt/format.h>

#include "base/log.hpp"
#include "console/console_backend.hpp"
#include "domain/core_dump.hpp"

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

DomainTable::DomainTable() : reaper_([this] { reaper(); }) {
    if (const char* hold = std::getenv("XENOLITH_TEST_HOLD_BUILD_MS"))
        test_hold_build_ =
            std::chrono::milliseconds(std::min(std::strtoul(hold, nullptr, 10), 60000ul));
}

DomainTable::~DomainTable() {
    {
        std::lock_guard lock(reap_mu_);
        stopping_ = true;
    }
    reap_cv_.notify_all();
    reaper_.join();
    destroy_all();
}

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

Result<std::shared_ptr<Domain>> DomainTable::create(BuildRequest req) {
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
    auto dom = builder_ ? builder_(req) : build_domain(req, *services_);
    {
        std::lock_guard lock(mu_);
        reserved_.erase(req.identity.domid);
        if (!dom) return dom.error();
        domains_[req.identity.domid] = *dom;
        requests_[req.identity.domid] = req;
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

std::shared_ptr<Domain> DomainTable::resolve(const std::string& name_or_id) {
    std::lock_guard lock(mu_);
    for (const auto& [id, d] : domains_)
        if (d->name() == name_or_id) return d;
    if (!name_or_id.empty() && name_or_id.size() <= 5 &&
        name_or_id.find_first_not_of("0123456789") == std::string::npos) {
        auto it = domains_.find(static_cast<domid_t>(std::stoul(name_or_id)));
        if (it != domains_.end()) return it->second;
    }
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
        requests_.erase(domid);
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

void DomainTable::notify_shutdown(domid_t domid) {
    send_global_virq(VIRQ_DOM_EXC);  // __domain_finalise_shutdown
    {
        std::lock_guard lock(reap_mu_);
        reap_queue_.push_back(domid);
    }
    reap_cv_.notify_all();
}

void DomainTable::reaper() {
    std::unique_lock lock(reap_mu_);
    for (;;) {
        reap_cv_.wait(lock, [this] { return stopping_ || !reap_queue_.empty(); });
        if (stopping_) return;
        const domid_t domid = reap_queue_.front();
        reap_queue_.pop_front();
        lock.unlock();
        if (auto d = get(domid)) apply_action(d);
        lock.lock();
    }
}

void DomainTable::preserve_renamed(const std::shared_ptr<Domain>& d) {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char suffix[24];
    std::strftime(suffix, sizeof suffix, "-%Y%m%dT%H%MZ", &tm);
    const std::string old_name = d->name();
    std::string name = old_name + suffix;
    {
        std::lock_guard lock(mu_);
        for (int n = 1; std::any_of(domains_.begin(), domains_.end(), [&](const auto& e) {
                 return e.second && e.second != d && e.second->name() == name;
             });
             ++n)
            name = old_name + suffix + "-" + std::to_string(n);
        d->set_name(name);
        requests_.erase(d->domid());  // the preserved one is not restarted again
    }
    services_->hvlog.append_line(fmt::format("(XEN) Preserving domain {} {} as {}", d->domid(),
                                             old_name, name));
}

// libxl's soft reset: XEN_DOMCTL_soft_reset, then the toolstack's part of
// building the domain again without loading anything — new console and
// xenstore channels, the console back-end and xenstore rebound to them —
// and the domain resumes (a kexec'ing guest continues after its
// SCHEDOP_shutdown with the new kernel already in memory).
Status DomainTable::soft_reset(Domain& d) {
    if (long rc = d.soft_reset(); rc) return make_error(fmt::format("soft reset: error {}", rc));
    evtchn::Port console_port = 0, store_port = 0;
    if (d.events().alloc_unbound(0, &console_port) || d.events().alloc_unbound(0, &store_port))
        return make_error("cannot allocate console/xenstore event channels");
    d.set_param(HVM_PARAM_CONSOLE_EVTCHN, console_port);
    d.set_param(HVM_PARAM_STORE_EVTCHN, store_port);
    if (d.console()) {
        if (auto st = d.console()->reconnect(d.events(), console_port); !st) return st;
    }
    if (services_->on_soft_reset) services_->on_soft_reset(d);
    d.resume();
    return ok_status();
}

void DomainTable::apply_action(const std::shared_ptr<Domain>& d) {
    const LifecycleActions& a = d->identity().actions;
    Action action = Action::preserve;  // suspend: stay shut down for save
    switch (d->shutdown_reason()) {
        case SHUTDOWN_poweroff: action = a.on_poweroff; break;
        case SHUTDOWN_reboot: action = a.on_reboot; break;
        case SHUTDOWN_crash: action = a.on_crash; break;
        case SHUTDOWN_watchdog: action = a.on_watchdog; break;
        case SHUTDOWN_soft_reset: action = a.on_soft_reset; break;
        default: break;
    }
    std::optional<BuildRequest> again;
    {
        std::lock_guard lock(mu_);
        if (auto it = requests_.find(d->domid()); it != requests_.end()) again = it->second;
    }
    // coredump-*: the core first, then as destroy/restart (xl's handle_domain_death).
    if (action == Action::coredump_destroy || action == Action::coredump_restart)
        dump_core_for_action(*d);
    switch (action) {
        case Action::preserve:
            return;
        case Action::destroy:
        case Action::coredump_destroy:
            destroy(d->domid());
            return;
        case Action::soft_reset:
            if (auto st = soft_reset(*d); !st) {
                services_->hvlog.append_line(fmt::format(
                    "(XEN) soft reset of domain {} failed: {}; destroying it", d->domid(),
                    st.error().what));
                destroy(d->domid());
            }
            return;
        case Action::rename_restart:
            // xl keeps the dead domain under "<name>-<UTC time>" for
            // inspection and starts a fresh one under the name.
            preserve_renamed(d);
            break;
        case Action::restart:
        case Action::coredump_restart:
            destroy(d->domid());
            break;
    }
    // Both restart actions rebuild from the domain's original request.
    if (!again) return;
    again->paused = false;
    if (auto r = create(*again); !r)
        services_->hvlog.append_line(fmt::format("(XEN) restart of {} failed: {}",
                                                 again->identity.name, r.error().what));
}

Status DomainTable::rename(domid_t domid, const std::string& new_name) {
    std::lock_guard lock(mu_);
    auto it = domains_.find(domid);
    if (it == domains_.end()) return make_error("no such domain");
    if (auto st = valid_domain_name(new_name); !st) return st;
    if (name_taken_locked(new_name, domid))
        return make_error(fmt::format("Domain with name \"{}\" already exists.", new_name));
    it->second->set_name(new_name);
    // A restart keeps the new name, as libxl's retrieved configuration does.
    if (auto r = requests_.find(domid); r != requests_.end()) {
        r->second.identity.name = new_name;
        nlohmann::json& cfg = r->second.identity.config;
        if (cfg.is_object() && cfg.contains("c_info") && cfg["c_info"].is_object())
            cfg["c_info"]["name"] = new_name;
    }
    return ok_status();
}

bool DomainTable::set_restart_request(domid_t domid, BuildRequest req) {
    std::lock_guard lock(mu_);
    auto it = domains_.find(domid);
    if (it == domains_.end()) return false;
    requests_[domid] = std::move(req);
    return true;
}

// xl's handle_domain_death for coredump-*: the core goes to
// <dump dir>/<name>; a failure is logged and the action goes on.
void DomainTable::dump_core_for_action(Domain& d) {
    // The name is one path component: no directory escapes.
    std::string file = d.name();
    std::replace(file.begin(), file.end(), '/', '_');
    if (file == "." || file == "..") file = "domain-" + std::to_string(d.domid());
    const std::string path = dump_dir_ + "/" + file;
    std::error_code ec;
    std::filesystem::create_directories(dump_dir_, ec);
    auto& log = services_->hvlog;
    log.append_line(fmt::format("(XEN) Domain {} ({}): dumping core to {}", d.domid(), d.name(),
                                path));
    if (auto st = dump_domain_core(d, path); !st)
        log.append_line(fmt::format("(XEN) Domain {} ({}): core dump failed: {}", d.domid(),
                                    d.name(), st.error().what));
}

}  // namespace xenolith::domain
