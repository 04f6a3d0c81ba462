/*
 * Shared by both entry points (32-bit code): the Xen ELF notes and the
 * macro that records the PVH entry state into boot_state.
 */
#include <kit/boot_state.h>
#include <xen/elfnote.h>

/* One Xen ELF note: name "Xen", the given type, the descriptor in \desc. */
.macro XEN_NOTE type, desc:vararg
    .pushsection .note.Xen, "a", @note
    .balign 4
    .long 2f - 1f
    .long 4f - 3f
    .long \type
1:  .asciz "Xen"
2:  .balign 4
3:  \desc
4:  .balign 4
    .popsection
.endm

XEN_NOTE XEN_ELFNOTE_GUEST_OS, .asciz "xenolith-test"
XEN_NOTE XEN_ELFNOTE_PHYS32_ENTRY, .long _start

/*
 * Record ebx, eflags, cr0, cr4, EFER, the selectors, GDTR and TR. Needs a
 * stack for pushf, so it loads %esp first (MOV leaves EFLAGS alone).
 * Clobbers eax, ecx, edx.
 */
.macro RECORD_ENTRY_STATE stack_top
    mov     %ebx, boot_state + BS_EBX
    mov     $\stack_top, %esp
    pushfl
    popl    boot_state + BS_EFLAGS
    mov     %cr0, %eax
    mov     %eax, boot_state + BS_CR0
    mov     %cr4, %eax
    mov     %eax, boot_state + BS_CR4
    mov     $0xc0000080, %ecx               /* MSR_EFER */
    rdmsr
    mov     %eax, boot_state + BS_EFER
    mov     %edx, boot_state + BS_EFER + 4
    mov     %cs, boot_state + BS_CS
    mov     %ds, boot_state + BS_DS
    mov     %es, boot_state + BS_ES
    mov     %ss, boot_state + BS_SS
    mov     %fs, boot_state + BS_FS
    mov     %gs, boot_state + BS_GS
    str     boot_state + BS_TR
    sgdt    boot_state + BS_GDTR
.endm
