/* 2-level event channels and upcall delivery; see kit/evtchn.h. */
#include <kit/arch.h>
#include <kit/evtchn.h>
#include <kit/hypercall.h>
#include <kit/traps.h>

#define BITS_PER_WORD (sizeof(xen_ulong_t) * 8)
#define NR_PORTS      (BITS_PER_WORD * BITS_PER_WORD)
#define MAX_HANDLERS  16
#define MAX_SCAN_PASSES 4

#define WAIT_SLICE_NS  10000000ull  /* one SCHEDOP_poll */
#define WAIT_TOTAL_NS  100000000ull
#define WAIT_MAX_ROUNDS 1000u

struct port_handler {
    bool used;
    evtchn_port_t port;
    evtchn_handler_fn fn;
    void *arg;
    volatile unsigned int count;
};

extern void upcall_entry(void);
void evtchn_upcall(void);

static uint8_t shared_info_page[PAGE_SIZE] __page_aligned;
static uint8_t vcpu_info_page[PAGE_SIZE] __page_aligned;
shared_info_t *shared_info;

static vcpu_info_t *cur_vcpu_info;
static enum upcall_mode cur_mode;
static struct port_handler handlers[MAX_HANDLERS];

volatile unsigned int evtchn_upcalls;
volatile unsigned int evtchn_unhandled;

static volatile uint32_t *apic_reg(unsigned int reg)
{
    return (volatile uint32_t *)(APIC_MMIO_BASE + reg);
}

static long set_per_vcpu_vector(void)
{
    struct xen_hvm_evtchn_upcall_vector op = { .vcpu = 0, .vector = UPCALL_VECTOR };

    return HYPERVISOR_hvm_op(HVMOP_set_evtchn_upcall_vector, &op);
}

long evtchn_set_upcall_mode(enum upcall_mode mode)
{
    long rc;

    if (mode == UPCALL_AUTO)
        mode = (xen_cpuid.hvm_features & XEN_HVM_CPUID_UPCALL_VECTOR)
                   ? UPCALL_PER_VCPU : UPCALL_CALLBACK_VECTOR;
    if (mode == UPCALL_PER_VCPU)
        rc = set_per_vcpu_vector();
    else
        rc = hvm_set_param(HVM_PARAM_CALLBACK_IRQ,
                           ((uint64_t)HVM_PARAM_CALLBACK_TYPE_VECTOR << 56) |
                               UPCALL_VECTOR);
    if (rc == 0)
        cur_mode = mode;
    return rc;
}

enum upcall_mode evtchn_upcall_mode(void)
{
    return cur_mode;
}

long evtchn_init(enum upcall_mode mode)
{
    struct xen_add_to_physmap xatp = {
        .domid = DOMID_SELF,
        .space = XENMAPSPACE_shared_info,
        .idx = 0,
        .gpfn = (uintptr_t)shared_info_page >> PAGE_SHIFT,
    };
    long rc = HYPERVISOR_memory_op(XENMEM_add_to_physmap, &xatp);

    if (rc)
        return rc;
    shared_info = (shared_info_t *)shared_info_page;
    cur_vcpu_info = &shared_info->vcpu_info[0];
    traps_set_gate(UPCALL_VECTOR, upcall_entry);
    /*
     * Software-enable the xAPIC. Xen raises a per-vCPU vector only while
     * the vLAPIC is enabled (hvm_assert_evtchn_irq); a hypervisor on KVM
     * without KVM_XEN can only inject through the in-kernel LAPIC at all.
     */
    *apic_reg(APIC_REG_SVR) = APIC_SVR_ENABLE | SPURIOUS_VECTOR;
    return evtchn_set_upcall_mode(mode);
}

vcpu_info_t *evtchn_vcpu_info(void)
{
    return cur_vcpu_info;
}

long evtchn_register_vcpu_info(void)
{
    struct vcpu_register_vcpu_info info = {
        .mfn = (uintptr_t)vcpu_info_page >> PAGE_SHIFT,
        .offset = 0,
    };
    long rc = HYPERVISOR_vcpu_op(VCPUOP_register_vcpu_info, 0, &info);

    if (rc == 0)
        cur_vcpu_info = (vcpu_info_t *)vcpu_info_page;
    return rc;
}

