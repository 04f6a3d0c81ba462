#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "test_util.hpp"
#include "xenstore/args.hpp"
#include "xenstore/wire.hpp"

namespace xenolith::xenstore {
namespace {

std::vector<std::uint8_t> header(std::uint32_t type, std::uint32_t req, std::uint32_t tx,
                                 std::uint32_t len) {
    xsd_sockmsg h{type, req, tx, len};
    std::vector<std::uint8_t> out(sizeof h);
    std::memcpy(out.data(), &h, sizeof h);
    return out;
}

TEST(Wire, DecodeHeaderReadsAllFields) {
    auto bytes = header(XS_READ, 7, 3, 5);
    auto h = decode_header(bytes);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->type, std::uint32_t{XS_READ});
    EXPECT_EQ(h->req_id, 7u);
    EXPECT_EQ(h->tx_id, 3u);
    EXPECT_EQ(h->len, 5u);
}

TEST(Wire, DecodeHeaderRejectsShortInput) {
    auto bytes = header(XS_READ, 1, 0, 0);
    bytes.pop_back();
    EXPECT_FALSE(decode_header(bytes).ok());
}

TEST(Wire, DecodeHeaderAcceptsPayloadMaxRejectsMore) {
    EXPECT_TRUE(decode_header(header(XS_WRITE, 1, 0, XENSTORE_PAYLOAD_MAX)).ok());
    EXPECT_FALSE(decode_header(header(XS_WRITE, 1, 0, XENSTORE_PAYLOAD_MAX + 1)).ok());
    EXPECT_FALSE(decode_header(header(XS_WRITE, 1, 0, 0xffffffffu)).ok());
}

TEST(Wire, DecodeHeaderLeavesUnknownTypesToTheDispatcher) {
    EXPECT_TRUE(decode_header(header(12345, 1, 0, 0)).ok());
}

TEST(Wire, EncodeMessageWritesHeaderThenPayload) {
    Message m{XS_READ, 9, 2, std::string("abc\0", 4)};
    auto bytes = encode_reply(m);
    ASSERT_EQ(bytes.size(), kHeaderSize + 4);
    auto h = decode_header(bytes);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->len, 4u);
    EXPECT_EQ(h->req_id, 9u);
    EXPECT_EQ(std::memcmp(bytes.data() + kHeaderSize, "abc\0", 4), 0);
}

TEST(Wire, WatchEventMessageHasZeroIdsAndTwoStrings) {
    Message m = watch_event_message(WatchEvent{1, "/a/b", "tok"});
    EXPECT_EQ(m.type, std::uint32_t{XS_WATCH_EVENT});
    EXPECT_EQ(m.req_id, 0u);
    EXPECT_EQ(m.tx_id, 0u);
    EXPECT_EQ(m.payload, std::string("/a/b\0tok\0", 9));
}

TEST(Wire, ErrorReplyEchoesIdsAndCarriesXenName) {
    Message req{XS_READ, 5, 6, ""};
    Message r = error_reply(req, XsErr::noent);
    EXPECT_EQ(r.type, std::uint32_t{XS_ERROR});
    EXPECT_EQ(r.req_id, 5u);
    EXPECT_EQ(r.tx_id, 6u);
    EXPECT_EQ(r.payload, std::string("ENOENT\0", 7));
}

TEST(Wire, ErrorNamesComeFromXsWireTable) {
    EXPECT_EQ(error_name(XsErr::inval), "EINVAL");
    EXPECT_EQ(error_name(XsErr::acces), "EACCES");
    EXPECT_EQ(error_name(XsErr::again), "EAGAIN");
    EXPECT_EQ(error_name(XsErr::toobig), "E2BIG");
    EXPECT_EQ(error_name(XsErr::nospc), "ENOSPC");
    EXPECT_EQ(error_name(XsErr::perm), "EPERM");
    EXPECT_EQ(error_name(XsErr::ok), "EINVAL");  // not in the table
}

TEST(MessageReader, AssemblesAMessageFedByteByByte) {
    Message m{XS_WRITE, 42, 0, std::string("/a\0value", 8)};
    auto bytes = encode_message(m);
    MessageReader r;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        EXPECT_FALSE(r.ready());
        auto n = r.feed(ByteSpan(bytes).subspan(i, 1));
        ASSERT_TRUE(n.ok());
        EXPECT_EQ(*n, 1u);
    }
    ASSERT_TRUE(r.ready());
    Message got = r.take();
    EXPECT_EQ(got.type, m.type);
    EXPECT_EQ(got.req_id, 42u);
    EXPECT_EQ(got.payload, m.payload);
    EXPECT_FALSE(r.ready());
}

