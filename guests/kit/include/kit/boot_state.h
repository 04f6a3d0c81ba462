/*
 * Processor state at the PVH entry point, recorded by the entry code
 * before it changes anything (docs/misc/pvh.pandoc lists what Xen
 * guarantees). Segment limits are not recorded: LSL is missing from some
 * instruction emulators (PVM), so the boot test decodes the descriptors
 * from the entry GDT (GDTR and TR are recorded) instead. Shared between C
 * and the entry assembly.
 */
#ifndef KIT_BOOT_STATE_H
#define KIT_BOOT_STATE_H

#define BS_EBX       0
#define BS_EFLAGS    4
#define BS_CR0       8
#define BS_CR4       12
#define BS_EFER      16 /* 8 bytes */
#define BS_CS        24 /* 16-bit selectors */
#define BS_DS        26
#define BS_ES        28
#define BS_SS        30
#define BS_FS        32
#define BS_GS        34
#define BS_TR        36
#define BS_GDTR      38 /* sgdt: 16-bit limit, 32-bit base at 40 */
#define BS_SIZE      48

#ifndef __ASSEMBLER__
#include <kit/types.h>

struct boot_state {
    uint32_t ebx;
    uint32_t eflags;
    uint32_t cr0;
    uint32_t cr4;
    uint64_t efer;
    uint16_t cs, ds, es, ss, fs, gs, tr;
    uint16_t gdtr_limit;
    uint32_t gdtr_base;
    uint32_t pad;
};

_Static_assert(__builtin_offsetof(struct boot_state, eflags) == BS_EFLAGS, "layout");
_Static_assert(__builtin_offsetof(struct boot_state, cr0) == BS_CR0, "layout");
_Static_assert(__builtin_offsetof(struct boot_state, cr4) == BS_CR4, "layout");
_Static_assert(__builtin_offsetof(struct boot_state, efer) == BS_EFER, "layout");
_Static_assert(__builtin_offsetof(struct boot_state, cs) == BS_CS, "layout");
_Static_assert(__builtin_offsetof(struct boot_state, gs) == BS_GS, "layout");
_Static_assert(__builtin_offsetof(struct boot_state, tr) == BS_TR, "layout");
_Static_assert(__builtin_offsetof(struct boot_state, gdtr_limit) == BS_GDTR, "layout");
_Static_assert(__builtin_offsetof(struct boot_state, gdtr_base) == BS_GDTR + 2, "layout");
_Static_assert(sizeof(struct boot_state) == BS_SIZE, "layout");

extern struct boot_state boot_state;

#endif /* !__ASSEMBLER__ */
#endif /* KIT_BOOT_STATE_H */
