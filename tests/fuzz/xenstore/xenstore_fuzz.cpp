// Fuzzes the xenstore core the way transports drive it: byte streams from
// the host socket and two guests' rings go through MessageReader and
// Server::handle, interleaved with the hypervisor's domain notices. Checks
// the reply contract and the store's consistency; any violation aborts.
//
// Input: a sequence of records [selector][length][bytes...]. selector % 4
// picks the host socket, dom1 or dom2 (bytes are fed to that stream) or a
// domain event (length picks which). The first byte, if odd, shrinks the
// quotas so the fuzzer reaches them quickly.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <optional>

#include "xenstore/server.hpp"
#include "xenstore/wire.hpp"

namespace {

using namespace xenolith;
using namespace xenolith::xenstore;

void require(bool ok) {
    if (!ok) std::abort();
}

struct Stream {
    std::optional<domid_t> domid;  // nullopt: the host socket
    ConnId socket = 0;
    MessageReader reader;
};

Connection* conn_of(Server& s, Stream& st) {
    if (!st.domid) return s.connection(st.socket);
    return s.domain_connection(*st.domid);
}

void drain_events(Server& s) {
    for (ConnId id : s.take_woken()) {
        Connection* c = s.connection(id);
        if (!c) continue;
        while (auto ev = s.next_event(*c)) {
            Message m = watch_event_message(*ev);
            require(m.payload.size() <= XENSTORE_PAYLOAD_MAX);
            require(ev->conn == id);
        }
    }
}

void feed(Server& s, Stream& st, ByteSpan bytes, unsigned& handled) {
    while (!bytes.empty()) {
        Connection* c = conn_of(s, st);
        if (!c) return;
        auto n = st.reader.feed(bytes);
        if (!n) {
            // Framing broken: drop the connection as a transport would.
            s.disconnect(c->id);
            st.reader.reset();
            if (!st.domid) st.socket = s.connect_socket().id;
            return;
        }
        bytes = bytes.subspan(*n);
        if (!st.reader.ready()) continue;
        Message req = st.reader.take();
        Reply rep = s.handle(*c, req);
        require(rep.req_id == req.req_id && rep.tx_id == req.tx_id);
        require(rep.type == XS_ERROR || rep.type == req.type);
        require(rep.payload.size() <= XENSTORE_PAYLOAD_MAX);
        require(encode_reply(rep).size() == kHeaderSize + rep.payload.size());
        if (Connection* again = conn_of(s, st)) s.reply_sent(*again);
        drain_events(s);
        if (++handled % 64 == 0) require(s.check().ok());
    }
}

void domain_event(Server& s, std::uint8_t what) {
    const domid_t domid = static_cast<domid_t>(1 + (what >> 2) % 3);
    switch (what & 3) {
    case 0: (void)s.introduce_domain(domid, what, 1 + what); break;
    case 1: s.domain_shutdown(domid); break;
    case 2: s.domain_destroyed(domid); break;
    default:
        if (Connection* c = s.domain_connection(domid)) s.disconnect(c->id);
        break;
    }
    drain_events(s);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    Server server;
    if (data[0] & 1) {
        server.quotas().set_hard(Quota::nodes, 12);
        server.quotas().set_hard(Quota::watches, 4);
        server.quotas().set_hard(Quota::transactions, 2);
        server.quotas().set_hard(Quota::transaction_nodes, 10);
        server.quotas().set_hard(Quota::memory, 3000);
        server.quotas().set_hard(Quota::node_size, 300);
        server.quotas().set_hard(Quota::path_max, 40);
    }
    std::array<Stream, 3> streams;
    streams[0].socket = server.connect_socket().id;
    streams[1].domid = 1;
    streams[2].domid = 2;
    for (domid_t d : {domid_t{1}, domid_t{2}}) {
        require(server.introduce_domain(d, 0, d) == XsErr::ok);
        // Homes as the toolstack creates them: owned by the guest.
        Connection* host = server.connection(streams[0].socket);
        std::string home = "/local/domain/" + std::to_string(d);
        std::string perms = home + '\0' + "n" + std::to_string(d) + '\0' + "r0" + '\0';
        (void)server.handle(*host, Message{XS_MKDIR, 0, 0, home + '\0'});
        (void)server.handle(*host, Message{XS_SET_PERMS, 0, 0, perms});
    }
    drain_events(server);

    unsigned handled = 0;
    std::size_t pos = 1;
    while (pos + 2 <= size) {
        const std::uint8_t selector = data[pos];
        const std::uint8_t len = data[pos + 1];
        pos += 2;
        if (selector % 4 == 3) {
            domain_event(server, len);
            continue;
        }
        const std::size_t n = std::min<std::size_t>(len, size - pos);
        feed(server, streams[selector % 4], ByteSpan(data + pos, n), handled);
        pos += n;
    }
    require(server.check().ok());
    return 0;
}
