/*
 * Secondary vCPUs of a 64-bit guest. vcpu_initialise_ap() makes vCPU `id`
 * start, on its next VCPUOP_up, in long mode with the calling vCPU's paging
 * (CR0/CR3/CR4/EFER), GDT and IDT, running main(id) on `stack_top`; if
 * main returns, the vCPU halts with interrupts off. Returns the result of
 * VCPUOP_initialise (the vCPU must be down).
 */
#ifndef KIT_VCPU_H
#define KIT_VCPU_H

#include <kit/xen.h>

typedef void (*ap_main_fn)(unsigned long id);

long vcpu_initialise_ap(unsigned int id, ap_main_fn main, void *stack_top);

#endif /* KIT_VCPU_H */
