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
 * xenstore: io/xs_wire.h over the ring at HVM_PARAM_STORE_PFN, the channel
 * masked and waited on with SCHEDOP_poll, as guests/tests/xenstore.c.
 */
#include <kit/test.h>
#include <kit/traps.h>
#include <xen/io/xs_wire.h>

const char test_title[] = "pvcontrol: sysrq, NMI and shutdown from the toolstack";

#define MARKER        "xenolith-core-marker: dump me"
#define MARKER_PADDR  0x800000ul       /* 8 MiB: RAM, far from the image */
#define POLL_SLICE_NS 20000000ull      /* 20 ms */
#define RUN_POLLS     30000u           /* 10 min of slices */

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

static struct xenstore_domain_interface *ring;
static evtchn_port_t store_port;
static uint32_t next_req_id = 1;
static unsigned int watch_events;
static char reply[XENSTORE_PAYLOAD_MAX + 1];
static uint32_t reply_len;

static void wait_event(void)
{
    uint64_t now = xen_time_now();
    struct sched_poll poll = { .nr_ports = 1, .timeout = now ? now + POLL_SLICE_NS : 0 };

    set_xen_guest_handle(poll.ports, &store_port);
    HYPERVISOR_sched_op(SCHEDOP_poll, &poll);
}

static bool ring_put(const void *data, uint32_t len)
{
    const char *p = data;
    unsigned int polls = 0;

    while (len) {
        XENSTORE_RING_IDX cons = READ_ONCE(ring->req_cons);
        XENSTORE_RING_IDX prod = ring->req_prod;

        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        uint32_t room = XENSTORE_RING_SIZE - (prod - cons);

        if (room == 0 || room > XENSTORE_RING_SIZE) {
            evtchn_send(store_port);
            if (++polls > 500)
                return false;
            wait_event();
            continue;
        }
        uint32_t off = MASK_XENSTORE_IDX(prod);
        uint32_t chunk = len < room ? len : room;

        if (chunk > XENSTORE_RING_SIZE - off)
            chunk = XENSTORE_RING_SIZE - off;
        memcpy(ring->req + off, p, chunk);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        WRITE_ONCE(ring->req_prod, prod + chunk);
        p += chunk;
        len -= chunk;
    }
    evtchn_send(store_port);
    return true;
}

static bool ring_get(void *data, uint32_t len)
{
    char *p = data;
    unsigned int polls = 0;

    while (len) {
        evtchn_clear_pending(store_port);
        XENSTORE_RING_IDX cons = ring->rsp_cons;
        XENSTORE_RING_IDX prod = READ_ONCE(ring->rsp_prod);

        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (prod == cons) {
            if (++polls > 500)
                return false;
            wait_event();
            continue;
        }
        uint32_t avail = prod - cons;
        uint32_t off = MASK_XENSTORE_IDX(cons);
        uint32_t chunk = len < avail ? len : avail;

        if (chunk > XENSTORE_RING_SIZE - off)
            chunk = XENSTORE_RING_SIZE - off;
        memcpy(p, ring->rsp + off, chunk);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        WRITE_ONCE(ring->rsp_cons, cons + chunk);
        evtchn_send(store_port);
        p += chunk;
        len -= chunk;
    }
    return true;
}

static uint32_t read_message(uint32_t *req_id)
{
    struct xsd_sockmsg hdr;

    if (!ring_get(&hdr, sizeof(hdr)) || hdr.len > XENSTORE_PAYLOAD_MAX)
        return XS_INVALID;
    if (!ring_get(reply, hdr.len))
        return XS_INVALID;
    reply[hdr.len] = '\0';
    reply_len = hdr.len;
    *req_id = hdr.req_id;
    return hdr.type;
}

/* One request and its reply; watch events on the way are counted. */
static long xs_talk(uint32_t type, const void *payload, uint32_t len)
{
    struct xsd_sockmsg hdr = { .type = type, .req_id = next_req_id++, .len = len };

    if (!ring_put(&hdr, sizeof(hdr)) || !ring_put(payload, len))
        return -XEN_EIO;
    for (;;) {
        uint32_t id = 0;
        uint32_t got = read_message(&id);

        if (got == XS_INVALID)
            return -XEN_EIO;
        if (got == XS_WATCH_EVENT) {
            watch_events++;
            continue;
        }
        if (id != hdr.req_id)
            return -XEN_EIO;
        return got == type ? 0 : -XEN_EINVAL;
    }
}

