/*
 * The test reporter (XTF's contract). test_main() records a verdict with
 * the helpers below and returns; the kit then prints exactly one line
 * "Test result: SUCCESS|SKIP|ERROR|FAILURE" as the last console line and
 * shuts down with SHUTDOWN_poweroff. The verdict only escalates:
 * SUCCESS < SKIP < ERROR < FAILURE, and failures accumulate (each printed).
 * Returning without any verdict reports ERROR.
 */
#ifndef KIT_REPORT_H
#define KIT_REPORT_H

#include <kit/types.h>

/* Each test defines its one-line description. */
extern const char test_title[];

void xtf_success(const char *fmt, ...) __printf(1, 2); /* fmt may be NULL */
void xtf_skip(const char *fmt, ...) __printf(1, 2);
void xtf_error(const char *fmt, ...) __printf(1, 2);
void xtf_failure(const char *fmt, ...) __printf(1, 2);

/* Print the verdict line and power off. */
__noreturn void xtf_exit(void);

/* Unrecoverable: print the reason, "Test result: ERROR", SHUTDOWN_crash. */
__noreturn void xtf_crash(const char *fmt, ...) __printf(1, 2);

/* Number of failures recorded so far. */
unsigned int xtf_failures(void);

/* Record a failure when cond is false; returns cond. */
#define check(cond, fmt, ...) \
    check_at(__LINE__, !!(cond), fmt, ##__VA_ARGS__)

/*
 * Compare a hypercall result with the exact expected value, e.g.
 * check_rc(rc, -XEN_EINVAL, "get_param(%u)", idx). Prints names of errnos.
 */
#define check_rc(got, want, fmt, ...) \
    check_rc_at(__LINE__, (long)(got), (long)(want), fmt, ##__VA_ARGS__)

bool check_at(int line, bool ok, const char *fmt, ...) __printf(3, 4);
bool check_rc_at(int line, long got, long want, const char *fmt, ...) __printf(4, 5);

/* "-EINVAL" for -22, "0" for 0, "?" for unknown values. */
const char *xen_errno_name(long rc);

#endif /* KIT_REPORT_H */
