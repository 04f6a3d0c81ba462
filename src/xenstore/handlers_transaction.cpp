// TRANSACTION_START and TRANSACTION_END.
#include <cstdint>
#include <memory>
#include <string>

#include "base/log.hpp"
#include "xenstore/args.hpp"
#include "xenstore/request.hpp"

namespace xenolith::xenstore {

XsErr do_transaction_start(Request& r) {
    if (r.tx) return XsErr::busy;  // no nesting
    Connection& c = r.conn;
    const auto& q = r.core.quotas;
    if (!c.privileged && exceeds(q.hard(Quota::transactions), c.transactions.size() + 1))
        return XsErr::nospc;
    if (c.transactions.size() >= UINT32_MAX - 1) return XsErr::nospc;

    std::uint32_t id = c.next_tx_id;
    while (id == 0 || c.transactions.count(id)) ++id;
    c.next_tx_id = id + 1;
    const std::uint32_t max_nodes = c.privileged ? 0 : q.hard(Quota::transaction_nodes);
    c.transactions.emplace(id, std::make_unique<Transaction>(id, r.core.store, max_nodes));
    r.reply = std::to_string(id);
    r.reply += '\0';
    if (r.core.tracing(2)) log::info("xenstore: conn {} starts transaction {}", c.id, id);
    return XsErr::ok;
}

XsErr do_transaction_end(Request& r) {
    auto arg = one_arg(r.payload());
    if (!arg || (*arg != "T" && *arg != "F")) return XsErr::inval;
    if (!r.tx) return XsErr::noent;
    auto owned = r.conn.transactions.extract(r.tx->id());
    r.tx = nullptr;
    Transaction& tx = *owned.mapped();
    if (*arg == "T") {
        Core& core = r.core;
        // As C xenstored: only an unprivileged connection's commit is
        // checked against the "nodes" quota of the domains it touched.
        const bool limited = !r.conn.privileged;
        auto changes = tx.commit([&](domid_t d) { return limited ? core.node_limit(d) : 0; });
        if (core.tracing(2))
            log::info("xenstore: conn {} commits transaction {}: {}", r.conn.id, tx.id(),
                      changes ? std::string_view("ok") : error_name(changes.error()));
        if (!changes) return changes.error();
        r.changes = std::move(changes.value());
    }
    r.ack();
    return XsErr::ok;
}

}  // namespace xenolith::xenstore
