#include "xenstore/core.hpp"

#include "base/log.hpp"

namespace xenolith::xenstore {

Core::Core(const ServerConfig& cfg, DomainHooks* h)
    : config(cfg),
      hooks(h),
      store(cfg.priv_domid),
      outbox(OutboxLimits{cfg.max_pending_events, cfg.max_pending_events_privileged,
                          cfg.max_pending_event_bytes, cfg.max_pending_event_bytes_privileged}) {}

Connection& Core::add_connection(ConnKind kind, domid_t domid) {
    auto c = std::make_unique<Connection>();
    c->id = next_id_++;
    c->kind = kind;
    c->domid = domid;
    c->privileged = kind == ConnKind::socket || privileged_domid(domid);
    Connection& ref = *c;
    conns.emplace(ref.id, std::move(c));
    return ref;
}

Connection* Core::find(ConnId id) {
    auto it = conns.find(id);
    return it == conns.end() ? nullptr : it->second.get();
}

Connection* Core::domain_connection(domid_t domid) {
    auto it = domains.find(domid);
    if (it == domains.end() || !it->second.introduced) return nullptr;
    return find(it->second.conn);
}

void Core::reset_connection(Connection& c) {
    watches.remove_all(c);
    c.transactions.clear();
    Outbox::clear(c);
    c.outstanding = 0;
}

void Core::remove_connection(ConnId id) {
    Connection* c = find(id);
    if (!c) return;
    reset_connection(*c);
    conns.erase(id);
}

std::uint64_t Core::memory_used(const Connection& c) const {
    std::uint64_t used = store.usage(c.domid).bytes + c.watch_bytes;
    for (const auto& [id, tx] : c.transactions) used += tx->bytes();
    return used;
}

Caller Core::caller(const Connection& c) const {
    Caller k;
    k.who = c.identity();
    // The control domain's own accounts are unlimited (node_limit), also
    // for its confined back-end connections, which are not privileged.
    if (c.privileged || privileged_domid(c.domid)) return k;
    k.max_nodes = quotas.hard(Quota::nodes);
    k.max_node_size = quotas.hard(Quota::node_size);
    if (std::uint32_t mem = quotas.hard(Quota::memory); mem != 0) {
        std::uint64_t used = memory_used(c);
        k.memory_budget = used >= mem ? 0 : mem - used;
    }
    return k;
}

std::uint32_t Core::node_limit(domid_t domid) const {
    return privileged_domid(domid) ? 0 : quotas.hard(Quota::nodes);
}

void Core::note_usage(Connection& c, const Caller& k, const Transaction* tx) {
    auto note = [&](Quota q, std::uint64_t v) { maxima.note(c.domid, c.privileged, q, v); };
    note(Quota::nodes, store.usage(c.domid).nodes);
    note(Quota::watches, c.watches.size());
    note(Quota::transactions, c.transactions.size());
    note(Quota::outstanding, c.outstanding);
    const std::uint64_t mem = memory_used(c);
    note(Quota::memory, mem);
    if (k.largest_node) note(Quota::node_size, k.largest_node);
    if (tx) note(Quota::transaction_nodes, tx->accessed());
    if (c.privileged) return;
    auto soft = quotas.soft(Quota::memory);
    const bool over = soft && *soft && mem > *soft;
    if (over && !c.over_soft_memory)
        log::warn("xenstore: dom{} uses {} bytes, above the soft memory quota {}", c.domid, mem,
                  *soft);
    c.over_soft_memory = over;
}

void Core::fire(const std::vector<Change>& changes) {
    for (const Change& ch : changes) {
        if (tracing(1)) log::info("xenstore: change {}", ch.path);
        watches.fire(ch, store, outbox);
    }
}

}  // namespace xenolith::xenstore
