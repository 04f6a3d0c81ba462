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
 *  - checks, after each resume, what must have survived: a 1 MiB pattern
 *    written at boot, the dirtied pages' last values, a counter, time that
 *    moved forward, and, in the new domain, a timer VIRQ and an IPI that
 *    are delivered on freshly bound ports;
 *  - with "disk" on its command line, drives xvda through the kit's
 *    blkfront: one 4 KiB write per poll, round-robin over 16 slots, each
 *    holding its write's sequence number; after a resume into a new domain
 *    it connects to the new back-end and reads every slot back: each must
 *    hold the last write acknowledged to it (none lost, none torn);
 *  - with "net" on its command line, drives vif 0 through the kit's
 *    netfront: one Ethernet broadcast per poll (ethertype 0x88b5, payload
 *    "xenolith-net <sequence number>"), and every frame of that type
 *    whose payload is "ping <rest>" answered with "pong <rest>" to its
 *    sender; after a resume into a new domain it connects to the new
 *    back-end and runs on (tests/integration/tap-echo.py is the far end);
 *  - prints how long it was away, in its own Xen system time (the host's
 *    monotonic clock): the downtime a guest sees, handshakes included;
 *  - with "dirty=N" on its command line, writes one word into every page
 *    of N MiB (from 16 MiB up) between polls: a guest that keeps dirtying
 *    memory during a live migration (bench/xl-migrate.sh);
 *  - with "fill=N", writes every page of N MiB (from 32 MiB up) once at
 *    boot: a guest whose memory is in use, not a fresh one.
 * Runs for at most 10 minutes.
 */
#include <kit/blkfront.h>
#include <kit/netfront.h>
#include <kit/test.h>
#include <kit/xenstore.h>

const char test_title[] = "pvsuspend: suspend, cancel and resume across save/restore";

#define WAIT_SLICE_NS 20000000ull /* 20 ms: how soon console input is seen */
#define RUN_SLICES    30000u      /* 10 min of slices */

#define PATTERN_BASE  0x1000000ul /* 16 MiB: RAM, far from the image */
#define PATTERN_PAGES 256u        /* 1 MiB */
#define DIRTY_BASE    0x1100000ul /* right after the pattern */
#define FILL_BASE     0x2000000ul /* 32 MiB */

static char line[64];
static unsigned long dirty_pages;
static unsigned long dirty_generation;
static volatile unsigned long suspend_count;

#define DISK_VDEV  51712u /* xvda */
#define DISK_SLOTS 16u
#define DISK_MAGIC 0x78656e6f6c697468ul /* "xenolith" */
static bool use_disk;
static unsigned long disk_seq;
static unsigned long disk_acked[DISK_SLOTS];
static unsigned long disk_buf[PAGE_SIZE / sizeof(unsigned long)];

/* Slot s is sectors 8s..8s+7; its page is the magic, then the sequence
 * number in every other word. */
static long disk_write_next(void)
{
    unsigned long seq = ++disk_seq;
    unsigned int slot = seq % DISK_SLOTS;

    disk_buf[0] = DISK_MAGIC;
    for (unsigned int i = 1; i < sizeof(disk_buf) / sizeof(disk_buf[0]); i++)
        disk_buf[i] = seq;
    long rc = blkfront_write(slot * 8ull, disk_buf);

    if (!rc)
        disk_acked[slot] = seq;
    return rc;
}

/* Every slot holds the last write acknowledged to it, whole. */
static bool disk_intact(void)
{
    for (unsigned int slot = 0; slot < DISK_SLOTS; slot++) {
        if (!disk_acked[slot])
            continue;
        long rc = blkfront_read(slot * 8ull, disk_buf);

        if (rc) {
            xtf_failure("reading slot %u back failed: %ld\n", slot, rc);
            return false;
        }
        for (unsigned int i = 1; i < sizeof(disk_buf) / sizeof(disk_buf[0]); i++)
            if (disk_buf[0] != DISK_MAGIC || disk_buf[i] != disk_acked[slot]) {
                xtf_failure("slot %u word %u holds %#lx, want %#lx (acknowledged)\n", slot, i,
                            disk_buf[i], disk_acked[slot]);
                return false;
            }
    }
    return true;
}

#define NET_VIF       0u
#define NET_ETHERTYPE 0x88b5 /* IEEE 802 local experimental */
#define NET_MIN_FRAME 60     /* Ethernet's minimum, without the FCS */
#define ETH_HLEN      14
static bool use_net;
static unsigned long net_seq;                 /* beacons sent */
static unsigned long net_received, net_pongs; /* frames taken, pings answered */
static uint8_t net_frame[NETFRONT_MAX_FRAME];
static uint8_t net_rx_frame[NETFRONT_MAX_FRAME];

