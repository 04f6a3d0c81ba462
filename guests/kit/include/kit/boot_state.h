/*
 * Processor state at the PVH entry point, recorded by the entry code
 * before it changes anything (docs/misc/pvh.pandoc lists what Xen
 * guarantees). Shared between C and the entry assembly.
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
#define BS_LIMITS    44 /* lsl of cs, ds, es, ss, tr: 5 x 32 bits */
#define BS_LIMIT_OK  64 /* bit i: limits[i] was readable (ZF set) */
#define BS_PROBED    68 /* 1 when sgdt/str/lsl ran (boot test only) */
#define BS_SIZE      72

/* Indices into limits[] and bits of limit_ok. */
#define BS_SEG_CS 0
#define BS_SEG_DS 1
#define BS_SEG_ES 2
#define BS_SEG_SS 3
#define BS_SEG_TR 4
#define BS_NR_SEGS 5

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
    uint32_t limits[BS_NR_SEGS];
    uint32_t limit_ok;
    uint32_t probed;
};

_Static_assert(__builtin_offsetof(struct boot_state, eflags) == BS_EFLAGS, "layout");
_Static_assert(__builtin_offsetof(struct boot_state, efer) == BS_EFER, "layout");
_Static_assert(__builtin_offsetof(struct boot_state, cs) == BS_CS, "layout");
_Static_assert(__builtin_offsetof(struct boot_state, tr) == BS_TR, "layout");
_Static_assert(__builtin_offsetof(struct boot_state, gdtr_limit) == BS_GDTR, "layout");
_Static_assert(__builtin_offsetof(struct boot_state, gdtr_base) == BS_GDTR + 2, "layout");
_Static_assert(__builtin_offsetof(struct boot_state, limits) == BS_LIMITS, "layout");
_Static_assert(__builtin_offsetof(struct boot_state, limit_ok) == BS_LIMIT_OK, "layout");
_Static_assert(__builtin_offsetof(struct boot_state, probed) == BS_PROBED, "layout");
_Static_assert(sizeof(struct boot_state) == BS_SIZE, "layout");

extern struct boot_state boot_state;

/*
 * A test that defines this as 1 makes the entry code also run sgdt, str
 * and lsl (instructions other guests have no need to depend on).
 */
extern const uint8_t kit_probe_entry_segments;

#endif /* !__ASSEMBLER__ */
#endif /* KIT_BOOT_STATE_H */
