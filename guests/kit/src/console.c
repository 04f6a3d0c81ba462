/* Console output to the hypervisor log and the PV console ring. */
#include <kit/arch.h>
#include <kit/console.h>
#include <kit/hypercall.h>
#include <kit/lib.h>

/* The ring must be reachable through the identity map (first 4 GiB). */
#define MAX_RING_PFN (1ul << (32 - PAGE_SHIFT))

/* Yields to wait for ring space before giving the ring up (~10 µs each). */
#define RING_FULL_YIELDS 20000u
#define FLUSH_YIELDS     2000u

static struct xencons_interface *ring;
static evtchn_port_t ring_port;

struct xencons_interface *console_ring(void)
{
    return ring;
}

evtchn_port_t console_evtchn(void)
{
    return ring_port;
}

void early_puts(const char *s)
{
    while (*s)
        outb(XEN_HVM_DEBUGCONS_IOPORT, (uint8_t)*s++);
}

void console_init(void)
{
    uint64_t pfn = 0, port = 0;

    if (hvm_get_param(HVM_PARAM_CONSOLE_PFN, &pfn) != 0 ||
        hvm_get_param(HVM_PARAM_CONSOLE_EVTCHN, &port) != 0)
        return;
    if (pfn == 0 || pfn >= MAX_RING_PFN || port == 0)
        return;

    ring = (struct xencons_interface *)(uintptr_t)(pfn << PAGE_SHIFT);
    ring_port = (evtchn_port_t)port;
}

static void ring_publish(XENCONS_RING_IDX prod)
{
    barrier(); /* data before index; x86 keeps stores in order */
    WRITE_ONCE(ring->out_prod, prod);
    evtchn_send(ring_port);
}

static void ring_give_up(const char *why)
{
    static const char msg[] = "console: PV ring disabled: ";

    ring = NULL;
    HYPERVISOR_console_io(CONSOLEIO_write, sizeof(msg) - 1, msg);
    HYPERVISOR_console_io(CONSOLEIO_write, (unsigned int)strlen(why), why);
}

/* Copy into the ring; when it is full, publish, notify and wait (bounded). */
static void ring_write(const char *s, size_t len)
{
    XENCONS_RING_IDX prod = ring->out_prod; /* we are the only producer */
    unsigned int waits = 0;

    while (len) {
        XENCONS_RING_IDX used = prod - READ_ONCE(ring->out_cons);

        barrier(); /* read the index before reusing the space */
        if (used > sizeof(ring->out)) {
            ring_give_up("backend moved out_cons past out_prod\n");
            return;
        }
        if (used == sizeof(ring->out)) {
            ring_publish(prod);
            if (++waits > RING_FULL_YIELDS) {
                ring_give_up("backend stopped consuming\n");
                return;
            }
            sched_yield();
            continue;
        }

        size_t idx = MASK_XENCONS_IDX(prod, ring->out);
        size_t chunk = sizeof(ring->out) - used;

        if (chunk > sizeof(ring->out) - idx)
            chunk = sizeof(ring->out) - idx; /* up to the wrap */
        if (chunk > len)
            chunk = len;
        memcpy(&ring->out[idx], s, chunk);
        prod += (XENCONS_RING_IDX)chunk;
        s += chunk;
        len -= chunk;
    }
    ring_publish(prod);
}

void console_write(const char *s, size_t len)
{
    if (!hypercall_ready()) {
        for (size_t i = 0; i < len; i++)
            outb(XEN_HVM_DEBUGCONS_IOPORT, (uint8_t)s[i]);
        return;
    }
    HYPERVISOR_console_io(CONSOLEIO_write, (unsigned int)len, s);
    if (ring)
        ring_write(s, len);
}

void vprintk(const char *fmt, va_list ap)
{
    char buf[PRINTK_MAX + 1]; /* room for the '\r' */
    int n = vsnprintf(buf, PRINTK_MAX, fmt, ap);

    if (n >= PRINTK_MAX) {
        n = PRINTK_MAX - 1;
        buf[n - 1] = '\n'; /* keep the line structure when truncating */
    }
    /* A terminal line end for the PV console, as a tty's ONLCR would make;
     * console_io drops the '\r' with the other non-printables. */
    if (n > 0 && buf[n - 1] == '\n') {
        buf[n - 1] = '\r';
        buf[n++] = '\n';
    }
    console_write(buf, (size_t)n);
}

void printk(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprintk(fmt, ap);
    va_end(ap);
}

void console_flush(void)
{
    if (!ring)
        return;
    evtchn_send(ring_port);
    for (unsigned int i = 0; i < FLUSH_YIELDS; i++) {
        if (READ_ONCE(ring->out_cons) == ring->out_prod)
            return;
        sched_yield();
    }
}