/* An Ethernet frame from our MAC to `dst` of our ethertype carrying
 * `payload`, padded to the minimum. */
static long net_send(const uint8_t *dst, const char *payload, size_t len)
{
    size_t total = ETH_HLEN + len;

    if (total > sizeof(net_frame))
        return -XEN_EINVAL;
    memcpy(net_frame, dst, 6);
    memcpy(net_frame + 6, netfront_mac(), 6);
    net_frame[12] = NET_ETHERTYPE >> 8;
    net_frame[13] = NET_ETHERTYPE & 0xff;
    memcpy(net_frame + ETH_HLEN, payload, len);
    if (total < NET_MIN_FRAME) {
        memset(net_frame + total, 0, NET_MIN_FRAME - total);
        total = NET_MIN_FRAME;
    }
    return netfront_send(net_frame, total);
}

static long net_send_beacon(void)
{
    static const uint8_t broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    char payload[40];
    int len = snprintf(payload, sizeof(payload), "xenolith-net %lu", ++net_seq);

    return net_send(broadcast, payload, (size_t)len);
}

/* Every frame waiting: ours that say "ping <rest>" get "pong <rest>" back
 * (the rest ends at the frame's end or its padding). */
static long net_answer_pings(void)
{
    size_t len;

    while ((len = netfront_poll_receive(net_rx_frame, sizeof(net_rx_frame)))) {
        net_received++;
        if (len < ETH_HLEN + 5 || net_rx_frame[12] != NET_ETHERTYPE >> 8 ||
            net_rx_frame[13] != (NET_ETHERTYPE & 0xff) || memcmp(net_rx_frame + ETH_HLEN, "ping ", 5))
            continue;
        const char *rest = (const char *)net_rx_frame + ETH_HLEN + 5;
        size_t rest_len = strnlen(rest, len - ETH_HLEN - 5);
        char payload[64];

        if (rest_len > sizeof(payload) - 5)
            continue;
        memcpy(payload, "pong ", 5);
        memcpy(payload + 5, rest, rest_len);
        long rc = net_send(net_rx_frame + 6, payload, 5 + rest_len);

        if (rc)
            return rc;
        net_pongs++;
    }
    return 0;
}

static void net_summary(void)
{
    printk("pvsuspend: net: %lu frames sent, the last numbered %lu, %lu received, %lu pings answered\n",
           net_seq + net_pongs, net_seq, net_received, net_pongs);
}

static unsigned long pattern_word(unsigned long page, unsigned long word)
{
    return (page * 0x9e3779b97f4a7c15ul) ^ (word * 0xbf58476d1ce4e5b9ul) ^ 0x5a5a5a5a5a5a5a5aul;
}

static void write_pattern(void)
{
    for (unsigned long pg = 0; pg < PATTERN_PAGES; pg++) {
        unsigned long *w = (unsigned long *)(PATTERN_BASE + (pg << PAGE_SHIFT));

        for (unsigned long i = 0; i < PAGE_SIZE / sizeof(*w); i++)
            w[i] = pattern_word(pg, i);
    }
}

/* Memory as it was: the pattern, and every dirtied page's last value. */
static bool memory_intact(void)
{
    for (unsigned long pg = 0; pg < PATTERN_PAGES; pg++) {
        const unsigned long *w = (const unsigned long *)(PATTERN_BASE + (pg << PAGE_SHIFT));

        for (unsigned long i = 0; i < PAGE_SIZE / sizeof(*w); i++)
            if (w[i] != pattern_word(pg, i)) {
                xtf_failure("pattern page %lu word %lu changed\n", pg, i);
                return false;
            }
    }
    for (unsigned long i = 0; i < dirty_pages; i++)
        if (*(volatile unsigned long *)(DIRTY_BASE + (i << PAGE_SHIFT)) != dirty_generation) {
            xtf_failure("dirtied page %lu lost its last write\n", i);
            return false;
        }
    return true;
}

/* In the new domain: ports bound now deliver (a timer VIRQ, an IPI). */
static bool events_deliver(void)
{
    evtchn_port_t timer, ipi;
    bool ok = true;

    if (evtchn_bind_virq(VIRQ_TIMER, 0, &timer) || evtchn_bind_ipi(0, &ipi)) {
        xtf_failure("binding VIRQ_TIMER or an IPI after resume failed\n");
        return false;
    }
    evtchn_bind_handler(timer, NULL, NULL);
    evtchn_bind_handler(ipi, NULL, NULL);
    unsigned int t0 = evtchn_count(timer), i0 = evtchn_count(ipi);

    if (HYPERVISOR_set_timer_op(xen_time_now() + 1000000) || !evtchn_wait(timer, t0 + 1)) {
        xtf_failure("no timer VIRQ after resume\n");
        ok = false;
    }
    evtchn_send(ipi);
    if (!evtchn_wait(ipi, i0 + 1)) {
        xtf_failure("no IPI after resume\n");
        ok = false;
    }
    evtchn_unbind_handler(timer);
    evtchn_unbind_handler(ipi);
    evtchn_close(timer);
    evtchn_close(ipi);
    return ok;
}
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
    if (!rc && use_disk)
        rc = blkfront_connect(DISK_VDEV);
    if (!rc && use_net)
        rc = netfront_connect(NET_VIF);
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

