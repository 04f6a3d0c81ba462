// One request on its way through a handler, and the handler declarations.
// Internal to src/xenstore (dispatch.cpp owns the table).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "xenstore/core.hpp"
#include "xenstore/wire.hpp"

namespace xenolith::xenstore {

struct Request {
    Core& core;
    Connection& conn;
    Transaction* tx;  // named by the header's tx_id; null outside transactions
    const Message& msg;
    Caller caller;
    std::string reply;            // success payload
    std::vector<Change> changes;  // fired once the handler succeeded

    std::string_view payload() const { return msg.payload; }
    void ack() { reply.assign("OK", 3); }  // "OK\0"

    // Canonical form of a path argument, with this connection's home and
    // path-max quota.
    XsResult<std::string> path(std::string_view raw, bool allow_special);

    // Runs `op(view)` on the transaction or on the committed store.
    template <class F>
    XsErr in_view(F&& op) {
        if (tx) return op(static_cast<TreeView&>(*tx));
        DirectView view(core.store);
        XsErr e = op(static_cast<TreeView&>(view));
        if (e == XsErr::ok) {
            for (auto& c : view.changes()) changes.push_back(std::move(c));
        }
        return e;
    }
};

using Handler = XsErr (*)(Request&);

// handlers_node.cpp
XsErr do_read(Request& r);
XsErr do_write(Request& r);
XsErr do_mkdir(Request& r);
XsErr do_rm(Request& r);
XsErr do_directory(Request& r);
XsErr do_directory_part(Request& r);
XsErr do_get_perms(Request& r);
XsErr do_set_perms(Request& r);
// handlers_watch.cpp
XsErr do_watch(Request& r);
XsErr do_unwatch(Request& r);
XsErr do_reset_watches(Request& r);
// handlers_transaction.cpp
XsErr do_transaction_start(Request& r);
XsErr do_transaction_end(Request& r);
// handlers_domain.cpp
XsErr do_introduce(Request& r);
XsErr do_release(Request& r);
XsErr do_is_domain_introduced(Request& r);
XsErr do_get_domain_path(Request& r);
XsErr do_resume(Request& r);
XsErr do_set_target(Request& r);
// control.cpp
XsErr do_control(Request& r);

}  // namespace xenolith::xenstore
