/* A minimal netif front-end: see kit/netfront.h. */
#include <kit/arch.h>
#include <kit/console.h>
#include <kit/evtchn.h>
#include <kit/gnttab.h>
#include <kit/hypercall.h>
#include <kit/lib.h>
#include <kit/netfront.h>
#include <kit/xenstore.h>

#define xen_mb()  __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define xen_rmb() barrier()
#define xen_wmb() barrier()
#include <xen/io/netif.h>
#include <xen/io/ring.h>
#include <xen/io/xenbus.h>

#define WAIT_NS 5000000000ull /* 5 s for the back-end to answer */

static uint8_t tx_ring_page[PAGE_SIZE] __page_aligned;
static uint8_t rx_ring_page[PAGE_SIZE] __page_aligned;
static uint8_t tx_page[PAGE_SIZE] __page_aligned;
static uint8_t rx_pages[NETFRONT_RX_BUFFERS][PAGE_SIZE] __page_aligned;
static netif_tx_front_ring_t tx;
static netif_rx_front_ring_t rx;
static evtchn_port_t port;
static uint8_t mac[6];
static char fe_path[32];

static long fe_write(const char *key, const char *value)
{
    char path[64];

    snprintf(path, sizeof(path), "%s/%s", fe_path, key);
    return xs_write(path, value);
}

static long fe_write_uint(const char *key, unsigned int value)
{
    char text[16];

    snprintf(text, sizeof(text), "%u", value);
    return fe_write(key, text);
}

