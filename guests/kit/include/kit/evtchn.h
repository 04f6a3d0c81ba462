/*
 * Event channels for the 64-bit guests: shared_info mapped into the image
 * (XENMEM_add_to_physmap, XENMAPSPACE_shared_info), an upcall vector in
 * the IDT, the 2-level scan (evtchn_pending_sel, then evtchn_pending &
 * ~evtchn_mask), per-port handlers and counters.
 *
 * Upcall delivery, one of:
 *  - per vCPU: HVMOP_set_evtchn_upcall_vector; arrives through the local
 *    APIC and must be EOIed;
 *  - domain-wide: HVM_PARAM_CALLBACK_IRQ = (2 << 56) | vector; on Xen it
 *    bypasses the LAPIC.
 * evtchn_init() picks per-vCPU when CPUID base+4 EAX advertises
 * XEN_HVM_CPUID_UPCALL_VECTOR (as Linux does), the callback otherwise.
 * Either way the kit software-enables the xAPIC (SVR) and EOIs every
 * upcall: harmless on Xen, and what a KVM-based hypervisor that injects
 * through the in-kernel LAPIC needs.
 *
 * Guests run with IF=0; upcalls are taken only inside evtchn_wait() or
 * upcall_window().
 */
#ifndef KIT_EVTCHN_H
#define KIT_EVTCHN_H

#include <kit/xen.h>

#define UPCALL_VECTOR 0xf3

enum upcall_mode {
    UPCALL_AUTO,
    UPCALL_PER_VCPU,        /* HVMOP_set_evtchn_upcall_vector */
    UPCALL_CALLBACK_VECTOR, /* HVM_PARAM_CALLBACK_IRQ, type vector */
};

typedef void (*evtchn_handler_fn)(evtchn_port_t port, void *arg);

extern shared_info_t *shared_info;

/* Map shared_info, install the IDT gate, register the upcall. Returns 0 or
 * the failing hypercall's result. */
long evtchn_init(enum upcall_mode mode);
enum upcall_mode evtchn_upcall_mode(void);

/* Switch delivery later (e.g. the hvm_params test tries both). */
long evtchn_set_upcall_mode(enum upcall_mode mode);

/* The vcpu_info the scan reads: shared_info's slot 0 until moved. */
vcpu_info_t *evtchn_vcpu_info(void);

/* VCPUOP_register_vcpu_info for vCPU 0 onto a kit page, then use it. */
long evtchn_register_vcpu_info(void);

/* Use a vcpu_info a test registered itself. */
void evtchn_use_vcpu_info(vcpu_info_t *vi);

/* Handler and counter for a port; fn may be NULL to only count. */
bool evtchn_bind_handler(evtchn_port_t port, evtchn_handler_fn fn, void *arg);
void evtchn_unbind_handler(evtchn_port_t port);
unsigned int evtchn_count(evtchn_port_t port);

/* Totals since evtchn_init: upcalls taken, events on ports nobody bound. */
extern volatile unsigned int evtchn_upcalls;
extern volatile unsigned int evtchn_unhandled;

/* Bits in shared_info (guest side of the 2-level ABI). */
void evtchn_mask(evtchn_port_t port);
bool evtchn_is_masked(evtchn_port_t port);
bool evtchn_is_pending(evtchn_port_t port);
void evtchn_clear_pending(evtchn_port_t port);

/* EVTCHNOP_unmask: clears the mask and re-raises a pending event. */
long evtchn_unmask(evtchn_port_t port);

/* EVTCHNOP wrappers for the usual cases; *port is set on success. */
long evtchn_alloc_unbound(domid_t remote, evtchn_port_t *port);
long evtchn_bind_interdomain(domid_t remote, evtchn_port_t remote_port,
                             evtchn_port_t *port);
long evtchn_bind_ipi(uint32_t vcpu, evtchn_port_t *port);
long evtchn_bind_virq(uint32_t virq, uint32_t vcpu, evtchn_port_t *port);
long evtchn_close(evtchn_port_t port);
long evtchn_status(domid_t dom, evtchn_port_t port, struct evtchn_status *st);

/*
 * Let a pending upcall in: IF=1 across a SCHEDOP_yield, whose exit and
 * re-entry deliver it even where the instruction emulator only injects at
 * VM entry (PVM ignores a bare `sti; nop; cli` window).
 */
void upcall_window(void);

/*
 * Wait until evtchn_count(port) >= target: SCHEDOP_poll on the port with
 * IF=0 (race-free: Xen returns at once if the port is already pending),
 * then upcall_window(). Bounded: ~100 ms when the
 * pvclock runs, a fixed number of rounds otherwise.
 */
bool evtchn_wait(evtchn_port_t port, unsigned int target);

/* Xen system time (ns) from the vcpu_info pvclock; 0 when unavailable. */
uint64_t xen_time_now(void);

#endif /* KIT_EVTCHN_H */
