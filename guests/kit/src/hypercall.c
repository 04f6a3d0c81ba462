/* Hypercall page discovery and installation; see kit/hypercall.h. */
#include <kit/arch.h>
#include <kit/hypercall.h>

struct xen_cpuid_info xen_cpuid;
uint8_t hypercall_page[PAGE_SIZE] __page_aligned;

/* Xen may sit at 0x40000000 or, with Viridian, at 0x40000100 and up. */
#define XEN_LEAF_SCAN_END  0x40010000u
#define XEN_LEAF_SCAN_STEP 0x100u

#define MOV_IMM32_EAX 0xb8
#define STUB_MOV_LEN  5

static bool any_nr_ok;
static bool ready;

static bool find_xen_leaves(void)
{
    for (uint32_t base = XEN_CPUID_FIRST_LEAF; base < XEN_LEAF_SCAN_END;
         base += XEN_LEAF_SCAN_STEP) {
        uint32_t a, b, c, d;

        cpuid(base, &a, &b, &c, &d);
        if (b == XEN_CPUID_SIGNATURE_EBX && c == XEN_CPUID_SIGNATURE_ECX &&
            d == XEN_CPUID_SIGNATURE_EDX && a >= base + 2) {
            xen_cpuid.base = base;
            xen_cpuid.max_leaf = a;
            return true;
        }
    }
    return false;
}

static uint32_t slot_imm(unsigned int slot)
{
    const uint8_t *p = hypercall_page + slot * HYPERCALL_SLOT_SIZE + 1;

    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* Does slot N start with `mov $N, %eax`, as Xen's stubs do? */
static bool slot_is_mov_nr(unsigned int slot)
{
    return hypercall_page[slot * HYPERCALL_SLOT_SIZE] == MOV_IMM32_EAX &&
           slot_imm(slot) == slot;
}

int hypercall_init(void)
{
    uint32_t a, b, c, d;

    if (!find_xen_leaves())
        return -1;

    cpuid(xen_cpuid.base + 1, &a, &b, &c, &d);
    xen_cpuid.version = a;

    cpuid(xen_cpuid.base + 2, &a, &b, &c, &d);
    xen_cpuid.nr_pages = a;
    xen_cpuid.msr = b;
    if (a == 0)
        return -2;

    if (xen_cpuid.max_leaf >= xen_cpuid.base + 4) {
        cpuid(xen_cpuid.base + 4, &a, &b, &c, &d);
        xen_cpuid.hvm_features = a;
        xen_cpuid.vcpu_id = b;
        xen_cpuid.domid = c;
    }

    /* Low 12 bits of the MSR value select which hypercall page; we want 0. */
    wrmsr(xen_cpuid.msr, (uint64_t)(uintptr_t)hypercall_page);
    barrier();

    if (hypercall_page[__HYPERVISOR_xen_version * HYPERCALL_SLOT_SIZE] == 0)
        return -3;

    any_nr_ok = slot_is_mov_nr(0) && slot_is_mov_nr(__HYPERVISOR_xen_version);
    ready = true;
    return 0;
}

bool hypercall_ready(void)
{
    return ready;
}

bool hypercall_any_nr_supported(void)
{
    return any_nr_ok;
}

long hypercall(unsigned long nr, unsigned long a1, unsigned long a2,
               unsigned long a3, unsigned long a4, unsigned long a5)
{
    if (nr < HYPERCALL_SLOTS)
        return hypercall_slot((unsigned int)nr, a1, a2, a3, a4, a5);
    if (!any_nr_ok)
        return HYPERCALL_UNREACHABLE;

    /* Enter slot 0 just after its `mov $0, %eax`, with EAX = nr. */
    const void *entry = hypercall_page + STUB_MOV_LEN;
    unsigned long ret = nr;

#ifdef __x86_64__
    register unsigned long r10 __asm__("r10") = a4;
    register unsigned long r8 __asm__("r8") = a5;

    __asm__ __volatile__("call *%[entry]"
                         : "+a"(ret), "+D"(a1), "+S"(a2), "+d"(a3), "+r"(r10),
                           "+r"(r8)
                         : [entry] "m"(entry)
                         : "memory", "cc");
#else
    __asm__ __volatile__("call *%[entry]"
                         : "+a"(ret), "+b"(a1), "+c"(a2), "+d"(a3), "+S"(a4),
                           "+D"(a5)
                         : [entry] "m"(entry)
                         : "memory", "cc");
#endif
    return (long)ret;
}

long hvm_get_param(uint32_t index, uint64_t *value)
{
    struct xen_hvm_param p = { .domid = DOMID_SELF, .index = index };
    long rc = HYPERVISOR_hvm_op(HVMOP_get_param, &p);

    if (rc == 0)
        *value = p.value;
    return rc;
}

long hvm_set_param(uint32_t index, uint64_t value)
{
    struct xen_hvm_param p = { .domid = DOMID_SELF, .index = index, .value = value };

    return HYPERVISOR_hvm_op(HVMOP_set_param, &p);
}

long evtchn_send(evtchn_port_t port)
{
    struct evtchn_send s = { .port = port };

    return HYPERVISOR_event_channel_op(EVTCHNOP_send, &s);
}

long sched_yield(void)
{
    return HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
}

void sched_shutdown(unsigned int reason)
{
    struct sched_shutdown s = { .reason = reason };

    if (ready)
        HYPERVISOR_sched_op(SCHEDOP_shutdown, &s);
    /* Not expected to return. HLT with IF=0 takes the vCPU down on Xen. */
    for (;;)
        __asm__ __volatile__("cli; hlt" ::: "memory");
}
