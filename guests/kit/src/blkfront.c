/* A minimal blkif front-end: see kit/blkfront.h. */
#include <kit/arch.h>
#include <kit/blkfront.h>
#include <kit/console.h>
#include <kit/evtchn.h>
#include <kit/gnttab.h>
#include <kit/hypercall.h>
#include <kit/lib.h>
#include <kit/xenstore.h>

#define xen_mb()  __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define xen_rmb() barrier()
#define xen_wmb() barrier()
#include <xen/io/blkif.h>
#include <xen/io/protocols.h>
#include <xen/io/ring.h>
#include <xen/io/xenbus.h>

#define WAIT_NS   5000000000ull /* 5 s for the back-end to answer */

static uint8_t ring_page[PAGE_SIZE] __page_aligned;
static uint8_t data_page[PAGE_SIZE] __page_aligned;
static blkif_front_ring_t ring;
static evtchn_port_t port;
static unsigned int handle;
static uint64_t sectors;
static char fe_path[32];

static long fe_write(const char *key, const char *value)
{
    char path[64];

    snprintf(path, sizeof(path), "%s/%s", fe_path, key);
    return xs_write(path, value);
}

/* Polls <backend>/<key> until it reads `want` (a XenbusState digit). */
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

long blkfront_connect(unsigned int vdev)
{
    char be[96], path[128], value[32];
    long rc;

    handle = vdev;
    snprintf(fe_path, sizeof(fe_path), "device/vbd/%u", vdev);
    snprintf(path, sizeof(path), "%s/backend", fe_path);
    if (xs_read(path, be, sizeof(be)) <= 0)
        return -XEN_ENOENT;
    if ((rc = wait_backend_state(be, '0' + XenbusStateInitWait)))
        return rc;
    if ((rc = gnttab_map()))
        return rc;

    blkif_sring_t *sring = (blkif_sring_t *)ring_page;

    memset(ring_page, 0, sizeof(ring_page));
    SHARED_RING_INIT(sring);
    FRONT_RING_INIT(&ring, sring, PAGE_SIZE);
    gnttab_grant(GREF_BLKFRONT_RING, ring_page, false);
    gnttab_grant(GREF_BLKFRONT_DATA, data_page, false);
    if ((rc = evtchn_alloc_unbound(0, &port)))
        return rc;
    evtchn_mask(port); /* polled, never taken as an upcall */

    snprintf(value, sizeof(value), "%u", GREF_BLKFRONT_RING);
    fe_write("ring-ref", value);
    snprintf(value, sizeof(value), "%u", port);
    fe_write("event-channel", value);
    fe_write("protocol", XEN_IO_PROTO_ABI_X86_64);
    snprintf(value, sizeof(value), "%d", XenbusStateInitialised);
    fe_write("state", value);
    if ((rc = wait_backend_state(be, '0' + XenbusStateConnected)))
        return rc;

    uint64_t n = 0;

    snprintf(path, sizeof(path), "%s/sectors", be);
    if (xs_read_u64(path, &n) || n == 0)
        return -XEN_EIO;
    sectors = n;
    snprintf(value, sizeof(value), "%d", XenbusStateConnected);
    fe_write("state", value);
    return 0;
}

uint64_t blkfront_sectors(void)
{
    return sectors;
}

static long one_request(uint8_t op, uint64_t sector)
{
    blkif_request_t *req = RING_GET_REQUEST(&ring, ring.req_prod_pvt);
    int notify;

    req->operation = op;
    req->nr_segments = 1;
    req->handle = (blkif_vdev_t)handle;
    req->id = ring.req_prod_pvt;
    req->sector_number = sector;
    req->seg[0] = (struct blkif_request_segment){ .gref = GREF_BLKFRONT_DATA, .first_sect = 0, .last_sect = 7 };
    ring.req_prod_pvt++;
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&ring, notify);
    if (notify)
        evtchn_send(port);

    uint64_t deadline = xen_time_now() + WAIT_NS;

    while (!RING_HAS_UNCONSUMED_RESPONSES(&ring)) {
        uint64_t now = xen_time_now();

        if (now >= deadline)
            return -XEN_ETIMEDOUT;
        evtchn_clear_pending(port);
        if (RING_HAS_UNCONSUMED_RESPONSES(&ring))
            break;
        struct sched_poll poll = { .nr_ports = 1, .timeout = now + 10000000ull };

        set_xen_guest_handle(poll.ports, &port);
        HYPERVISOR_sched_op(SCHEDOP_poll, &poll);
    }
    xen_rmb();
    blkif_response_t *rsp = RING_GET_RESPONSE(&ring, ring.rsp_cons);
    int16_t status = rsp->status;

    ring.rsp_cons++;
    return status == BLKIF_RSP_OKAY ? 0 : -XEN_EIO;
}

long blkfront_write(uint64_t sector, const void *data)
{
    memcpy(data_page, data, PAGE_SIZE);
    return one_request(BLKIF_OP_WRITE, sector);
}

long blkfront_read(uint64_t sector, void *data)
{
    long rc = one_request(BLKIF_OP_READ, sector);

    if (!rc)
        memcpy(data, data_page, PAGE_SIZE);
    return rc;
}
