/*
 * Hypercall transport: Xen's CPUID leaves name an MSR; writing a page's
 * guest-physical address to it makes the hypervisor fill the page with
 * 32-byte stubs, and hypercall N is a call to page + 32 * N.
 *
 * 64-bit ABI: nr in the stub, args in rdi, rsi, rdx, r10, r8, result in rax.
 * 32-bit ABI: args in ebx, ecx, edx, esi, edi, result in eax.
 * Argument registers may be clobbered (debug Xen does so on purpose).
 */
#ifndef KIT_HYPERCALL_H
#define KIT_HYPERCALL_H

#include <kit/xen.h>

struct xen_cpuid_info {
    uint32_t base;         /* first Xen leaf (0x400000xx), 0 if not found */
    uint32_t max_leaf;     /* EAX of the base leaf */
    uint32_t version;      /* base+1 EAX: major << 16 | minor */
    uint32_t nr_pages;     /* base+2 EAX: hypercall pages */
    uint32_t msr;          /* base+2 EBX: MSR taking the page address */
    uint32_t hvm_features; /* base+4 EAX (XEN_HVM_CPUID_*), 0 if absent */
    uint32_t vcpu_id;      /* base+4 EBX if XEN_HVM_CPUID_VCPU_ID_PRESENT */
    uint32_t domid;        /* base+4 ECX if XEN_HVM_CPUID_DOMID_PRESENT */
};

extern struct xen_cpuid_info xen_cpuid;
extern uint8_t hypercall_page[];

/* Returned by hypercall() when a number cannot be issued at all. */
#define HYPERCALL_UNREACHABLE (-0x7fffffffL)

/*
 * Find the Xen leaves, install the hypercall page. Returns 0, or a
 * negative value: -1 no Xen signature, -2 no hypercall page offered,
 * -3 the page stayed empty after the MSR write.
 */
int hypercall_init(void);
bool hypercall_ready(void);

/*
 * Any hypercall number, including ones beyond the page's 128 slots: those
 * enter slot 0 past its `mov $0, %eax` (Xen's stub layout, checked at
 * init) with EAX preset. Returns HYPERCALL_UNREACHABLE when impossible.
 */
long hypercall(unsigned long nr, unsigned long a1, unsigned long a2,
               unsigned long a3, unsigned long a4, unsigned long a5);
bool hypercall_any_nr_supported(void);

static inline long hypercall_slot(unsigned int nr, unsigned long a1,
                                  unsigned long a2, unsigned long a3,
                                  unsigned long a4, unsigned long a5)
{
    unsigned long entry = (unsigned long)(hypercall_page + nr * HYPERCALL_SLOT_SIZE);

#ifdef __x86_64__
    register unsigned long r10 __asm__("r10") = a4;
    register unsigned long r8 __asm__("r8") = a5;

    __asm__ __volatile__("call *%%rax"
                         : "+a"(entry), "+D"(a1), "+S"(a2), "+d"(a3),
                           "+r"(r10), "+r"(r8)
                         :
                         : "memory", "cc");
#else
    __asm__ __volatile__("call *%%eax"
                         : "+a"(entry), "+b"(a1), "+c"(a2), "+d"(a3),
                           "+S"(a4), "+D"(a5)
                         :
                         : "memory", "cc");
#endif
    return (long)entry;
}

#define HCALL_ARG(x) ((unsigned long)(x))

static inline long HYPERVISOR_xen_version(int cmd, void *arg)
{
    return hypercall_slot(__HYPERVISOR_xen_version, HCALL_ARG(cmd), HCALL_ARG(arg), 0, 0, 0);
}

static inline long HYPERVISOR_memory_op(unsigned int cmd, void *arg)
{
    return hypercall_slot(__HYPERVISOR_memory_op, cmd, HCALL_ARG(arg), 0, 0, 0);
}

static inline long HYPERVISOR_hvm_op(unsigned int op, void *arg)
{
    return hypercall_slot(__HYPERVISOR_hvm_op, op, HCALL_ARG(arg), 0, 0, 0);
}

static inline long HYPERVISOR_vcpu_op(int cmd, unsigned int vcpu, void *arg)
{
    return hypercall_slot(__HYPERVISOR_vcpu_op, HCALL_ARG(cmd), vcpu, HCALL_ARG(arg), 0, 0);
}

static inline long HYPERVISOR_sched_op(int cmd, void *arg)
{
    return hypercall_slot(__HYPERVISOR_sched_op, HCALL_ARG(cmd), HCALL_ARG(arg), 0, 0, 0);
}

static inline long HYPERVISOR_event_channel_op(int cmd, void *arg)
{
    return hypercall_slot(__HYPERVISOR_event_channel_op, HCALL_ARG(cmd), HCALL_ARG(arg), 0, 0, 0);
}

static inline long HYPERVISOR_console_io(int cmd, unsigned int count, const void *buf)
{
    return hypercall_slot(__HYPERVISOR_console_io, HCALL_ARG(cmd), count, HCALL_ARG(buf), 0, 0);
}

/* Absolute Xen system time in ns; 0 cancels. 32-bit passes it as lo, hi. */
static inline long HYPERVISOR_set_timer_op(uint64_t timeout)
{
#ifdef __x86_64__
    return hypercall_slot(__HYPERVISOR_set_timer_op, timeout, 0, 0, 0, 0);
#else
    return hypercall_slot(__HYPERVISOR_set_timer_op, (uint32_t)timeout,
                          (uint32_t)(timeout >> 32), 0, 0, 0);
#endif
}

static inline long HYPERVISOR_vm_assist(unsigned int cmd, unsigned int type)
{
    return hypercall_slot(__HYPERVISOR_vm_assist, cmd, type, 0, 0, 0);
}

/* Small conveniences over the wrappers above. */
long hvm_get_param(uint32_t index, uint64_t *value);
long hvm_set_param(uint32_t index, uint64_t value);
long evtchn_send(evtchn_port_t port);
long sched_yield(void);
__noreturn void sched_shutdown(unsigned int reason);

#endif /* KIT_HYPERCALL_H */