/* "<key>N" in the command line: N MiB as pages (0 without it). */
static unsigned long parse_mib_pages(const char *cmd, const char *key)
{
    const char *p = strstr(cmd, key);
    unsigned long mib = 0;

    if (!p)
        return 0;
    for (p += strlen(key); *p >= '0' && *p <= '9'; p++)
        mib = mib * 10 + (unsigned long)(*p - '0');
    return mib << (20 - PAGE_SHIFT);
}

static void fill_memory(unsigned long pages)
{
    for (unsigned long i = 0; i < pages; i++)
        WRITE_ONCE(*(volatile unsigned long *)(FILL_BASE + (i << PAGE_SHIFT)), i + 1);
}

static void dirty_memory(void)
{
    dirty_generation++;
    for (unsigned long i = 0; i < dirty_pages; i++)
        WRITE_ONCE(*(volatile unsigned long *)(DIRTY_BASE + (i << PAGE_SHIFT)), dirty_generation);
}

/* SCHEDOP_shutdown(SHUTDOWN_suspend): 0 resumed in a new domain, 1 cancelled. */
static void suspend(void)
{
    struct sched_shutdown s = { .reason = SHUTDOWN_suspend };

    printk("pvsuspend: suspending\n");
    uint64_t before = xen_time_now();
    unsigned long count = ++suspend_count;
    long rc = HYPERVISOR_sched_op(SCHEDOP_shutdown, &s);

    if (rc == 1) {
        if (memory_intact() && (!use_disk || disk_intact()))
            printk("pvsuspend: suspend cancelled, running on\n");
        if (use_net)
            net_summary();
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
    uint64_t after = xen_time_now();

    if (!memory_intact() || suspend_count != count || !events_deliver())
        return;
    if (use_disk) {
        if (!disk_intact())
            return;
        printk("pvsuspend: disk: %lu writes, every acknowledged one read back\n", disk_seq);
    }
    if (use_net) {
        printk("pvsuspend: net reconnected\n");
        net_summary();
    }
    if (after <= before) {
        xtf_failure("time went back across the resume: %lu -> %lu\n", (unsigned long)before,
                    (unsigned long)after);
        return;
    }
    printk("pvsuspend: memory, counter, timer and IPI checked\n");
    printk("pvsuspend: resumed in a new domain after %lu us; type ping\n",
           (unsigned long)((after - before) / 1000));
}

void test_main(const struct hvm_start_info *si)
{
    const char *cmdline = si->cmdline_paddr ? (const char *)(uintptr_t)si->cmdline_paddr : "";

    dirty_pages = parse_mib_pages(cmdline, "dirty=");
    fill_memory(parse_mib_pages(cmdline, "fill="));
    use_disk = strstr(cmdline, "disk") != NULL;
    use_net = strstr(cmdline, "net") != NULL;
    write_pattern();
    if (connect_to_toolstack()) {
        xtf_error("cannot connect to the toolstack\n");
        return;
    }
    if (use_disk)
        printk("pvsuspend: disk connected, %lu sectors\n", (unsigned long)blkfront_sectors());
    if (use_net) {
        const uint8_t *m = netfront_mac();

        printk("pvsuspend: net connected, mac %02x:%02x:%02x:%02x:%02x:%02x\n", m[0], m[1], m[2], m[3],
               m[4], m[5]);
    }
    printk("pvsuspend: ready; dirtying %lu pages; type ping\n", dirty_pages);

    for (unsigned int slice = 0; slice < RUN_SLICES; slice++) {
        poll_console();
        dirty_memory();
        if (use_disk && disk_write_next()) {
            xtf_failure("disk write %lu failed\n", disk_seq);
            return;
        }
        long net_rc = use_net ? net_answer_pings() : 0;

        if (!net_rc && use_net)
            net_rc = net_send_beacon();
        if (net_rc) {
            xtf_failure("net: sending frame %lu failed: %ld\n", net_seq, net_rc);
            return;
        }
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
            if (use_net)
                net_summary();
            xtf_success(NULL);
            return;
        }
    }
    xtf_error("nobody stopped the guest in 10 minutes\n");
}
