// INTRODUCE, RELEASE, IS_DOMAIN_INTRODUCED, GET_DOMAIN_PATH, RESUME,
// SET_TARGET. All but GET_DOMAIN_PATH are privileged (dispatch table).
#include <cstdint>
#include <optional>

#include "xenstore/args.hpp"
#include "xenstore/path.hpp"
#include "xenstore/request.hpp"

namespace xenolith::xenstore {

namespace {

std::optional<domid_t> one_domid(const Request& r) {
    auto arg = one_arg(r.payload());
    if (!arg) return std::nullopt;
    return parse_domid(*arg);
}

// The gfn is "signed decimal (!)" per xenstore.txt.
std::optional<std::int64_t> parse_gfn(std::string_view s) {
    const bool negative = !s.empty() && s[0] == '-';
    if (negative) s.remove_prefix(1);
    auto v = parse_decimal(s, INT64_MAX);
    if (!v) return std::nullopt;
    return negative ? -static_cast<std::int64_t>(*v) : static_cast<std::int64_t>(*v);
}

XsErr ack_if_ok(Request& r, XsErr e) {
    if (e == XsErr::ok) r.ack();
    return e;
}

}  // namespace

XsErr do_introduce(Request& r) {
    auto args = split_strings(r.payload());
    if (args.size() < 3) return XsErr::inval;
    auto domid = parse_domid(args[0]);
    auto gfn = parse_gfn(args[1]);
    auto port = parse_decimal(args[2], UINT32_MAX);
    if (!domid || !gfn || !port) return XsErr::inval;
    return ack_if_ok(r, r.core.introduce(*domid, *gfn, static_cast<evtchn_port_t>(*port)));
}

XsErr do_release(Request& r) {
    auto domid = one_domid(r);
    if (!domid) return XsErr::inval;
    return ack_if_ok(r, r.core.release(*domid));
}

XsErr do_resume(Request& r) {
    auto domid = one_domid(r);
    if (!domid) return XsErr::inval;
    return ack_if_ok(r, r.core.resume(*domid));
}

XsErr do_is_domain_introduced(Request& r) {
    auto domid = one_domid(r);
    if (!domid) return XsErr::inval;
    const bool yes = *domid == DOMID_SELF || r.core.domain_connection(*domid) != nullptr;
    r.reply.assign(yes ? "T" : "F", 2);
    return XsErr::ok;
}

XsErr do_get_domain_path(Request& r) {
    auto domid = one_domid(r);
    if (!domid) return XsErr::inval;
    if (r.conn.scope && *domid != r.conn.domid) return XsErr::acces;  // its own only
    r.reply = domain_path(*domid);
    r.reply += '\0';
    return XsErr::ok;
}

XsErr do_set_target(Request& r) {
    auto args = split_strings(r.payload());
    if (args.size() < 2) return XsErr::inval;
    auto domid = parse_domid(args[0]);
    auto target = parse_domid(args[1]);
    if (!domid || !target) return XsErr::inval;
    Connection* c = r.core.domain_connection(*domid);
    if (!c || !r.core.domain_connection(*target)) return XsErr::noent;
    c->target = *target;
    r.ack();
    return XsErr::ok;
}

}  // namespace xenolith::xenstore
