#include <gtest/gtest.h>

#include <cstring>

extern "C" {
#include <xen/errno.h>
#include <xen/xen.h>
}

#include "console/serial_input.hpp"
#include "fake_guest.hpp"

namespace xenolith::test {
namespace {

struct ConsoleIo : HypercallTest {
    long io(std::uint64_t cmd, std::uint64_t count, std::uint64_t buf) {
        return call(__HYPERVISOR_console_io, cmd, count, buf);
    }
    void text(std::uint64_t gpa, const std::string& s) {
        std::memcpy(dom.memory().host_ptr(gpa, s.size()), s.data(), s.size());
    }
};

TEST_F(ConsoleIo, write_when_text_then_reaches_the_log) {
    text(kArg, "hello\n");
    EXPECT_EQ(io(CONSOLEIO_write, 6, kArg), 0);
    EXPECT_EQ(dom.console, "hello\n");
}

TEST_F(ConsoleIo, write_when_longer_than_one_chunk_then_all_of_it) {
    const std::string s(1500, 'x');
    text(kArg, s);
    EXPECT_EQ(io(CONSOLEIO_write, s.size(), kArg), 0);
    EXPECT_EQ(dom.console, s);
}

TEST_F(ConsoleIo, write_when_count_has_high_bits_then_only_unsigned_int_count) {
    text(kArg, "ab");
    EXPECT_EQ(io(CONSOLEIO_write, (std::uint64_t{1} << 32) | 2, kArg), 0);
    EXPECT_EQ(dom.console, "ab");
}

TEST_F(ConsoleIo, write_when_bad_pointer_or_runs_off_memory_then_efault) {
    EXPECT_EQ(io(CONSOLEIO_write, 4, kBad), -XEN_EFAULT);
    EXPECT_EQ(io(CONSOLEIO_write, 0xffffffff, kArg), -XEN_EFAULT);
}

TEST_F(ConsoleIo, read_or_unknown_when_not_console_domain_then_eperm) {
    EXPECT_EQ(io(CONSOLEIO_read, 4, kArg), -XEN_EPERM);
    EXPECT_EQ(io(77, 4, kArg), -XEN_EPERM);
}

TEST_F(ConsoleIo, read_when_console_domain_then_serial_bytes_once) {
    console::SerialInput serial;
    dom.console_domain = true;
    EXPECT_EQ(io(CONSOLEIO_read, 8, kBuf), 0);  // no serial input: nothing
    dom.serial = &serial;
    for (char c : std::string("xyz")) serial.push(c);
    EXPECT_EQ(io(CONSOLEIO_read, 2, kBuf), 2);
    EXPECT_EQ(std::string(str(kBuf), 2), "xy");
    EXPECT_EQ(io(CONSOLEIO_read, 8, kBad), -XEN_EFAULT);  // the byte stays queued
    EXPECT_EQ(io(CONSOLEIO_read, 8, kBuf), 1);
    EXPECT_EQ(str(kBuf)[0], 'z');
    EXPECT_EQ(io(CONSOLEIO_read, 8, kBuf), 0);
    EXPECT_EQ(io(77, 4, kArg), -XEN_ENOSYS);
}

// ---- Both ABIs: console_io(unsigned int cmd, unsigned int count, char *)
// takes only registers; a 32-bit caller's come zero-extended.
struct ConsoleIoAbi : BothAbis {};

TEST_P(ConsoleIoAbi, write_when_count_has_high_bits_then_only_low_32_count) {
    std::memcpy(dom.memory().host_ptr(kArg, 3), "abc", 3);
    EXPECT_EQ(abi_call(__HYPERVISOR_console_io, CONSOLEIO_write, (1ull << 32) | 3, kArg), 0);
    EXPECT_EQ(dom.console, "abc");
    EXPECT_EQ(abi_call(__HYPERVISOR_console_io, CONSOLEIO_read, 3, kArg), -XEN_EPERM);
}

INSTANTIATE_TEST_SUITE_P(Abi, ConsoleIoAbi, ::testing::Bool(), abi_name);

}  // namespace
}  // namespace xenolith::test