void evtchn_use_vcpu_info(vcpu_info_t *vi)
{
    cur_vcpu_info = vi;
}

static struct port_handler *find_handler(evtchn_port_t port)
{
    for (unsigned int i = 0; i < MAX_HANDLERS; i++)
        if (handlers[i].used && handlers[i].port == port)
            return &handlers[i];
    return NULL;
}

bool evtchn_bind_handler(evtchn_port_t port, evtchn_handler_fn fn, void *arg)
{
    struct port_handler *h = find_handler(port);

    for (unsigned int i = 0; !h && i < MAX_HANDLERS; i++)
        if (!handlers[i].used)
            h = &handlers[i];
    if (!h)
        return false;
    *h = (struct port_handler){ .port = port, .fn = fn, .arg = arg };
    barrier();
    h->used = true;
    return true;
}

void evtchn_unbind_handler(evtchn_port_t port)
{
    struct port_handler *h = find_handler(port);

    if (h)
        h->used = false;
}

unsigned int evtchn_count(evtchn_port_t port)
{
    const struct port_handler *h = find_handler(port);

    return h ? h->count : 0;
}

static void dispatch(evtchn_port_t port)
{
    struct port_handler *h = find_handler(port);

    if (!h) {
        evtchn_unhandled++;
        return;
    }
    h->count++;
    if (h->fn)
        h->fn(port, h->arg);
}

/* Called from upcall_entry with IF=0. */
void evtchn_upcall(void)
{
    vcpu_info_t *vi = cur_vcpu_info;

    evtchn_upcalls++;
    for (unsigned int pass = 0; pass < MAX_SCAN_PASSES; pass++) {
        WRITE_ONCE(vi->evtchn_upcall_pending, 0);
        xen_ulong_t sel = __atomic_exchange_n(&vi->evtchn_pending_sel, 0,
                                              __ATOMIC_SEQ_CST);

        while (sel) {
            unsigned int w = (unsigned int)__builtin_ctzl(sel);
            xen_ulong_t bits = READ_ONCE(shared_info->evtchn_pending[w]) &
                               ~READ_ONCE(shared_info->evtchn_mask[w]);

            sel &= sel - 1;
            while (bits) {
                unsigned int b = (unsigned int)__builtin_ctzl(bits);

                bits &= bits - 1;
                __atomic_fetch_and(&shared_info->evtchn_pending[w],
                                   ~((xen_ulong_t)1 << b), __ATOMIC_SEQ_CST);
                dispatch((evtchn_port_t)(w * BITS_PER_WORD + b));
            }
        }
        if (!READ_ONCE(vi->evtchn_upcall_pending))
            break;
    }
    /*
     * Needed when the upcall came through the LAPIC (per-vCPU vector, or
     * any vector on KVM without KVM_XEN). Xen's domain-wide callback does
     * not set ISR, and an EOI with nothing in service is ignored.
     */
    *apic_reg(APIC_REG_EOI) = 0;
}

static xen_ulong_t *word_of(xen_ulong_t *array, evtchn_port_t port)
{
    return &array[port / BITS_PER_WORD];
}

static xen_ulong_t bit_of(evtchn_port_t port)
{
    return (xen_ulong_t)1 << (port % BITS_PER_WORD);
}

void evtchn_mask(evtchn_port_t port)
{
    if (port < NR_PORTS)
        __atomic_fetch_or(word_of(shared_info->evtchn_mask, port), bit_of(port),
                          __ATOMIC_SEQ_CST);
}

bool evtchn_is_masked(evtchn_port_t port)
{
    return port < NR_PORTS &&
           (READ_ONCE(*word_of(shared_info->evtchn_mask, port)) & bit_of(port));
}

bool evtchn_is_pending(evtchn_port_t port)
{
    return port < NR_PORTS &&
           (READ_ONCE(*word_of(shared_info->evtchn_pending, port)) & bit_of(port));
}

