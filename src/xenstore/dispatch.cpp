// The message-type table and the request path every message takes:
// type -> handler, privilege check, transaction lookup, handler, reply.
#include "xenstore/dispatch.hpp"

#include <array>

#include "base/log.hpp"
#include "xenstore/path.hpp"
#include "xenstore/request.hpp"

namespace xenolith::xenstore {

namespace {

enum : unsigned {
    kPriv = 1u << 0,  // privileged connections only (EACCES otherwise)
    kNoTx = 1u << 1,  // tx_id ignored
};

struct OpEntry {
    std::string_view name;
    Handler fn = nullptr;
    unsigned flags = 0;
};

constexpr auto kOps = [] {
    std::array<OpEntry, XS_TYPE_COUNT> t{};
    t[XS_CONTROL] = {"CONTROL", do_control, kPriv};  // XS_DEBUG is the same value
    t[XS_DIRECTORY] = {"DIRECTORY", do_directory, 0};
    t[XS_READ] = {"READ", do_read, 0};
    t[XS_GET_PERMS] = {"GET_PERMS", do_get_perms, 0};
    t[XS_WATCH] = {"WATCH", do_watch, kNoTx};
    t[XS_UNWATCH] = {"UNWATCH", do_unwatch, kNoTx};
    t[XS_TRANSACTION_START] = {"TRANSACTION_START", do_transaction_start, 0};
    t[XS_TRANSACTION_END] = {"TRANSACTION_END", do_transaction_end, 0};
    t[XS_INTRODUCE] = {"INTRODUCE", do_introduce, kPriv};
    t[XS_RELEASE] = {"RELEASE", do_release, kPriv};
    t[XS_GET_DOMAIN_PATH] = {"GET_DOMAIN_PATH", do_get_domain_path, 0};
    t[XS_WRITE] = {"WRITE", do_write, 0};
    t[XS_MKDIR] = {"MKDIR", do_mkdir, 0};
    t[XS_RM] = {"RM", do_rm, 0};
    t[XS_SET_PERMS] = {"SET_PERMS", do_set_perms, 0};
    t[XS_WATCH_EVENT] = {"WATCH_EVENT", nullptr, 0};  // daemon to client only
    t[XS_ERROR] = {"ERROR", nullptr, 0};              // daemon to client only
    t[XS_IS_DOMAIN_INTRODUCED] = {"IS_DOMAIN_INTRODUCED", do_is_domain_introduced, kPriv};
    t[XS_RESUME] = {"RESUME", do_resume, kPriv};
    t[XS_SET_TARGET] = {"SET_TARGET", do_set_target, kPriv};
    // 20 was XS_RESTRICT, removed: unknown.
    t[XS_RESET_WATCHES] = {"RESET_WATCHES", do_reset_watches, 0};
    t[XS_DIRECTORY_PART] = {"DIRECTORY_PART", do_directory_part, 0};
    return t;
}();

}  // namespace

XsResult<std::string> Request::path(std::string_view raw, bool allow_special) {
    const std::size_t rel_max = conn.privileged ? 0 : core.quotas.hard(Quota::path_max);
    auto p = canonicalize(raw, conn.domid, allow_special, rel_max);
    // A confined connection reaches only its prefixes, checked on the
    // canonical path so that relative paths cannot step around them.
    if (p && conn.scope && !scope_allows(*conn.scope, *p, scope_type_writes(msg.type)))
        return XsErr::acces;
    if (p && !conn.privileged)
        core.maxima.note(conn.domid, false, Quota::path_max, relative_length(*p));
    return p;
}

std::string_view message_type_name(std::uint32_t type) {
    if (type < kOps.size() && !kOps[type].name.empty()) return kOps[type].name;
    return "UNKNOWN";
}

bool message_type_privileged(std::uint32_t type) {
    return type < kOps.size() && (kOps[type].flags & kPriv) != 0;
}

Reply dispatch(Core& core, Connection& conn, const Message& msg) {
    ++conn.outstanding;
    auto fail = [&](XsErr e) {
        if (core.tracing(0))
            log::info("xenstore: conn {} dom{} {} req {} -> {}", conn.id, conn.domid,
                      message_type_name(msg.type), msg.req_id, error_name(e));
        return error_reply(msg, e);
    };
    if (conn.ignored) return fail(XsErr::io);
    if (msg.payload.size() > XENSTORE_PAYLOAD_MAX) return fail(XsErr::inval);
    if (conn.scope && !scope_admits_type(msg.type)) return fail(XsErr::acces);
    if (msg.type >= kOps.size() || !kOps[msg.type].fn) return fail(XsErr::nosys);
    const OpEntry& op = kOps[msg.type];
    if ((op.flags & kPriv) && !conn.privileged) return fail(XsErr::acces);

    Transaction* tx = nullptr;
    if (!(op.flags & kNoTx) && msg.tx_id != 0) {
        auto it = conn.transactions.find(msg.tx_id);
        if (it == conn.transactions.end()) return fail(XsErr::noent);
        tx = it->second.get();
    }

    Request req{core, conn, tx, msg, core.caller(conn), {}, {}};
    const XsErr e = op.fn(req);
    core.fire(req.changes);
    core.note_usage(conn, req.caller, req.tx);
    if (e != XsErr::ok) return fail(e);
    if (req.reply.size() > XENSTORE_PAYLOAD_MAX) return fail(XsErr::toobig);
    if (core.tracing(0))
        log::info("xenstore: conn {} dom{} {} req {} -> {} bytes", conn.id, conn.domid, op.name,
                  msg.req_id, req.reply.size());
    return Reply{msg.type, msg.req_id, msg.tx_id, std::move(req.reply)};
}

}  // namespace xenolith::xenstore
