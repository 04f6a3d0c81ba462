// Domains coming and going: INTRODUCE, RELEASE, RESUME, and the
// hypervisor's shutdown and destruction notices, with the special watches
// @introduceDomain and @releaseDomain.
#include <algorithm>
#include <string>
#include <vector>

#include "base/log.hpp"
#include "xenstore/core.hpp"
#include "xenstore/path.hpp"

namespace xenolith::xenstore {

namespace {

constexpr std::string_view kIntroduce = "@introduceDomain";
constexpr std::string_view kRelease = "@releaseDomain";

}  // namespace

XsErr Core::introduce(domid_t domid, std::int64_t gfn, evtchn_port_t port) {
    if (domid == 0 || domid >= DOMID_FIRST_RESERVED || port == 0)
        return XsErr::inval;
    if (hooks) {
        if (XsErr e = hooks->introduce(domid, gfn, port); e != XsErr::ok) return e;
    }
    DomainState& d = domains[domid];
    d.gfn = gfn;
    d.port = port;
    if (d.introduced) {
        // Re-introduction (resume, soft reset, xenbus reconnect): start the
        // ring afresh; the domain runs again.
        d.shutdown = false;
        if (Connection* c = find(d.conn)) {
            reset_connection(*c);
            c->ignored = false;
        }
        return XsErr::ok;
    }
    d.introduced = true;
    d.shutdown = false;
    d.conn = add_connection(ConnKind::domain, domid).id;
    watches.fire_special(kIntroduce, domid, true, true, store, outbox);
    return XsErr::ok;
}

XsErr Core::release(domid_t domid) {
    if (domid == 0 || privileged_domid(domid)) return XsErr::inval;
    auto it = domains.find(domid);
    if (it == domains.end() || !it->second.introduced) return XsErr::noent;
    destroy(domid);
    return XsErr::ok;
}

XsErr Core::resume(domid_t domid) {
    if (domid == 0 || privileged_domid(domid)) return XsErr::inval;
    auto it = domains.find(domid);
    if (it == domains.end() || !it->second.introduced) return XsErr::noent;
    it->second.shutdown = false;
    return XsErr::ok;
}

void Core::shutdown(domid_t domid) {
    auto it = domains.find(domid);
    if (it == domains.end() || !it->second.introduced || it->second.shutdown) return;
    it->second.shutdown = true;
    watches.fire_special(kRelease, domid, true, true, store, outbox);
}

void Core::destroy(domid_t domid) {
    bool was_introduced = false;
    if (auto it = domains.find(domid); it != domains.end()) {
        was_introduced = it->second.introduced;
        // Its own watches go first: it must not hear about its own removal.
        remove_connection(it->second.conn);
        domains.erase(it);
        if (was_introduced && hooks) hooks->release(domid);
    }
    for (auto& [id, c] : conns) {
        if (c->target == domid) c->target.reset();
    }
    remove_orphans(domid);
    maxima.forget(domid);
    if (was_introduced) watches.fire_special(kRelease, domid, true, true, store, outbox);
}

// As C xenstored: nodes owned by a dead domain go, with their subtrees, and
// permission entries naming it are dropped, so that a new domain reusing the
// id inherits nothing. The root and special nodes are handed to the control
// domain instead. Only the nodes whose permissions name the domain are
// looked at (the store's index), so a destruction costs what the domain
// has, not what the whole store holds.
void Core::remove_orphans(domid_t domid) {
    std::vector<std::string> owned;
    std::vector<std::string> reowned;  // "/" and special nodes cannot go
    std::vector<std::string> mentioned;
    for (std::string& path : store.paths_naming(domid)) {
        const Perms& p = store.get(path)->perms;
        if (p[0].domid == domid) {
            (path == "/" || is_special(path) ? reowned : owned).push_back(std::move(path));
        } else if (std::any_of(p.begin() + 1, p.end(),
                               [&](const Perm& e) { return e.domid == domid; })) {
            mentioned.push_back(std::move(path));
        }
    }
    for (const std::string& path : reowned) {
        auto copy = std::make_shared<Node>(*store.get(path));
        copy->perms[0].domid = config.priv_domid;
        store.put(path, std::move(copy));
        mentioned.push_back(path);
    }

    // Shortest first: an owned subtree root removes its owned descendants.
    // (Then by name: the order of the watch events does not depend on the
    // index's.)
    std::sort(owned.begin(), owned.end(), [](const std::string& a, const std::string& b) {
        return a.size() != b.size() ? a.size() < b.size() : a < b;
    });
    Caller root;
    root.who = Identity{config.priv_domid, true, {}};
    DirectView view(store);
    for (const std::string& path : owned) {
        NodeRef n = store.get(path);
        if (!n) continue;
        if (remove_tree(view, root, path) != XsErr::ok)
            log::error("xenstore: cannot remove orphaned node {}", path);
    }
    fire(view.changes());

    for (const std::string& path : mentioned) {
        NodeRef n = store.get(path);
        if (!n) continue;
        auto copy = std::make_shared<Node>(*n);
        auto& p = copy->perms;
        auto names_it = [&](const Perm& e) { return e.domid == domid; };
        p.erase(std::remove_if(p.begin() + 1, p.end(), names_it), p.end());
        store.put(path, std::move(copy));
    }
}

}  // namespace xenolith::xenstore
