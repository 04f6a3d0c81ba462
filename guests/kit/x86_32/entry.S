/*
 * PVH entry for the 32-bit guest: stays in 32-bit protected mode without
 * paging on the segments Xen provides, records the entry state and calls
 * kit_start(ebx) with the i386 C convention.
 */
#include "../x86/entry_state.S"

#define STACK_SIZE 0x4000

    .section .text.entry, "ax"
    .code32
    .globl _start
    .type _start, @function
_start:
    RECORD_ENTRY_STATE stack_top
    cli
    cld
    xor     %ebp, %ebp
    pushl   boot_state + BS_EBX
    call    kit_start
1:  cli
    hlt
    jmp     1b
    .size _start, . - _start

    .section .bss, "aw", @nobits
    .balign 16
stack:
    .skip STACK_SIZE
stack_top:

    .section .note.GNU-stack, "", @progbits
