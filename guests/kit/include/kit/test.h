/* Everything a 64-bit test guest usually needs, plus shared bad pointers. */
#ifndef KIT_TEST_H
#define KIT_TEST_H

#include <kit/arch.h>
#include <kit/console.h>
#include <kit/hypercall.h>
#include <kit/lib.h>
#include <kit/report.h>
#include <kit/start.h>
#ifdef __x86_64__
#include <kit/evtchn.h>
#endif

#ifdef __x86_64__
/* Canonical but outside the identity map: the guest page walk fails. */
#define BAD_PTR_UNMAPPED    ((void *)0xdead0000000ul)
/* Non-canonical: no linear translation at all. */
#define BAD_PTR_NONCANONICAL ((void *)0x8000000000000000ul)
/* Mapped by the guest (identity, 2 GiB) but no RAM behind it at memory=32. */
#define BAD_PTR_NO_RAM      ((void *)0x80000000ul)
#endif

/* An unused domain id (below DOMID_FIRST_RESERVED): -ESRCH where looked up. */
#define DOMID_UNUSED 0x7fefu

#endif /* KIT_TEST_H */
