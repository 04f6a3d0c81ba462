/*
 * Interrupt entry points: one stub per exception vector (building a
 * struct cpu_regs for exception_handler, which never returns), the event
 * channel upcall (saves the caller-saved registers around evtchn_upcall)
 * and an iret-only spurious-interrupt handler.
 */

    .section .text, "ax"
    .code64
    .altmacro

/* Vectors where the CPU pushes an error code: #DF #TS #NP #SS #GP #PF #AC #CP. */
#define HAS_ERROR_CODE(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21)

.macro EXCEPTION_STUB vec
    .balign 16
exc_stub_\vec:
    .if HAS_ERROR_CODE(\vec) == 0
    pushq   $0
    .endif
    pushq   $\vec
    jmp     exception_common
.endm

    .set v, 0
    .rept 32
    EXCEPTION_STUB %v
    .set v, v + 1
    .endr

exception_common:
    cld
    push    %rax
    push    %rbx
    push    %rcx
    push    %rdx
    push    %rsi
    push    %rdi
    push    %rbp
    push    %r8
    push    %r9
    push    %r10
    push    %r11
    push    %r12
    push    %r13
    push    %r14
    push    %r15
    mov     %rsp, %rdi
    and     $~15, %rsp
    call    exception_handler
1:  cli
    hlt
    jmp     1b

    .globl upcall_entry
    .type upcall_entry, @function
upcall_entry:
    /* 5 CPU words + 9 pushes keep %rsp 16-byte aligned at the call. */
    push    %rax
    push    %rcx
    push    %rdx
    push    %rsi
    push    %rdi
    push    %r8
    push    %r9
    push    %r10
    push    %r11
    cld
    call    evtchn_upcall
    pop     %r11
    pop     %r10
    pop     %r9
    pop     %r8
    pop     %rdi
    pop     %rsi
    pop     %rdx
    pop     %rcx
    pop     %rax
    iretq
    .size upcall_entry, . - upcall_entry

    .globl spurious_entry
    .type spurious_entry, @function
spurious_entry:
    iretq
    .size spurious_entry, . - spurious_entry

.macro EXC_STUB_ADDR vec
    .quad exc_stub_\vec
.endm

    .section .rodata, "a"
    .balign 8
    .globl exception_stubs
exception_stubs:
    .set v, 0
    .rept 32
    EXC_STUB_ADDR %v
    .set v, v + 1
    .endr

    .section .note.GNU-stack, "", @progbits