static long xs_pair(uint32_t type, const char *a, const char *b, bool nul_after_b)
{
    char buf[256];
    size_t la = strlen(a) + 1, lb = strlen(b) + (nul_after_b ? 1 : 0);

    if (la + lb > sizeof(buf))
        return -XEN_E2BIG;
    memcpy(buf, a, la);
    memcpy(buf + la, b, lb);
    return xs_talk(type, buf, (uint32_t)(la + lb));
}

static long xs_read(const char *path)
{
    return xs_talk(XS_READ, path, (uint32_t)strlen(path) + 1);
}

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
    if (xs_read("control/sysrq") != 0 || reply_len == 0 || reply[0] == '\0')
        return;
    char key = reply[0];

    xs_pair(XS_WRITE, "control/sysrq", "", false);
    printk("pvcontrol: sysrq %c\n", key);
}

/* Returns the shutdown reason asked for, or -1. */
static int poll_shutdown(void)
{
    if (xs_read("control/shutdown") != 0 || reply_len == 0)
        return -1;
    int reason = -1;

    if (!strcmp(reply, "poweroff"))
        reason = SHUTDOWN_poweroff;
    else if (!strcmp(reply, "reboot"))
        reason = SHUTDOWN_reboot;
    xs_pair(XS_WRITE, "control/shutdown", "", false);
    printk("pvcontrol: control/shutdown = %s\n", reply);
    return reason;
}

void test_main(const struct hvm_start_info *si)
{
    const char *cmd = si->cmdline_paddr ? (const char *)(uintptr_t)si->cmdline_paddr : "";
    uint64_t pfn = 0, port = 0;

    traps_set_gate(2, pvcontrol_nmi_entry);
    printk("pvcontrol: cmdline \"%s\"\n", cmd);
    write_markers();
    if (strstr(cmd, "crash")) {
        printk("pvcontrol: crashing\n");
        sched_shutdown(SHUTDOWN_crash);
        return;
    }
    if (evtchn_init(UPCALL_AUTO)) {
        xtf_error("evtchn_init failed\n");
        return;
    }
    if (hvm_get_param(HVM_PARAM_STORE_PFN, &pfn) || hvm_get_param(HVM_PARAM_STORE_EVTCHN, &port) ||
        !pfn || !port) {
        xtf_error("no xenstore ring\n");
        return;
    }
    ring = (struct xenstore_domain_interface *)(uintptr_t)(pfn << PAGE_SHIFT);
    store_port = (evtchn_port_t)port;
    evtchn_mask(store_port);
    if (xs_pair(XS_WATCH, "control/sysrq", "sysrq", true) ||
        xs_pair(XS_WATCH, "control/shutdown", "ctl", true)) {
        xtf_error("cannot watch control/\n");
        return;
    }
    printk("pvcontrol: ready\n");

    unsigned int nmis_seen = 0, events_seen = ~0u;

    for (unsigned int polls = 0; polls < RUN_POLLS; polls++) {
        unsigned int n = READ_ONCE(nmi_count);

        if (n != nmis_seen) {
            nmis_seen = n;
            printk("pvcontrol: NMI %u\n", n);
        }
        if (watch_events != events_seen) {
            events_seen = watch_events;
            poll_sysrq();
            int reason = poll_shutdown();

            if (reason >= 0) {
                xtf_success(NULL);
                if (reason == SHUTDOWN_reboot)
                    sched_shutdown(SHUTDOWN_reboot);
                return;
            }
            continue;
        }
        evtchn_clear_pending(store_port);
        if (READ_ONCE(ring->rsp_prod) != ring->rsp_cons) {
            uint32_t id;

            if (read_message(&id) == XS_WATCH_EVENT)
                watch_events++;
            continue;
        }
        wait_event();
    }
    xtf_error("nobody stopped the guest in 10 minutes\n");
}
