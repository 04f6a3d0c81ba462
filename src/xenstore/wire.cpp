#include "xenstore/wire.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace xenolith::xenstore {

Result<xsd_sockmsg> decode_header(ByteSpan bytes) {
    auto hdr = read_at<xsd_sockmsg>(bytes, 0);
    if (!hdr) return make_error(fmt::format("xenstore: short header ({} bytes)", bytes.size()));
    if (hdr->len > XENSTORE_PAYLOAD_MAX)
        return make_error(fmt::format("xenstore: payload length {} exceeds {}", hdr->len,
                                      XENSTORE_PAYLOAD_MAX));
    return *hdr;
}

std::vector<std::uint8_t> encode_message(const Message& m) {
    xsd_sockmsg hdr{};
    hdr.type = m.type;
    hdr.req_id = m.req_id;
    hdr.tx_id = m.tx_id;
    hdr.len = static_cast<std::uint32_t>(m.payload.size());
    std::vector<std::uint8_t> out(kHeaderSize + m.payload.size());
    std::memcpy(out.data(), &hdr, kHeaderSize);
    if (!m.payload.empty())
        std::memcpy(out.data() + kHeaderSize, m.payload.data(), m.payload.size());
    return out;
}

Message watch_event_message(const WatchEvent& ev) {
    Message m;
    m.type = XS_WATCH_EVENT;
    m.payload.reserve(ev.path.size() + ev.token.size() + 2);
    m.payload += ev.path;
    m.payload += '\0';
    m.payload += ev.token;
    m.payload += '\0';
    return m;
}

Message error_reply(const Message& request, XsErr err) {
    Message m;
    m.type = XS_ERROR;
    m.req_id = request.req_id;
    m.tx_id = request.tx_id;
    m.payload = error_name(err);
    m.payload += '\0';
    return m;
}

Result<std::size_t> MessageReader::feed(ByteSpan data) {
    if (broken_) return make_error("xenstore: connection already failed");
    std::size_t used = 0;
    if (ready_) return used;
    if (header_used_ < kHeaderSize) {
        std::size_t n = std::min(kHeaderSize - header_used_, data.size());
        std::memcpy(header_ + header_used_, data.data(), n);
        header_used_ += n;
        used += n;
        if (header_used_ < kHeaderSize) return used;
        auto hdr = decode_header(ByteSpan(header_, kHeaderSize));
        if (!hdr) {
            broken_ = true;
            return hdr.error();
        }
        current_.type = hdr->type;
        current_.req_id = hdr->req_id;
        current_.tx_id = hdr->tx_id;
        current_.payload.clear();
        current_.payload.reserve(hdr->len);
        len_ = hdr->len;
    }
    std::size_t want = len_ - current_.payload.size();
    std::size_t n = std::min(want, data.size() - used);
    current_.payload.append(reinterpret_cast<const char*>(data.data() + used), n);
    used += n;
    if (current_.payload.size() == len_) ready_ = true;
    return used;
}

Message MessageReader::take() {
    Message m = std::move(current_);
    current_ = Message{};
    ready_ = false;
    header_used_ = 0;
    len_ = 0;
    return m;
}

void MessageReader::reset() {
    take();
    broken_ = false;
}

}  // namespace xenolith::xenstore
