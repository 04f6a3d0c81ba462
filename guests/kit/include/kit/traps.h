/*
 * 64-bit IDT. Vectors 0-31 report the exception (vector, error code, RIP)
 * and end the test with "Test result: ERROR" and SHUTDOWN_crash. Any other
 * vector without a handler has a non-present gate, so it arrives as #NP
 * and is reported the same way.
 */
#ifndef KIT_TRAPS_H
#define KIT_TRAPS_H

#include <kit/types.h>

/* Frame built by the exception stubs (kit/x86_64/traps.S), lowest first. */
struct cpu_regs {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error_code;
    uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

#define SPURIOUS_VECTOR 0xff

void traps_init(void);

/* Install an interrupt gate (IF cleared on entry) for an asm entry point. */
void traps_set_gate(uint8_t vector, void (*entry)(void));

#endif /* KIT_TRAPS_H */
