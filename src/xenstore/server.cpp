#include "xenstore/server.hpp"

#include "xenstore/dispatch.hpp"

namespace xenolith::xenstore {

Server::Server(const ServerConfig& cfg, DomainHooks* hooks)
    : core_(std::make_unique<Core>(cfg, hooks)) {}

Server::~Server() = default;

Connection& Server::connect_socket() { return core_->add_connection(ConnKind::socket, 0); }

XsResult<ConnId> Server::connect_scoped(const Scope& scope) {
    if (XsErr e = validate_scope(scope); e != XsErr::ok) return e;
    Connection& c = core_->add_connection(ConnKind::socket, scope.domid);
    c.privileged = false;
    c.scope = std::make_shared<const Scope>(scope);
    return c.id;
}

Connection* Server::connection(ConnId id) { return core_->find(id); }

Connection* Server::domain_connection(domid_t domid) { return core_->domain_connection(domid); }

void Server::disconnect(ConnId id) {
    Connection* c = core_->find(id);
    if (!c) return;
    if (c->kind == ConnKind::socket) {
        core_->remove_connection(id);
        return;
    }
    core_->reset_connection(*c);
    c->ignored = true;
}

void Server::reset_connection(ConnId id) {
    Connection* c = core_->find(id);
    if (!c) return;
    core_->reset_connection(*c);
    c->ignored = false;
}

Reply Server::handle(Connection& conn, const Message& request) {
    return dispatch(*core_, conn, request);
}

std::vector<ConnId> Server::take_woken() {
    std::vector<ConnId> out;
    for (ConnId id : core_->outbox.take_woken()) {
        if (Connection* c = core_->find(id)) {
            c->woken = false;
            out.push_back(id);
        }
    }
    return out;
}

std::optional<WatchEvent> Server::next_event(Connection& conn) { return Outbox::pop(conn); }

void Server::reply_sent(Connection& conn) {
    if (conn.outstanding > 0) --conn.outstanding;
}

bool Server::may_read(const Connection& conn) const {
    if (conn.ignored) return false;
    if (conn.privileged) return true;
    return !exceeds(core_->quotas.hard(Quota::outstanding), conn.outstanding + std::uint64_t{1});
}

XsErr Server::introduce_domain(domid_t domid, std::int64_t gfn, evtchn_port_t port) {
    return core_->introduce(domid, gfn, port);
}

void Server::domain_shutdown(domid_t domid) { core_->shutdown(domid); }

void Server::domain_destroyed(domid_t domid) { core_->destroy(domid); }

}  // namespace xenolith::xenstore
