/*
 * A service domain for tests/integration/autostart.sh: it stays up like a
 * real guest until asked to stop. It reads its name from xenstore, prints
 * "service NAME: up", then sleeps on its xenstore channel with a watch on
 * ~/control/shutdown. On a request it acknowledges it as Linux's xenbus
 * handler does (clearing the node), prints "service NAME: shutting down
 * (poweroff)" and ends (the kit powers off). Both lines also go to the
 * hypervisor log, so `xl dmesg` shows the order in which services stopped.
 *
 * With "ignore-shutdown" on its command line it prints "service NAME:
 * ignoring control/shutdown = poweroff" and sleeps on, never acknowledging,
 * like a hung guest, until it is destroyed.
 *
 * The store channel is masked and waited on with SCHEDOP_poll without a
 * timeout: an idle service uses no CPU.
 */
#include <kit/test.h>
#include <xen/io/xs_wire.h>

const char test_title[] = "service: runs until control/shutdown asks it to stop";

static struct xenstore_domain_interface *ring;
static evtchn_port_t store_port;
static uint32_t next_req_id = 1;
static char reply[XENSTORE_PAYLOAD_MAX + 1];
static uint32_t reply_len;
static char name[64] = "?";

/* Sleeps until the store channel fires (it may have already). */
static void wait_store(void)
{
    struct sched_poll poll = { .nr_ports = 1, .timeout = 0 };

    set_xen_guest_handle(poll.ports, &store_port);
    HYPERVISOR_sched_op(SCHEDOP_poll, &poll);
}

static void ring_put(const void *data, uint32_t len)
{
    const char *p = data;

    while (len) {
        evtchn_clear_pending(store_port);
        XENSTORE_RING_IDX cons = READ_ONCE(ring->req_cons);
        XENSTORE_RING_IDX prod = ring->req_prod;

        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        uint32_t room = XENSTORE_RING_SIZE - (prod - cons);

        if (room == 0 || room > XENSTORE_RING_SIZE) {
            evtchn_send(store_port);
            wait_store();
            continue;
        }
        uint32_t off = MASK_XENSTORE_IDX(prod);
        uint32_t chunk = len < room ? len : room;

        if (chunk > XENSTORE_RING_SIZE - off)
            chunk = XENSTORE_RING_SIZE - off;
        memcpy(ring->req + off, p, chunk);
        __atomic_thread_fence(__ATOMIC_RELEASE);
        WRITE_ONCE(ring->req_prod, prod + chunk);
        p += chunk;
        len -= chunk;
    }
    evtchn_send(store_port);
}

static bool ring_has_reply(void)
{
    return READ_ONCE(ring->rsp_prod) != ring->rsp_cons;
}

static void ring_get(void *data, uint32_t len)
{
    char *p = data;

    while (len) {
        evtchn_clear_pending(store_port);
        XENSTORE_RING_IDX cons = ring->rsp_cons;
        XENSTORE_RING_IDX prod = READ_ONCE(ring->rsp_prod);

        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (prod == cons) {
            wait_store();
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
}

/* Reads one message into `reply`; returns its type (XS_INVALID if bad). */
static uint32_t read_message(uint32_t *req_id)
{
    struct xsd_sockmsg hdr;

    ring_get(&hdr, sizeof(hdr));
    if (hdr.len > XENSTORE_PAYLOAD_MAX)
        return XS_INVALID;
    ring_get(reply, hdr.len);
    reply[hdr.len] = '\0';
    reply_len = hdr.len;
    *req_id = hdr.req_id;
    return hdr.type;
}

/* One request and its reply (watch events met on the way are dropped:
 * the caller reads control/shutdown again after every wake-up). */
static long xs_talk(uint32_t type, const void *payload, uint32_t len)
{
    struct xsd_sockmsg hdr = { .type = type, .req_id = next_req_id++, .len = len };

    ring_put(&hdr, sizeof(hdr));
    ring_put(payload, len);
    for (;;) {
        uint32_t id = 0;
        uint32_t got = read_message(&id);

        if (got == XS_INVALID)
            return -XEN_EIO;
        if (got == XS_WATCH_EVENT)
            continue;
        if (id != hdr.req_id)
            return -XEN_EIO;
        return got == XS_ERROR ? -XEN_EINVAL : 0;
    }
}

static long xs_read(const char *path)
{
    return xs_talk(XS_READ, path, (uint32_t)strlen(path) + 1);
}

static long xs_write(const char *path, const char *value)
{
    char buf[128];
    size_t lp = strlen(path) + 1, lv = strlen(value);

    if (lp + lv > sizeof(buf))
        return -XEN_E2BIG;
    memcpy(buf, path, lp);
    memcpy(buf + lp, value, lv);
    return xs_talk(XS_WRITE, buf, (uint32_t)(lp + lv));
}

static long xs_watch(const char *path, const char *token)
{
    char buf[128];
    size_t lp = strlen(path) + 1, lt = strlen(token) + 1;

    if (lp + lt > sizeof(buf))
        return -XEN_E2BIG;
    memcpy(buf, path, lp);
    memcpy(buf + lp, token, lt);
    return xs_talk(XS_WATCH, buf, (uint32_t)(lp + lt));
}

static bool connect_store(void)
{
    uint64_t pfn = 0, port = 0;

    if (hvm_get_param(HVM_PARAM_STORE_PFN, &pfn) || hvm_get_param(HVM_PARAM_STORE_EVTCHN, &port) ||
        !pfn || pfn >= (1ul << 20) || !port) {
        xtf_error("no xenstore ring (pfn %#llx, port %llu)\n", (unsigned long long)pfn,
                  (unsigned long long)port);
        return false;
    }
    ring = (struct xenstore_domain_interface *)(uintptr_t)(pfn << PAGE_SHIFT);
    store_port = (evtchn_port_t)port;
    evtchn_mask(store_port);
    return true;
}

void test_main(const struct hvm_start_info *si)
{
    const char *cmdline = si->cmdline_paddr ? (const char *)(uintptr_t)si->cmdline_paddr : "";
    bool ignore = strstr(cmdline, "ignore-shutdown") != NULL;
    bool told = false;

    if (evtchn_init(UPCALL_AUTO)) {
        xtf_error("evtchn_init failed\n");
        return;
    }
    if (!connect_store())
        return;
    if (xs_read("name") == 0)
        snprintf(name, sizeof(name), "%s", reply);
    if (xs_watch("control/shutdown", "ctl")) {
        xtf_error("cannot watch control/shutdown\n");
        return;
    }
    printk("service %s: up\n", name);
    for (;;) {
        if (xs_read("control/shutdown") == 0 && reply_len > 0) {
            if (!ignore)
                break;
            if (!told)
                printk("service %s: ignoring control/shutdown = %s\n", name, reply);
            told = true;
        }
        /* Sleep until the next watch event (or any store traffic). */
        for (;;) {
            evtchn_clear_pending(store_port);
            if (ring_has_reply())
                break;
            wait_store();
        }
        uint32_t id;

        read_message(&id);
    }
    char request[16];

    snprintf(request, sizeof(request), "%s", reply);
    if (xs_write("control/shutdown", "")) {
        xtf_error("cannot acknowledge control/shutdown\n");
        return;
    }
    printk("service %s: shutting down (%s)\n", name, request);
    xtf_success(NULL);
}
