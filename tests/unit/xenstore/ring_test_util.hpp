// The guest's side of a xenstore ring page, for tests: writes requests into
// the request ring and reads responses, as a frontend driver would.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include <xen/io/xs_wire.h>
}

#include "xenstore/wire.hpp"

namespace xenolith::xenstore::test {

struct alignas(4096) GuestRing {
    xenstore_domain_interface page{};

    // Appends bytes to the request ring (must fit).
    void put(const std::vector<std::uint8_t>& bytes) {
        for (std::uint8_t b : bytes) page.req[MASK_XENSTORE_IDX(page.req_prod++)] = static_cast<char>(b);
    }
    void put_message(std::uint32_t type, const std::string& payload, std::uint32_t req_id = 1,
                     std::uint32_t tx_id = 0) {
        Message m;
        m.type = type;
        m.req_id = req_id;
        m.tx_id = tx_id;
        m.payload = payload;
        put(encode_message(m));
    }
    std::size_t response_bytes() const { return page.rsp_prod - page.rsp_cons; }
    // Takes every response byte.
    std::string take() {
        std::string out;
        while (page.rsp_cons != page.rsp_prod)
            out += page.rsp[MASK_XENSTORE_IDX(page.rsp_cons++)];
        return out;
    }
};

// Splits a byte stream into messages (header + payload).
inline std::vector<Message> parse_messages(const std::string& bytes) {
    std::vector<Message> out;
    std::size_t pos = 0;
    while (bytes.size() - pos >= sizeof(xsd_sockmsg)) {
        xsd_sockmsg h;
        std::memcpy(&h, bytes.data() + pos, sizeof h);
        if (bytes.size() - pos - sizeof h < h.len) break;
        Message m;
        m.type = h.type;
        m.req_id = h.req_id;
        m.tx_id = h.tx_id;
        m.payload = bytes.substr(pos + sizeof h, h.len);
        out.push_back(std::move(m));
        pos += sizeof h + h.len;
    }
    return out;
}

}  // namespace xenolith::xenstore::test