void evtchn_clear_pending(evtchn_port_t port)
{
    if (port < NR_PORTS)
        __atomic_fetch_and(word_of(shared_info->evtchn_pending, port),
                           ~bit_of(port), __ATOMIC_SEQ_CST);
}

long evtchn_unmask(evtchn_port_t port)
{
    struct evtchn_unmask op = { .port = port };

    return HYPERVISOR_event_channel_op(EVTCHNOP_unmask, &op);
}

long evtchn_alloc_unbound(domid_t remote, evtchn_port_t *port)
{
    struct evtchn_alloc_unbound op = { .dom = DOMID_SELF, .remote_dom = remote };
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &op);

    if (rc == 0)
        *port = op.port;
    return rc;
}

long evtchn_bind_interdomain(domid_t remote, evtchn_port_t remote_port,
                             evtchn_port_t *port)
{
    struct evtchn_bind_interdomain op = { .remote_dom = remote, .remote_port = remote_port };
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &op);

    if (rc == 0)
        *port = op.local_port;
    return rc;
}

long evtchn_bind_ipi(uint32_t vcpu, evtchn_port_t *port)
{
    struct evtchn_bind_ipi op = { .vcpu = vcpu };
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_ipi, &op);

    if (rc == 0)
        *port = op.port;
    return rc;
}

long evtchn_bind_virq(uint32_t virq, uint32_t vcpu, evtchn_port_t *port)
{
    struct evtchn_bind_virq op = { .virq = virq, .vcpu = vcpu };
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_virq, &op);

    if (rc == 0)
        *port = op.port;
    return rc;
}

long evtchn_close(evtchn_port_t port)
{
    struct evtchn_close op = { .port = port };

    return HYPERVISOR_event_channel_op(EVTCHNOP_close, &op);
}

long evtchn_status(domid_t dom, evtchn_port_t port, struct evtchn_status *st)
{
    *st = (struct evtchn_status){ .dom = dom, .port = port };
    return HYPERVISOR_event_channel_op(EVTCHNOP_status, st);
}

void upcall_window(void)
{
    irq_enable();
    sched_yield();
    irq_disable();
}

bool evtchn_wait(evtchn_port_t port, unsigned int target)
{
    uint64_t start = xen_time_now();

    for (unsigned int round = 0; round < WAIT_MAX_ROUNDS; round++) {
        irq_disable();
        if (evtchn_count(port) >= target)
            return true;

        uint64_t now = start ? xen_time_now() : 0;

        if (start && now - start > WAIT_TOTAL_NS)
            break;

        /* A timeout in the past (1 ns) makes the poll return at once. */
        struct sched_poll poll = { .nr_ports = 1, .timeout = now ? now + WAIT_SLICE_NS : 1 };

        set_xen_guest_handle(poll.ports, &port);
        HYPERVISOR_sched_op(SCHEDOP_poll, &poll);
        upcall_window();
    }
    return evtchn_count(port) >= target;
}

uint64_t xen_time_now(void)
{
    const vcpu_time_info_t *t;

    if (!cur_vcpu_info)
        return 0;
    t = &cur_vcpu_info->time;

    for (unsigned int tries = 0; tries < 100; tries++) {
        uint32_t version = READ_ONCE(t->version);

        barrier();
        uint64_t tsc = rdtsc();
        uint64_t stamp = READ_ONCE(t->tsc_timestamp);
        uint64_t system = READ_ONCE(t->system_time);
        uint32_t mul = READ_ONCE(t->tsc_to_system_mul);
        int8_t shift = READ_ONCE(t->tsc_shift);

        barrier();
        if ((version & 1) || version != READ_ONCE(t->version))
            continue;
        if (mul == 0)
            return 0;

        uint64_t delta = tsc - stamp;

        if (shift < 0)
            delta >>= -shift;
        else
            delta <<= shift;
        return system + (uint64_t)(((unsigned __int128)delta * mul) >> 32);
    }
    return 0;
}
