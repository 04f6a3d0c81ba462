// The domain qualifier rule and libxl's log line, shared by xl and
// xenolithd (src/control/libxl_compat.hpp).
#include "control/libxl_compat.hpp"

#include <cerrno>

#include <gtest/gtest.h>

namespace xenolith::control {
namespace {

TEST(QualifierDomid, Digits_AreADomidWhetherOrNotADomainHasIt) {
    EXPECT_EQ(qualifier_domid("1"), 1u);
    EXPECT_EQ(qualifier_domid("007"), 7u);
    EXPECT_EQ(qualifier_domid(""), 0u);  // xl: no non-digit, strtoul("") is 0
}

TEST(QualifierDomid, AnythingElse_IsAName) {
    for (const char* q : {"web", "2a", "-1", " 2", "+3", "0x10"})
        EXPECT_FALSE(qualifier_domid(q).has_value()) << q;
}

TEST(QualifierDomid, NumbersPastSixteenBits_NeverWrapOntoADomain) {
    EXPECT_EQ(qualifier_domid("65537"), 65537u);
    EXPECT_FALSE(is_guest_domid(*qualifier_domid("65537")));
    // xl's strtoul into a uint32_t would make these 1.
    EXPECT_EQ(qualifier_domid("4294967297"), kNoDomid);
    EXPECT_EQ(qualifier_domid("99999999999999999999999999"), kNoDomid);
    EXPECT_EQ(qualifier_domid("4294967295"), kNoDomid);
    EXPECT_EQ(qualifier_domid("4294967294"), 4294967294u);
}

TEST(GuestDomid, OnlyBetweenZeroAndTheReservedRange) {
    EXPECT_FALSE(is_guest_domid(0));
    EXPECT_TRUE(is_guest_domid(1));
    EXPECT_TRUE(is_guest_domid(0x7fef));
    EXPECT_FALSE(is_guest_domid(0x7ff0));  // DOMID_FIRST_RESERVED
    EXPECT_FALSE(is_guest_domid(65537));
}

TEST(LibxlLogLine, PrefixesGuestDomidsOnly_AndAppendsErrnoText) {
    EXPECT_EQ(libxl_log_line("error", "libxl_domain.c:587:libxl_domain_pause", 99,
                             "Pausing domain", ESRCH),
              "libxl: error: libxl_domain.c:587:libxl_domain_pause: Domain 99:Pausing domain: "
              "No such process");
    EXPECT_EQ(libxl_log_line("error", "f.c:1:g", 65537, "x"), "libxl: error: f.c:1:g: x");
    EXPECT_EQ(libxl_log_line("warning", "f.c:1:g", 0, "x"), "libxl: warning: f.c:1:g: x");
    EXPECT_EQ(libxl_log_line("error", "f.c:1:g", kNoDomid, "x"), "libxl: error: f.c:1:g: x");
}

}  // namespace
}  // namespace xenolith::control

namespace xenolith::control {
namespace {

// xl_block.c main_blocklist's printf formats.
TEST(BlockList, header_and_rows_then_xl_widths) {
    EXPECT_EQ(block_list_header(),
              "Vdev  BE  handle state evt-ch ring-ref BE-path                       \n");
    EXPECT_EQ(block_list_row({51712, 0, 3, 4, 11, 8, "/local/domain/0/backend/vbd/3/51712"}),
              "51712 0   3      4     11     8        /local/domain/0/backend/vbd/3/51712\n");
    // A front-end that wrote nothing yet: -1s; a short path is padded to 30.
    EXPECT_EQ(block_list_row({768, 0, 12, 1, -1, -1, "/local/domain/0/backend/vbd/1"}),
              "768   0   12     1     -1     -1       /local/domain/0/backend/vbd/1 \n");
    // Columns grow; nothing is cut.
    EXPECT_EQ(block_list_row({268439552, 32752, 32752, 6, 1023, 123456789, "x"}),
              "268439552 32752 32752  6     1023   123456789 x                             \n");
}

}  // namespace
}  // namespace xenolith::control

namespace xenolith::control {
namespace {

// xl_nic.c main_networklist's printf formats (the MAC is printed with no
// separator before the right-aligned handle).
TEST(NetworkList, header_and_rows_then_xl_widths) {
    EXPECT_EQ(network_list_header(),
              "Idx BE Mac Addr.         handle state evt-ch   tx-/rx-ring-ref BE-path        "
              "               \n");
    NicInfo connected{0, 0, "00:16:3e:11:22:33", 4, 9, 768, 769, "/local/domain/0/backend/vif/5/0"};
    EXPECT_EQ(network_list_row(connected),
              "0   0  00:16:3e:11:22:33     0     4      9   768/769         "
              "/local/domain/0/backend/vif/5/0\n");
    NicInfo fresh{1, 0, "00:16:3e:11:22:34", 1, -1, -1, -1, "/local/domain/0/backend/vif/5/1"};
    EXPECT_EQ(network_list_row(fresh),
              "1   0  00:16:3e:11:22:34     1     1     -1    -1/-1          "
              "/local/domain/0/backend/vif/5/1\n");
}

}  // namespace
}  // namespace xenolith::control
