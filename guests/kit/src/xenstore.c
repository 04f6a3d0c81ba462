/* The kit's xenstore client; see kit/xenstore.h. */
#include <kit/evtchn.h>
#include <kit/hypercall.h>
#include <kit/lib.h>
#include <kit/xenstore.h>
#include <xen/hvm/params.h>
#include <xen/io/xs_wire.h>

#define POLL_SLICE_NS 20000000ull /* one SCHEDOP_poll */
#define REPLY_POLLS   500u        /* 10 s of slices for one reply */

static struct xenstore_domain_interface *ring;
static evtchn_port_t store_port;
static uint32_t next_req_id = 1;
static char reply[XENSTORE_PAYLOAD_MAX + 1];
static uint32_t reply_len;

/* Watch events seen while waiting for replies: a small FIFO. */
#define QUEUED_EVENTS 8
static struct {
    char path[128];
    char token[32];
} queued[QUEUED_EVENTS];
static unsigned int queued_head, queued_count;

static const struct {
    const char *name;
    long err;
} xs_errnos[] = {
    { "EINVAL", -XEN_EINVAL }, { "EACCES", -XEN_EACCES }, { "EEXIST", -XEN_EEXIST },
    { "EISDIR", -XEN_EISDIR }, { "ENOENT", -XEN_ENOENT }, { "ENOMEM", -XEN_ENOMEM },
    { "ENOSPC", -XEN_ENOSPC }, { "EIO", -XEN_EIO },       { "ENOTEMPTY", -XEN_ENOTEMPTY },
    { "ENOSYS", -XEN_ENOSYS }, { "EROFS", -XEN_EROFS },   { "EBUSY", -XEN_EBUSY },
    { "EAGAIN", -XEN_EAGAIN }, { "EISCONN", -XEN_EISCONN }, { "E2BIG", -XEN_E2BIG },
    { "EPERM", -XEN_EPERM },
};

void xs_poll(uint64_t slice_ns)
{
    uint64_t now = xen_time_now();
    struct sched_poll poll = { .nr_ports = 1, .timeout = now ? now + slice_ns : 0 };

    set_xen_guest_handle(poll.ports, &store_port);
    HYPERVISOR_sched_op(SCHEDOP_poll, &poll);
}

