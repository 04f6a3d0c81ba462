// RingTransport against a page the "guest" (the test) controls: framing
// across the wrap, backpressure, and lying indexes.
#include <gtest/gtest.h>

#include "ring_test_util.hpp"
#include "xenstore/ring_transport.hpp"

namespace xenolith::xenstore::test {
namespace {

class RingTransportTest : public ::testing::Test {
protected:
    GuestRing guest;
    RingTransport ring{&guest.page};
    MessageReader reader;

    RingTransport::Io read(std::size_t* consumed) { return ring.read(reader, consumed); }
};

TEST_F(RingTransportTest, AttachAdvertisesReconnectionAndErrorAndAdoptsIndexes) {
    guest.page.req_cons = guest.page.req_prod = 77;
    guest.page.rsp_cons = guest.page.rsp_prod = 1000;
    ring.attach();
    EXPECT_EQ(guest.page.server_features,
              XENSTORE_SERVER_FEATURE_RECONNECTION | XENSTORE_SERVER_FEATURE_ERROR);
    guest.put_message(XS_READ, std::string("a\0", 2));
    std::size_t consumed = 0;
    ASSERT_EQ(read(&consumed), RingTransport::Io::ok);
    EXPECT_EQ(consumed, kHeaderSize + 2);
    ASSERT_TRUE(reader.ready());
    EXPECT_EQ(reader.take().payload, std::string("a\0", 2));
    EXPECT_EQ(guest.page.req_cons, 77 + kHeaderSize + 2);
}

TEST_F(RingTransportTest, MessageAcrossTheRingEndAndIndexWrapIsReassembled) {
    const XENSTORE_RING_IDX start = 0xffffffffu - 5;  // wraps the 32-bit index too
    guest.page.req_cons = guest.page.req_prod = start;
    guest.page.rsp_cons = guest.page.rsp_prod = start;
    ring.attach();
    const std::string payload(600, 'x');
    guest.put_message(XS_WRITE, payload);
    std::size_t consumed = 0;
    ASSERT_EQ(read(&consumed), RingTransport::Io::ok);
    ASSERT_TRUE(reader.ready());
    EXPECT_EQ(reader.take().payload, payload);

    const std::vector<std::uint8_t> reply(700, 'r');
    std::size_t written = 0;
    ASSERT_EQ(ring.write(reply, &written), RingTransport::Io::ok);
    EXPECT_EQ(written, 700u);
    EXPECT_EQ(guest.take(), std::string(700, 'r'));
}

TEST_F(RingTransportTest, ReadStopsAtTheEndOfOneMessage) {
    ring.attach();
    guest.put_message(XS_READ, std::string("a\0", 2), 1);
    guest.put_message(XS_READ, std::string("b\0", 2), 2);
    std::size_t consumed = 0;
    ASSERT_EQ(read(&consumed), RingTransport::Io::ok);
    EXPECT_EQ(consumed, kHeaderSize + 2);
    EXPECT_EQ(reader.take().req_id, 1u);
    ASSERT_EQ(read(&consumed), RingTransport::Io::ok);
    EXPECT_EQ(reader.take().req_id, 2u);
}

TEST_F(RingTransportTest, PartialMessageWaitsForTheRest) {
    ring.attach();
    Message m;
    m.type = XS_READ;
    m.payload = std::string("abc\0", 4);
    auto bytes = encode_message(m);
    guest.put(std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + 10));
    std::size_t consumed = 0;
    ASSERT_EQ(read(&consumed), RingTransport::Io::ok);
    EXPECT_EQ(consumed, 10u);
    EXPECT_FALSE(reader.ready());
    guest.put(std::vector<std::uint8_t>(bytes.begin() + 10, bytes.end()));
    ASSERT_EQ(read(&consumed), RingTransport::Io::ok);
    ASSERT_TRUE(reader.ready());
    EXPECT_EQ(reader.take().payload, m.payload);
}

TEST_F(RingTransportTest, ProducerFurtherAheadThanTheRingIsBadIndex) {
    ring.attach();
    guest.page.req_prod = guest.page.req_cons + XENSTORE_RING_SIZE + 1;
    std::size_t consumed = 1;
    EXPECT_EQ(read(&consumed), RingTransport::Io::bad_index);
    EXPECT_EQ(consumed, 0u);
    // Behind the consumer is the same lie, seen modulo 2^32.
    guest.page.req_prod = guest.page.req_cons - 1;
    EXPECT_EQ(read(&consumed), RingTransport::Io::bad_index);
}

TEST_F(RingTransportTest, ExactlyAFullRingIsFine) {
    ring.attach();
    guest.page.req_prod = guest.page.req_cons + XENSTORE_RING_SIZE;  // garbage bytes, full ring
    std::memset(guest.page.req, 0, sizeof guest.page.req);          // a header with len 0
    std::size_t consumed = 0;
    EXPECT_EQ(read(&consumed), RingTransport::Io::ok);
    EXPECT_EQ(consumed, kHeaderSize);
}

TEST_F(RingTransportTest, ResponseConsumerAheadOfProducerIsBadIndex) {
    ring.attach();
    guest.page.rsp_cons = guest.page.rsp_prod + 8;
    std::size_t written = 1;
    const std::vector<std::uint8_t> data(4, 1);
    EXPECT_EQ(ring.write(data, &written), RingTransport::Io::bad_index);
    EXPECT_EQ(written, 0u);
    EXPECT_EQ(ring.write_space(), 0u);
}

TEST_F(RingTransportTest, FullResponseRingTakesWhatFits) {
    ring.attach();
    const std::vector<std::uint8_t> data(1500, 7);
    std::size_t written = 0;
    ASSERT_EQ(ring.write(data, &written), RingTransport::Io::ok);
    EXPECT_EQ(written, std::size_t{XENSTORE_RING_SIZE});
    EXPECT_EQ(ring.write_space(), 0u);
    guest.page.rsp_cons += 100;
    EXPECT_EQ(ring.write_space(), 100u);
}

TEST_F(RingTransportTest, OversizedHeaderIsAProtocolError) {
    ring.attach();
    xsd_sockmsg h{};
    h.type = XS_READ;
    h.len = XENSTORE_PAYLOAD_MAX + 1;
    std::vector<std::uint8_t> bytes(sizeof h);
    std::memcpy(bytes.data(), &h, sizeof h);
    guest.put(bytes);
    std::size_t consumed = 0;
    EXPECT_EQ(read(&consumed), RingTransport::Io::protocol);
}

TEST_F(RingTransportTest, GuestScribblingOnOurIndexesIsIgnored) {
    ring.attach();
    guest.put_message(XS_READ, std::string("a\0", 2));
    guest.page.req_cons = 12345;  // ours: the guest may not move it
    std::size_t consumed = 0;
    ASSERT_EQ(read(&consumed), RingTransport::Io::ok);
    ASSERT_TRUE(reader.ready());
    EXPECT_EQ(guest.page.req_cons, kHeaderSize + 2);  // rewritten from our copy
}

TEST_F(RingTransportTest, FailAndReconnect) {
    ring.attach();
    ring.fail(XENSTORE_ERROR_RINGIDX);
    EXPECT_TRUE(ring.failed());
    EXPECT_EQ(guest.page.error, XENSTORE_ERROR_RINGIDX);
    guest.page.req_prod = 999;
    guest.page.connection = XENSTORE_RECONNECT;
    EXPECT_TRUE(ring.reconnect_requested());
    ring.reconnect();
    EXPECT_FALSE(ring.failed());
    EXPECT_EQ(guest.page.connection, XENSTORE_CONNECTED);
    EXPECT_EQ(guest.page.error, XENSTORE_ERROR_NONE);
    EXPECT_EQ(guest.page.req_prod, 0u);
    EXPECT_EQ(guest.page.req_cons, 0u);
    EXPECT_EQ(guest.page.rsp_prod, 0u);
    EXPECT_EQ(guest.page.rsp_cons, 0u);
}

}  // namespace
}  // namespace xenolith::xenstore::test
