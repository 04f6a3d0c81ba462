#include <kit/report.h>
#include <kit/start.h>
const char test_title[] = "console";
void test_main(const struct hvm_start_info *si) { (void)si; xtf_success(NULL); }