static bool ring_put(const void *data, uint32_t len)
{
    const char *p = data;
    unsigned int polls = 0;

    while (len) {
        evtchn_clear_pending(store_port);
        XENSTORE_RING_IDX cons = READ_ONCE(ring->req_cons);
        XENSTORE_RING_IDX prod = ring->req_prod;

        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        uint32_t room = XENSTORE_RING_SIZE - (prod - cons);

        if (room == 0 || room > XENSTORE_RING_SIZE) {
            evtchn_send(store_port);
            if (++polls > REPLY_POLLS)
                return false;
            xs_poll(POLL_SLICE_NS);
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
    return true;
}

/* Reads len bytes, polling in slices of slice_ns at most max_polls times. */
static bool ring_get(void *data, uint32_t len, uint64_t slice_ns, unsigned int max_polls)
{
    char *p = data;
    unsigned int polls = 0;

    while (len) {
        evtchn_clear_pending(store_port);
        XENSTORE_RING_IDX cons = ring->rsp_cons;
        XENSTORE_RING_IDX prod = READ_ONCE(ring->rsp_prod);

        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (prod == cons) {
            if (max_polls && ++polls > max_polls)
                return false;
            xs_poll(slice_ns);
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
        evtchn_send(store_port); /* room for the server */
        p += chunk;
        len -= chunk;
    }
    return true;
}

/* Whether a whole message header is waiting in the response ring. */
static bool message_waiting(void)
{
    XENSTORE_RING_IDX prod = READ_ONCE(ring->rsp_prod);

    return prod - ring->rsp_cons >= sizeof(struct xsd_sockmsg);
}

static uint32_t read_message(uint32_t *req_id)
{
    struct xsd_sockmsg hdr;

    if (!ring_get(&hdr, sizeof(hdr), POLL_SLICE_NS, REPLY_POLLS) ||
        hdr.len > XENSTORE_PAYLOAD_MAX)
        return XS_INVALID;
    if (!ring_get(reply, hdr.len, POLL_SLICE_NS, REPLY_POLLS))
        return XS_INVALID;
    reply[hdr.len] = '\0';
    reply_len = hdr.len;
    *req_id = hdr.req_id;
    return hdr.type;
}

static void queue_event(void)
{
    size_t plen = strnlen(reply, reply_len);
    const char *token = plen < reply_len ? reply + plen + 1 : "";
    unsigned int slot = (queued_head + queued_count) % QUEUED_EVENTS;

    if (queued_count == QUEUED_EVENTS) { /* full: the oldest goes */
        queued_head = (queued_head + 1) % QUEUED_EVENTS;
        queued_count--;
    }
    snprintf(queued[slot].path, sizeof(queued[slot].path), "%s", reply);
    snprintf(queued[slot].token, sizeof(queued[slot].token), "%s", token);
    queued_count++;
}

long xs_request(uint32_t type, uint32_t tx, const void *payload, uint32_t len)
{
    struct xsd_sockmsg hdr = { .type = type, .req_id = next_req_id++, .tx_id = tx, .len = len };

    if (!ring)
        return -XEN_EIO;
    if (!ring_put(&hdr, sizeof(hdr)) || !ring_put(payload, len))
        return -XEN_EIO;
    for (;;) {
        uint32_t id = 0;
        uint32_t got = read_message(&id);

        if (got == XS_INVALID)
            return -XEN_EIO;
        if (got == XS_WATCH_EVENT) {
            queue_event();
            continue;
        }
        if (id != hdr.req_id)
            return -XEN_EIO;
        if (got == XS_ERROR) {
            for (unsigned int i = 0; i < ARRAY_SIZE(xs_errnos); i++)
                if (!strcmp(reply, xs_errnos[i].name))
                    return xs_errnos[i].err;
            return -XEN_EINVAL;
        }
        return got == type ? 0 : -XEN_EIO;
    }
}

const char *xs_reply(uint32_t *len)
{
    if (len)
        *len = reply_len;
    return reply;
}

long xs_request_strings(uint32_t type, uint32_t tx, const char *a, const char *b)
{
    char buf[512];
    size_t la = strlen(a) + 1, lb = b ? strlen(b) + 1 : 0;

    if (la + lb > sizeof(buf))
        return -XEN_E2BIG;
    memcpy(buf, a, la);
    if (b)
        memcpy(buf + la, b, lb);
    return xs_request(type, tx, buf, (uint32_t)(la + lb));
}

long xs_connect(void)
{
    uint64_t pfn = 0, port = 0;
    long rc = hvm_get_param(HVM_PARAM_STORE_PFN, &pfn);

    if (!rc)
        rc = hvm_get_param(HVM_PARAM_STORE_EVTCHN, &port);
    if (rc)
        return rc;
    if (!pfn || pfn >= (1ul << 20) || !port)
        return -XEN_ENOENT;
    ring = (struct xenstore_domain_interface *)(uintptr_t)(pfn << PAGE_SHIFT);
    store_port = (evtchn_port_t)port;
    evtchn_mask(store_port);
    queued_head = queued_count = 0;
    return 0;
}

long xs_read(const char *path, char *buf, size_t size)
{
    long rc = xs_request_strings(XS_READ, 0, path, NULL);

    if (rc)
        return rc;
    if (size)
        snprintf(buf, size, "%s", reply);
    return reply_len;
}

long xs_read_u64(const char *path, uint64_t *value)
{
    long rc = xs_request_strings(XS_READ, 0, path, NULL);
    uint64_t v = 0;

    if (rc)
        return rc;
    if (!reply_len)
        return -XEN_EINVAL;
    for (uint32_t i = 0; i < reply_len; i++) {
        if (reply[i] < '0' || reply[i] > '9')
            return -XEN_EINVAL;
        v = v * 10 + (uint64_t)(reply[i] - '0');
    }
    *value = v;
    return 0;
}

/* WRITE is "path\0value" without a final NUL. */
long xs_write_in(uint32_t tx, const char *path, const char *value)
{
    char buf[512];
    size_t lp = strlen(path) + 1, lv = strlen(value);

    if (lp + lv > sizeof(buf))
        return -XEN_E2BIG;
    memcpy(buf, path, lp);
    memcpy(buf + lp, value, lv);
    return xs_request(XS_WRITE, tx, buf, (uint32_t)(lp + lv));
}

long xs_write(const char *path, const char *value)
{
    return xs_write_in(0, path, value);
}

long xs_rm(const char *path)
{
    return xs_request_strings(XS_RM, 0, path, NULL);
}

long xs_watch(const char *path, const char *token)
{
    return xs_request_strings(XS_WATCH, 0, path, token);
}

long xs_unwatch(const char *path, const char *token)
{
    return xs_request_strings(XS_UNWATCH, 0, path, token);
}

long xs_wait_watch(char *path, size_t path_size, char *token, size_t token_size,
                   uint64_t timeout_ns)
{
    uint64_t start = xen_time_now();

    if (!ring)
        return -XEN_EIO;
    for (;;) {
        if (queued_count) {
            if (path && path_size)
                snprintf(path, path_size, "%s", queued[queued_head].path);
            if (token && token_size)
                snprintf(token, token_size, "%s", queued[queued_head].token);
            queued_head = (queued_head + 1) % QUEUED_EVENTS;
            queued_count--;
            return 1;
        }
        if (message_waiting()) {
            uint32_t id = 0;
            uint32_t got = read_message(&id);

            if (got == XS_INVALID)
                return -XEN_EIO;
            if (got == XS_WATCH_EVENT)
                queue_event();
            continue; /* a stray reply is dropped */
        }
        if (timeout_ns && xen_time_now() - start >= timeout_ns)
            return 0;
        evtchn_clear_pending(store_port);
        if (!message_waiting())
            xs_poll(POLL_SLICE_NS);
    }
}
