// The serial input ring (Xen's serial_rx_ring) and its reader thread.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "console/serial_input.hpp"

namespace xenolith::console {
namespace {

std::string drain(SerialInput& in) {
    char buf[SerialInput::kRingSize];
    const std::size_t n = in.peek(buf, sizeof buf);
    in.consume(n);
    return std::string(buf, n);
}

TEST(SerialInput, BytesComeOutInOrder) {
    SerialInput in;
    for (char c : std::string("ping")) in.push(c);
    EXPECT_EQ(drain(in), "ping");
    EXPECT_EQ(drain(in), "");
}

TEST(SerialInput, PeekWithoutConsumeKeepsTheBytes) {
    SerialInput in;
    in.push('a');
    in.push('b');
    char buf[1];
    EXPECT_EQ(in.peek(buf, 1), 1u);
    EXPECT_EQ(buf[0], 'a');
    EXPECT_EQ(drain(in), "ab");  // a failed copy to the guest loses nothing
}

TEST(SerialInput, AFullRingDropsNewBytesAsXenDoes) {
    SerialInput in;
    for (std::size_t i = 0; i < SerialInput::kRingSize; ++i) in.push('x');
    in.push('y');
    const std::string got = drain(in);
    EXPECT_EQ(got.size(), SerialInput::kRingSize);
    EXPECT_EQ(got.find('y'), std::string::npos);
}

TEST(SerialInput, ConsumeNeverPassesTheProducer) {
    SerialInput in;
    in.push('a');
    in.consume(5);
    in.push('b');
    EXPECT_EQ(drain(in), "b");
}

TEST(SerialInput, ReadsAFifoAndNotifiesPerChunk) {
    char dir[] = "/tmp/xenolith-serial.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    const std::string fifo = std::string(dir) + "/line";
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    std::atomic<int> notified{0};
    {
        SerialInput in;
        ASSERT_TRUE(in.start(fifo, [&] { ++notified; }));
        for (int round = 0; round < 2; ++round) {  // writers come and go
            FILE* w = std::fopen(fifo.c_str(), "w");
            ASSERT_NE(w, nullptr);
            std::fputs("hi\n", w);
            std::fclose(w);
            for (int i = 0; i < 200 && notified <= round; ++i)
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        EXPECT_GE(notified.load(), 2);
        EXPECT_EQ(drain(in), "hi\nhi\n");
    }  // the destructor stops the reader
    ::unlink(fifo.c_str());
    ::rmdir(dir);
}

TEST(SerialInput, AMissingLineIsAClearError) {
    SerialInput in;
    auto st = in.start("/nonexistent/serial", [] {});
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().what.find("/nonexistent/serial"), std::string::npos);
}

}  // namespace
}  // namespace xenolith::console
