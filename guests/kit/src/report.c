/* Test verdicts and the final "Test result:" line. */
#include <kit/console.h>
#include <kit/hypercall.h>
#include <kit/lib.h>
#include <kit/report.h>

enum status { ST_RUNNING, ST_SUCCESS, ST_SKIP, ST_ERROR, ST_FAILURE };

static const char *const status_names[] = {
    [ST_RUNNING] = "RUNNING",
    [ST_SUCCESS] = "SUCCESS",
    [ST_SKIP] = "SKIP",
    [ST_ERROR] = "ERROR",
    [ST_FAILURE] = "FAILURE",
};

static enum status status = ST_RUNNING;
static unsigned int nr_failures;
static unsigned int nr_checks;

static const struct {
    int value;
    const char *name;
} errno_names[] = {
#define XEN_ERRNO(name, value) { value, "-" #name },
#include <xen/errno.h>
};

const char *xen_errno_name(long rc)
{
    if (rc == 0)
        return "0";
    for (size_t i = 0; i < ARRAY_SIZE(errno_names); i++)
        if (rc == -errno_names[i].value)
            return errno_names[i].name;
    return "?";
}

static void escalate(enum status s)
{
    if (s > status)
        status = s;
}

static void report(const char *prefix, const char *fmt, va_list ap)
{
    char buf[PRINTK_MAX];

    if (!fmt)
        return;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t n = strlen(buf);
    printk("%s%s%s", prefix, buf, n && buf[n - 1] == '\n' ? "" : "\n");
}

#define DEFINE_VERDICT(fn, st, prefix) \
    void fn(const char *fmt, ...)      \
    {                                  \
        va_list ap;                    \
        va_start(ap, fmt);             \
        report(prefix, fmt, ap);       \
        va_end(ap);                    \
        escalate(st);                  \
    }

DEFINE_VERDICT(xtf_success, ST_SUCCESS, "")
DEFINE_VERDICT(xtf_skip, ST_SKIP, "Skip: ")
DEFINE_VERDICT(xtf_error, ST_ERROR, "Error: ")

void xtf_failure(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    report("Failure: ", fmt, ap);
    va_end(ap);
    nr_failures++;
    escalate(ST_FAILURE);
}

unsigned int xtf_failures(void)
{
    return nr_failures;
}

bool check_at(int line, bool ok, const char *fmt, ...)
{
    char buf[PRINTK_MAX];
    va_list ap;

    nr_checks++;
    if (ok)
        return true;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    xtf_failure("line %d: %s", line, buf);
    return false;
}

bool check_rc_at(int line, long got, long want, const char *fmt, ...)
{
    char buf[PRINTK_MAX];
    va_list ap;

    nr_checks++;
    if (got == want)
        return true;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    xtf_failure("line %d: %s: got %ld (%s), expected %ld (%s)", line, buf, got,
                xen_errno_name(got), want, xen_errno_name(want));
    return false;
}

void xtf_exit(void)
{
    if (status == ST_RUNNING)
        xtf_error("test_main() returned without a verdict");
    if (nr_checks)
        printk("%u checks, %u failed\n", nr_checks, nr_failures);
    printk("Test result: %s\n", status_names[status]);
    console_flush();
    sched_shutdown(SHUTDOWN_poweroff);
}

void xtf_crash(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    report("Crash: ", fmt, ap);
    va_end(ap);
    printk("Test result: ERROR\n");
    console_flush();
    sched_shutdown(SHUTDOWN_crash);
}
