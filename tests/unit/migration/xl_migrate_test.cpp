#include "migration/xl_migrate_messages.hpp"

#include <gtest/gtest.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "migration/saved_image.hpp"
#include "test_streams.hpp"

namespace xenolith::migration {
namespace {

using test::append;
using test::Bytes;

TEST(XlMigrate, MessagesAreXlsBytes) {
    const auto str = [](XlMigrateMessage m) {
        const ByteSpan b = xl_migrate_message_bytes(m);
        return std::string(b.begin(), b.end());
    };
    EXPECT_EQ(str(XlMigrateMessage::ReceiverBanner), "xl migration receiver ready, send binary domain data.\n");
    EXPECT_EQ(str(XlMigrateMessage::ReceiverReady), std::string("domain received, ready to unpause\0", 34));
    EXPECT_EQ(str(XlMigrateMessage::PermissionToGo), std::string("domain is yours, you are cleared to unpause\0", 44));
    EXPECT_EQ(str(XlMigrateMessage::Report), std::string("my copy unpause results are as follows\0", 39));
}

TEST(XlMigrate, RefusesTheWrongMessageAndTruncation) {
    Bytes b;
    append(b, Bytes(xl_migrate_message_bytes(XlMigrateMessage::ReceiverReady).begin(),
                    xl_migrate_message_bytes(XlMigrateMessage::ReceiverReady).end()));
    MemorySource src(b);
    InputStream in(src);
    auto st = expect_xl_migrate_message(in, XlMigrateMessage::PermissionToGo);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().what,
              "xl migrate: expected the permission to go at offset 0: truncated: 34 of 44 bytes present");

    const ByteSpan go = xl_migrate_message_bytes(XlMigrateMessage::PermissionToGo);
    MemorySource src2(go);
    InputStream in2(src2);
    st = expect_xl_migrate_message(in2, XlMigrateMessage::Report);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().what,
              "xl migrate: expected the success/failure report at offset 0: got \"domain is yours, you are cleared to unp\"");

    VectorSink sink;
    ASSERT_TRUE(write_xl_migrate_message(sink, XlMigrateMessage::Report));  // no status byte
    MemorySource src3(sink.bytes());
    InputStream in3(src3);
    auto report = read_xl_migrate_report(in3);
    ASSERT_FALSE(report);
    EXPECT_NE(report.error().what.find("status byte at offset 39"), std::string::npos) << report.error().what;
}

// The whole conversation over a socket, each side a thread, the image
// pulled by the receiver as the sender writes it.
TEST(XlMigrate, SenderAndReceiverOverASocket) {
    int to_receiver[2], to_sender[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, to_receiver), 0);
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, to_sender), 0);

    XlSaveHeader xl;
    xl.config_json = R"({"c_info":{"type":"pvh","name":"guest"}})";
    Bytes image = encode_xl_save_header(xl);
    append(image, encode_libxl_header({}));
    append(image, test::record(libxl_rec::kLibxcContext, {}));
    append(image, test::sample_libxc_stream());
    append(image, test::record(libxl_rec::kEnd, {}));

    std::string sender_error;
    std::thread sender([&] {
        FdSource from(to_sender[1]);
        InputStream in(from);
        FdSink out(to_receiver[1]);
        auto fail = [&](const Error& e) { sender_error = e.what; };
        if (auto st = expect_xl_migrate_message(in, XlMigrateMessage::ReceiverBanner); !st) return fail(st.error());
        if (auto st = out.write(image); !st) return fail(st.error());
        if (auto st = expect_xl_migrate_message(in, XlMigrateMessage::ReceiverReady); !st) return fail(st.error());
        if (auto st = write_xl_migrate_message(out, XlMigrateMessage::PermissionToGo); !st) return fail(st.error());
        auto status = read_xl_migrate_report(in);
        if (!status) return fail(status.error());
        if (*status != 0) sender_error = "status " + std::to_string(*status);
    });

    FdSink out(to_sender[0]);
    FdSource from(to_receiver[0]);
    InputStream in(from);
    ASSERT_TRUE(write_xl_migrate_message(out, XlMigrateMessage::ReceiverBanner));
    SavedImageLimits limits;
    limits.libxc = test::sample_limits();
    auto received = read_saved_image_until_end(in, limits);
    ASSERT_TRUE(received) << received.error().what;
    EXPECT_EQ(received->xl.config_json, xl.config_json);
    EXPECT_EQ(received->libxc_records.size(), 8u);
    ASSERT_TRUE(write_xl_migrate_message(out, XlMigrateMessage::ReceiverReady));
    ASSERT_TRUE(expect_xl_migrate_message(in, XlMigrateMessage::PermissionToGo));
    ASSERT_TRUE(write_xl_migrate_report(out, 0));
    sender.join();
    EXPECT_EQ(sender_error, "");
    for (int fd : {to_receiver[0], to_receiver[1], to_sender[0], to_sender[1]}) close(fd);
}

}  // namespace
}  // namespace xenolith::migration