TEST(MessageReader, StopsAtTheEndOfEachMessage) {
    auto a = encode_message(Message{XS_READ, 1, 0, test::strs({"/a"})});
    auto b = encode_message(Message{XS_READ, 2, 0, test::strs({"/b"})});
    std::vector<std::uint8_t> both = a;
    both.insert(both.end(), b.begin(), b.end());

    MessageReader r;
    auto n = r.feed(both);
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, a.size());
    ASSERT_TRUE(r.ready());
    // Nothing more is consumed until the message is taken.
    EXPECT_EQ(*r.feed(ByteSpan(both).subspan(*n)), 0u);
    EXPECT_EQ(r.take().req_id, 1u);
    auto m = r.feed(ByteSpan(both).subspan(*n));
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(*m, b.size());
    EXPECT_EQ(r.take().req_id, 2u);
}

TEST(MessageReader, EmptyPayloadIsCompleteAfterTheHeader) {
    auto bytes = encode_message(Message{XS_TRANSACTION_START, 1, 0, ""});
    MessageReader r;
    ASSERT_TRUE(r.feed(bytes).ok());
    EXPECT_TRUE(r.ready());
    EXPECT_TRUE(r.take().payload.empty());
}

TEST(MessageReader, OversizedLengthBreaksTheStream) {
    auto bytes = header(XS_WRITE, 1, 0, XENSTORE_PAYLOAD_MAX + 1);
    MessageReader r;
    EXPECT_FALSE(r.feed(bytes).ok());
    EXPECT_TRUE(r.broken());
    EXPECT_FALSE(r.ready());
    // Stays broken: the stream is out of sync.
    auto more = encode_message(Message{XS_READ, 1, 0, test::strs({"/"})});
    EXPECT_FALSE(r.feed(more).ok());
    r.reset();
    EXPECT_TRUE(r.feed(more).ok());
    EXPECT_TRUE(r.ready());
}

TEST(MessageReader, MaximumPayloadIsAccepted) {
    std::string payload(XENSTORE_PAYLOAD_MAX, 'x');
    auto bytes = encode_message(Message{XS_WRITE, 1, 0, payload});
    MessageReader r;
    auto n = r.feed(bytes);
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, bytes.size());
    EXPECT_EQ(r.take().payload.size(), std::size_t{XENSTORE_PAYLOAD_MAX});
}

TEST(Args, SplitStringsIgnoresUnterminatedTail) {
    const std::string payload("a\0bc\0tail", 9);
    auto v = split_strings(payload);
    ASSERT_EQ(v.size(), 2u);
    EXPECT_EQ(v[0], "a");
    EXPECT_EQ(v[1], "bc");
    EXPECT_TRUE(split_strings("no-nul").empty());
    EXPECT_EQ(split_strings(std::string("\0\0", 2)).size(), 2u);
}

TEST(Args, OneArgNeedsExactlyOneTrailingNul) {
    EXPECT_EQ(one_arg(std::string("/a\0", 3)), "/a");
    EXPECT_EQ(one_arg(std::string("\0", 1)), "");
    EXPECT_FALSE(one_arg(""));
    EXPECT_FALSE(one_arg("/a"));
    EXPECT_FALSE(one_arg(std::string("/a\0b\0", 5)));
    EXPECT_FALSE(one_arg(std::string("/a\0b", 4)));
}

TEST(Args, ParseDecimalIsStrict) {
    EXPECT_EQ(parse_decimal("0", 10), 0u);
    EXPECT_EQ(parse_decimal("10", 10), 10u);
    EXPECT_FALSE(parse_decimal("11", 10));
    EXPECT_FALSE(parse_decimal("", 10));
    EXPECT_FALSE(parse_decimal("-1", 10));
    EXPECT_FALSE(parse_decimal("1x", 10));
    EXPECT_FALSE(parse_decimal("99999999999999999999999", ~std::uint64_t{0}));
    EXPECT_EQ(parse_domid("65535"), domid_t{65535});
    EXPECT_FALSE(parse_domid("65536"));
}

}  // namespace
}  // namespace xenolith::xenstore
