/*
 * PVH entry for the 64-bit guests (docs/misc/pvh.pandoc): entered in
 * 32-bit protected mode, paging off, %ebx = hvm_start_info paddr.
 * Records the entry state, switches to long mode on static identity page
 * tables (2 MiB pages, first 4 GiB) and calls kit_start(ebx).
 */
#include "../x86/entry_state.S"

#define STACK_SIZE 0x4000

#define PTE_P   0x001
#define PTE_RW  0x002
#define PTE_PS  0x080

#define SEL_CODE64 0x08
#define SEL_DATA   0x10

    .section .text.entry, "ax"
    .code32
    .globl _start
    .type _start, @function
_start:
    RECORD_ENTRY_STATE stack_top
    cli
    cld

    lgdt    gdt_desc
    mov     $SEL_DATA, %eax
    mov     %eax, %ds
    mov     %eax, %es
    mov     %eax, %ss
    mov     %eax, %fs
    mov     %eax, %gs

    mov     %cr4, %eax
    or      $0x20, %eax                     /* CR4.PAE */
    mov     %eax, %cr4
    mov     $pml4, %eax
    mov     %eax, %cr3
    mov     $0xc0000080, %ecx               /* EFER.LME */
    rdmsr
    or      $0x100, %eax
    wrmsr
    mov     %cr0, %eax
    or      $0x80000001, %eax               /* CR0.PG | CR0.PE */
    mov     %eax, %cr0
    ljmp    $SEL_CODE64, $start64

    .code64
start64:
    mov     $stack_top, %rsp
    xor     %ebp, %ebp
    mov     boot_state + BS_EBX, %edi
    call    kit_start
1:  cli
    hlt
    jmp     1b
    .size _start, . - _start

    .section .data, "aw"
    .balign 8
gdt:
    .quad 0
    .quad 0x00af9b000000ffff                /* 0x08: 64-bit code, accessed */
    .quad 0x00cf93000000ffff                /* 0x10: flat data, accessed */
gdt_end:
gdt_desc:
    .word gdt_end - gdt - 1
    .quad gdt

    /* Static identity map: nothing to build at run time. */
    .section .data.page_aligned, "aw"
    .balign 4096
pml4:
    .quad pdpt + (PTE_P | PTE_RW)
    .fill 511, 8, 0
pdpt:
    .quad pd + 0x0000 + (PTE_P | PTE_RW)
    .quad pd + 0x1000 + (PTE_P | PTE_RW)
    .quad pd + 0x2000 + (PTE_P | PTE_RW)
    .quad pd + 0x3000 + (PTE_P | PTE_RW)
    .fill 508, 8, 0
pd:
    .set i, 0
    .rept 2048
    .quad (i << 21) | (PTE_P | PTE_RW | PTE_PS)
    .set i, i + 1
    .endr

    .section .bss, "aw", @nobits
    .balign 16
stack:
    .skip STACK_SIZE
stack_top:

    .section .note.GNU-stack, "", @progbits
