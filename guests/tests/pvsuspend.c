/*
 * PV suspend guest for tests/integration/xl-save.sh: what a Linux guest's
 * xenbus "control" handler does when the toolstack saves it.
 *
 *  - answers "pong" to every "ping" typed on its PV console, so the test
 *    can tell that a restored copy runs and its console is connected;
 *  - follows control/shutdown: on "suspend" it acknowledges the request
 *    and calls SCHEDOP_shutdown(SHUTDOWN_suspend). The call returns 1 when
 *    the suspend was cancelled (xl save -c, a failed migration: the same
 *    domain runs on, everything as it was) and 0 in the new domain after a
 *    restore, where, as Linux's xen_suspend path does, it maps shared_info
 *    again, sets its upcall, and reconnects console and xenstore through
 *    the ports the toolstack put in the HVM params; xenstore watches are
 *    registered again. "poweroff" ends the test.
 * Runs for at most 10 minutes.
 */
#include <kit/test.h>
#include <kit/xenstore.h>

const char test_title[] = "pvsuspend: suspend, cancel and resume across save/restore";

#define WAIT_SLICE_NS 20000000ull /* 20 ms: how soon console input is seen */
#define RUN_SLICES    30000u      /* 10 min of slices */

static char line[64];
static size_t line_len;

/* Everything that lives in the domain, not in guest memory: connected
 * again after a restore into a new domain. */
static long connect_to_toolstack(void)
{
    long rc = evtchn_init(UPCALL_AUTO);

    if (rc)
        return rc;
    console_init();
    rc = xs_connect();
    if (!rc)
        rc = xs_watch("control/shutdown", "ctl");
    return rc;
}

/* Takes what was typed on the console; "ping" anywhere in a line: pong. */
static void poll_console(void)
{
    struct xencons_interface *ring = console_ring();

    if (!ring)
        return;
    XENCONS_RING_IDX cons = READ_ONCE(ring->in_cons);
    XENCONS_RING_IDX prod = READ_ONCE(ring->in_prod);

    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    while (cons != prod) {
        char c = ring->in[MASK_XENCONS_IDX(cons++, ring->in)];

        if (c == '\n' || c == '\r' || line_len == sizeof(line) - 1) {
            line[line_len] = '\0';
            if (strstr(line, "ping"))
                printk("pong\n");
            line_len = 0;
        } else {
            line[line_len++] = c;
        }
    }
    __atomic_thread_fence(__ATOMIC_RELEASE);
    WRITE_ONCE(ring->in_cons, cons);
}

/* SCHEDOP_shutdown(SHUTDOWN_suspend): 0 resumed in a new domain, 1 cancelled. */
static void suspend(void)
{
    struct sched_shutdown s = { .reason = SHUTDOWN_suspend };

    printk("pvsuspend: suspending\n");
    long rc = HYPERVISOR_sched_op(SCHEDOP_shutdown, &s);

    if (rc == 1) {
        printk("pvsuspend: suspend cancelled, running on\n");
        return;
    }
    if (rc != 0) {
        xtf_error("SCHEDOP_shutdown(suspend) returned %ld\n", rc);
        return;
    }
    line_len = 0;
    rc = connect_to_toolstack();
    if (rc) {
        xtf_error("reconnecting after resume failed: %ld\n", rc);
        return;
    }
    printk("pvsuspend: resumed in a new domain; type ping\n");
}

void test_main(const struct hvm_start_info *si)
{
    (void)si;
    if (connect_to_toolstack()) {
        xtf_error("cannot connect to the toolstack\n");
        return;
    }
    printk("pvsuspend: ready; type ping\n");

    for (unsigned int slice = 0; slice < RUN_SLICES; slice++) {
        poll_console();
        long got = xs_wait_watch(NULL, 0, NULL, 0, WAIT_SLICE_NS);

        if (got < 0) {
            xtf_error("xenstore ring broke: %ld\n", got);
            return;
        }
        if (!got)
            continue;

        char cmd[16];

        if (xs_read("control/shutdown", cmd, sizeof(cmd)) <= 0 || cmd[0] == '\0')
            continue;
        xs_write("control/shutdown", ""); /* acknowledged, as a PV driver does */
        if (!strcmp(cmd, "suspend")) {
            suspend();
        } else if (!strcmp(cmd, "poweroff")) {
            xtf_success(NULL);
            return;
        }
    }
    xtf_error("nobody stopped the guest in 10 minutes\n");
}
