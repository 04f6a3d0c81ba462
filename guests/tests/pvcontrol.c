/*
 * PV control guest for tests/integration/manage.sh: what a Linux guest's
 * xenbus "control" handlers and NMI handler would show, on the console.
 *
 *  - writes MARKER at physical MARKER_PADDR and into core_marker (for
 *    `xl dump-core` + gdb), and prints both addresses;
 *  - watches control/sysrq as Linux's sysrq_handler does: prints the key
 *    ("pvcontrol: sysrq <c>") and clears the node;
 *  - counts NMIs (vector 2, `xl trigger <dom> nmi`): "pvcontrol: NMI <n>";
 *  - follows control/shutdown (poweroff/reboot), acknowledging it.
 * With "crash" in the command line it crashes (SHUTDOWN_crash) right after
 * writing the markers. Runs for at most 10 minutes.
 *
 * xenstore through the kit's client (kit/xenstore.h).
 */
#include <kit/test.h>
#include <kit/traps.h>
#include <kit/xenstore.h>

const char test_title[] = "pvcontrol: sysrq, NMI and shutdown from the toolstack";

#define MARKER        "xenolith-core-marker: dump me"
#define MARKER_PADDR  0x800000ul       /* 8 MiB: RAM, far from the image */
#define WAIT_SLICE_NS 20000000ull      /* 20 ms: how soon an NMI is reported */
#define RUN_SLICES    30000u           /* 10 min of slices */

char core_marker[64];
volatile unsigned int nmi_count;

/* NMI gate: count and return (no registers touched but the flags). */
void pvcontrol_nmi_entry(void);
__asm__(".pushsection .text\n"
        ".global pvcontrol_nmi_entry\n"
        "pvcontrol_nmi_entry:\n"
        "    lock incl nmi_count(%rip)\n"
        "    iretq\n"
        ".popsection\n");

static void write_markers(void)
{
    static const char marker[] = MARKER;

    memcpy((void *)MARKER_PADDR, marker, sizeof(marker));
    memcpy(core_marker, marker, sizeof(marker));
    printk("pvcontrol: marker at %#lx and %p\n", MARKER_PADDR, (void *)core_marker);
}

/* Linux's sysrq_handler: take the key, clear the node, act on it. */
static void poll_sysrq(void)
{
    char key[4];

    if (xs_read("control/sysrq", key, sizeof(key)) <= 0 || key[0] == '\0')
        return;
    xs_write("control/sysrq", "");
    printk("pvcontrol: sysrq %c\n", key[0]);
}

/* Returns the shutdown reason asked for, or -1. */
static int poll_shutdown(void)
{
    char cmd[16];
    int reason = -1;

    if (xs_read("control/shutdown", cmd, sizeof(cmd)) <= 0)
        return -1;
    if (!strcmp(cmd, "poweroff"))
        reason = SHUTDOWN_poweroff;
    else if (!strcmp(cmd, "reboot"))
        reason = SHUTDOWN_reboot;
    xs_write("control/shutdown", ""); /* acknowledged, as a PV driver does */
    printk("pvcontrol: control/shutdown = %s\n", cmd);
    return reason;
}

void test_main(const struct hvm_start_info *si)
{
    const char *cmd = si->cmdline_paddr ? (const char *)(uintptr_t)si->cmdline_paddr : "";

    traps_set_gate(2, pvcontrol_nmi_entry);
    printk("pvcontrol: cmdline \"%s\"\n", cmd);
    write_markers();
    if (strstr(cmd, "crash")) {
        printk("pvcontrol: crashing\n");
        sched_shutdown(SHUTDOWN_crash);
    }
    if (evtchn_init(UPCALL_AUTO)) {
        xtf_error("evtchn_init failed\n");
        return;
    }
    if (xs_connect() || xs_watch("control/sysrq", "sysrq") ||
        xs_watch("control/shutdown", "ctl")) {
        xtf_error("cannot watch control/\n");
        return;
    }
    printk("pvcontrol: ready\n");

    unsigned int nmis_seen = 0;

    for (unsigned int slice = 0; slice < RUN_SLICES; slice++) {
        unsigned int n = READ_ONCE(nmi_count);

        if (n != nmis_seen) {
            nmis_seen = n;
            printk("pvcontrol: NMI %u\n", n);
        }
        long got = xs_wait_watch(NULL, 0, NULL, 0, WAIT_SLICE_NS);

        if (got < 0) {
            xtf_error("xenstore ring broke: %ld\n", got);
            return;
        }
        if (!got)
            continue;
        poll_sysrq();
        int reason = poll_shutdown();

        if (reason >= 0) {
            xtf_success(NULL);
            if (reason == SHUTDOWN_reboot)
                sched_shutdown(SHUTDOWN_reboot);
            return;
        }
    }
    xtf_error("nobody stopped the guest in 10 minutes\n");
}
