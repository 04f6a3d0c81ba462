/*
 * The Xen guest ABI as the test guests see it: the public headers from
 * libxen-dev, included here once. Never retype an ABI structure.
 * __XEN_INTERFACE_VERSION__ comes from the build (0x00040e00).
 */
#ifndef KIT_XEN_H
#define KIT_XEN_H

#include <kit/types.h>

#include <xen/xen.h>
#include <xen/arch-x86/cpuid.h>
#include <xen/arch-x86/hvm/start_info.h>
#include <xen/errno.h>
#include <xen/event_channel.h>
#include <xen/features.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/params.h>
#include <xen/io/console.h>
#include <xen/memory.h>
#include <xen/sched.h>
#include <xen/vcpu.h>
#include <xen/version.h>

/* Hypercall page slots are 32 bytes; one page holds 128 of them. */
#define HYPERCALL_SLOT_SIZE 32u
#define HYPERCALL_SLOTS     (PAGE_SIZE / HYPERCALL_SLOT_SIZE)

#endif /* KIT_XEN_H */
