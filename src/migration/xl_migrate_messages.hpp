// The fixed messages `xl migrate` and its receiver (`xl migrate-receive`,
// run over ssh) exchange around the save stream. Sender's view:
//
//   recv  banner          (no NUL)
//   send  xl save header + libxl stream
//   recv  receiver ready  (NUL included)
//   send  permission to go (NUL included)
//   recv  report (NUL included) + one status byte, 0 = guest running;
//         on non-zero, the receiver then sends permission to go back, and
//         the sender resumes its copy.
#pragma once

#include <cstdint>
#include <string_view>

#include "migration/byte_stream.hpp"

namespace xenolith::migration {

enum class XlMigrateMessage { ReceiverBanner, ReceiverReady, PermissionToGo, Report };

// The message's bytes exactly as xl puts them on the wire.
ByteSpan xl_migrate_message_bytes(XlMigrateMessage message);
std::string_view xl_migrate_message_name(XlMigrateMessage message);

Status write_xl_migrate_message(ByteSink& out, XlMigrateMessage message);
// Reads the message's length and compares; errors read "xl migrate:
// expected the <name> at offset X: <why>".
Status expect_xl_migrate_message(InputStream& in, XlMigrateMessage message);

// The report and its status byte.
Status write_xl_migrate_report(ByteSink& out, std::uint8_t status);
Result<std::uint8_t> read_xl_migrate_report(InputStream& in);

}  // namespace xenolith::migration
