#include "migration/xl_migrate_messages.hpp"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

namespace xenolith::migration {

namespace {

// xl sends the banner without its NUL and the others with it (sizeof).
template <std::size_t N>
constexpr std::string_view with_nul(const char (&s)[N]) {
    return {s, N};
}
constexpr std::string_view kBanner = "xl migration receiver ready, send binary domain data.\n";
constexpr std::string_view kReady = with_nul("domain received, ready to unpause");
constexpr std::string_view kGo = with_nul("domain is yours, you are cleared to unpause");
constexpr std::string_view kReport = with_nul("my copy unpause results are as follows");
static_assert(kReady.back() == '\0' && kBanner.back() == '\n');

std::string_view text(XlMigrateMessage m) {
    switch (m) {
    case XlMigrateMessage::ReceiverBanner: return kBanner;
    case XlMigrateMessage::ReceiverReady: return kReady;
    case XlMigrateMessage::PermissionToGo: return kGo;
    case XlMigrateMessage::Report: return kReport;
    }
    return {};
}

std::string printable(ByteSpan b) {
    std::string s;
    for (std::uint8_t c : b.first(std::min<std::size_t>(b.size(), 48))) {
        s += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '.';
    }
    return s;
}

}  // namespace

ByteSpan xl_migrate_message_bytes(XlMigrateMessage message) {
    const std::string_view t = text(message);
    return ByteSpan(reinterpret_cast<const std::uint8_t*>(t.data()), t.size());
}

std::string_view xl_migrate_message_name(XlMigrateMessage message) {
    switch (message) {
    case XlMigrateMessage::ReceiverBanner: return "receiver banner";
    case XlMigrateMessage::ReceiverReady: return "receiver's ready message";
    case XlMigrateMessage::PermissionToGo: return "permission to go";
    case XlMigrateMessage::Report: return "success/failure report";
    }
    return "?";
}

Status write_xl_migrate_message(ByteSink& out, XlMigrateMessage message) {
    return out.write(xl_migrate_message_bytes(message));
}

Status expect_xl_migrate_message(InputStream& in, XlMigrateMessage message) {
    const ByteSpan want = xl_migrate_message_bytes(message);
    const std::uint64_t at = in.offset();
    std::vector<std::uint8_t> got(want.size());
    if (auto st = in.read_exact(got); !st) {
        return make_error(fmt::format("xl migrate: expected the {} at offset {}: {}", xl_migrate_message_name(message),
                                      at, st.error().what));
    }
    if (!std::equal(got.begin(), got.end(), want.begin())) {
        return make_error(fmt::format("xl migrate: expected the {} at offset {}: got \"{}\"",
                                      xl_migrate_message_name(message), at, printable(got)));
    }
    return ok_status();
}

Status write_xl_migrate_report(ByteSink& out, std::uint8_t status) {
    std::vector<std::uint8_t> b(xl_migrate_message_bytes(XlMigrateMessage::Report).begin(),
                                xl_migrate_message_bytes(XlMigrateMessage::Report).end());
    b.push_back(status);
    return out.write(b);
}

Result<std::uint8_t> read_xl_migrate_report(InputStream& in) {
    if (auto st = expect_xl_migrate_message(in, XlMigrateMessage::Report); !st) return st.error();
    std::uint8_t status = 0;
    const std::uint64_t at = in.offset();
    if (auto st = in.read_exact(std::span(&status, 1)); !st) {
        return make_error(fmt::format("xl migrate: expected the report's status byte at offset {}: {}", at,
                                      st.error().what));
    }
    return status;
}

}  // namespace xenolith::migration