/* Polls <backend>/state until it reads `want` (a XenbusState digit). */
static long wait_backend_state(const char *be, char want)
{
    char path[128], st[8];

    snprintf(path, sizeof(path), "%s/state", be);
    for (unsigned int i = 0; i < 500; i++) {
        if (xs_read(path, st, sizeof(st)) > 0 && st[0] == want && st[1] == '\0')
            return 0;
        xs_poll(10000000ull);
    }
    return -XEN_ETIMEDOUT;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* "xx:xx:xx:xx:xx:xx", as libxl writes it (Linux's xen_net_read_mac). */
static bool parse_mac(const char *s, uint8_t out[6])
{
    for (unsigned int i = 0; i < 6; i++, s += 3) {
        int hi = hex_digit(s[0]), lo = hex_digit(s[1]);

        if (hi < 0 || lo < 0 || s[2] != (i == 5 ? '\0' : ':'))
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

/* Puts rx buffer `id` on the ring (not yet pushed). */
static void post_rx_buffer(uint16_t id)
{
    netif_rx_request_t *req = RING_GET_REQUEST(&rx, rx.req_prod_pvt);

    req->id = id;
    req->gref = GREF_NETFRONT_RX_DATA + id;
    rx.req_prod_pvt++;
}

long netfront_connect(unsigned int vif)
{
    char be[96], path[128], value[32];
    long rc;

    snprintf(fe_path, sizeof(fe_path), "device/vif/%u", vif);
    snprintf(path, sizeof(path), "%s/backend", fe_path);
    if (xs_read(path, be, sizeof(be)) <= 0)
        return -XEN_ENOENT;
    snprintf(path, sizeof(path), "%s/mac", fe_path);
    if (xs_read(path, value, sizeof(value)) <= 0 || !parse_mac(value, mac))
        return -XEN_EINVAL;
    if ((rc = wait_backend_state(be, '0' + XenbusStateInitWait)))
        return rc;
    if ((rc = gnttab_map()))
        return rc;

    netif_tx_sring_t *tx_sring = (netif_tx_sring_t *)tx_ring_page;
    netif_rx_sring_t *rx_sring = (netif_rx_sring_t *)rx_ring_page;

    memset(tx_ring_page, 0, sizeof(tx_ring_page));
    memset(rx_ring_page, 0, sizeof(rx_ring_page));
    SHARED_RING_INIT(tx_sring);
    SHARED_RING_INIT(rx_sring);
    FRONT_RING_INIT(&tx, tx_sring, PAGE_SIZE);
    FRONT_RING_INIT(&rx, rx_sring, PAGE_SIZE);
    gnttab_grant(GREF_NETFRONT_TX_RING, tx_ring_page, false);
    gnttab_grant(GREF_NETFRONT_RX_RING, rx_ring_page, false);
    gnttab_grant(GREF_NETFRONT_TX_DATA, tx_page, true); /* the back-end only reads it */
    for (uint16_t id = 0; id < NETFRONT_RX_BUFFERS; id++) {
        gnttab_grant(GREF_NETFRONT_RX_DATA + id, rx_pages[id], false);
        post_rx_buffer(id);
    }
    RING_PUSH_REQUESTS(&rx); /* the back-end looks once it connects */
    if ((rc = evtchn_alloc_unbound(0, &port)))
        return rc;
    evtchn_mask(port); /* polled, never taken as an upcall */

    /* One queue: its keys at the top level (no multi-queue-num-queues).
     * Without feature-sg every frame fits one buffer; without checksum
     * offload the host completes checksums before a frame reaches us. */
    fe_write_uint("tx-ring-ref", GREF_NETFRONT_TX_RING);
    fe_write_uint("rx-ring-ref", GREF_NETFRONT_RX_RING);
    fe_write_uint("event-channel", port);
    fe_write("request-rx-copy", "1");
    fe_write("feature-rx-notify", "1");
    fe_write("feature-sg", "0");
    fe_write("feature-gso-tcpv4", "0");
    fe_write("feature-gso-tcpv6", "0");
    fe_write("feature-no-csum-offload", "1");
    fe_write("feature-ipv6-csum-offload", "0");
    /* As Linux's netfront: straight to Connected once the keys are there. */
    fe_write_uint("state", XenbusStateConnected);
    return wait_backend_state(be, '0' + XenbusStateConnected);
}

const uint8_t *netfront_mac(void)
{
    return mac;
}

long netfront_send(const void *frame, size_t len)
{
    if (len < 14 || len > NETFRONT_MAX_FRAME)
        return -XEN_EINVAL;
    memcpy(tx_page, frame, len);

    netif_tx_request_t *req = RING_GET_REQUEST(&tx, tx.req_prod_pvt);
    int notify;

    req->gref = GREF_NETFRONT_TX_DATA;
    req->offset = 0;
    req->flags = 0; /* one slot, no offload: the frame is complete */
    req->id = (uint16_t)tx.req_prod_pvt;
    req->size = (uint16_t)len;
    tx.req_prod_pvt++;
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&tx, notify);
    if (notify)
        evtchn_send(port);

    /* One frame in flight: tx_page is reused only once it is answered. */
    uint64_t deadline = xen_time_now() + WAIT_NS;

    while (!RING_HAS_UNCONSUMED_RESPONSES(&tx)) {
        uint64_t now = xen_time_now();

        if (now >= deadline)
            return -XEN_ETIMEDOUT;
        evtchn_clear_pending(port);
        if (RING_HAS_UNCONSUMED_RESPONSES(&tx))
            break;
        struct sched_poll poll = { .nr_ports = 1, .timeout = now + 10000000ull };

        set_xen_guest_handle(poll.ports, &port);
        HYPERVISOR_sched_op(SCHEDOP_poll, &poll);
    }
    xen_rmb();
    netif_tx_response_t *rsp = RING_GET_RESPONSE(&tx, tx.rsp_cons);
    int16_t status = rsp->status;

    tx.rsp_cons++;
    return status == NETIF_RSP_OKAY ? 0 : -XEN_EIO;
}

size_t netfront_poll_receive(void *buf, size_t cap)
{
    while (RING_HAS_UNCONSUMED_RESPONSES(&rx)) {
        xen_rmb();
        netif_rx_response_t rsp = *RING_GET_RESPONSE(&rx, rx.rsp_cons);
        size_t len = 0;
        int notify;

        rx.rsp_cons++;
        /* The back-end's answer is judged before it is used: a frame is
         * one whole slot (no feature-sg, no GSO extra info). */
        if (rsp.id >= NETFRONT_RX_BUFFERS)
            continue; /* not a buffer we posted: nothing to post again */
        if (rsp.status > 0 && !(rsp.flags & (NETRXF_more_data | NETRXF_extra_info)) &&
            rsp.offset + (size_t)rsp.status <= PAGE_SIZE) {
            len = (size_t)rsp.status < cap ? (size_t)rsp.status : cap;
            memcpy(buf, rx_pages[rsp.id] + rsp.offset, len);
        }
        post_rx_buffer(rsp.id);
        RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&rx, notify);
        if (notify)
            evtchn_send(port);
        if (len)
            return len;
    }
    return 0;
}
