/* x86 instructions the kit needs, for both the 32- and 64-bit guests. */
#ifndef KIT_ARCH_H
#define KIT_ARCH_H

#include <kit/types.h>

#define X86_CR0_PE 0x00000001u
#define X86_CR0_ET 0x00000010u
#define X86_CR0_PG 0x80000000u

#define X86_EFLAGS_TF 0x00000100u
#define X86_EFLAGS_IF 0x00000200u
#define X86_EFLAGS_VM 0x00020000u

#define MSR_EFER 0xc0000080u

/* xAPIC registers used by the per-vCPU upcall vector (Xen's PVH LAPIC). */
#define APIC_MMIO_BASE 0xfee00000ul
#define APIC_REG_SVR   0xf0
#define APIC_REG_EOI   0xb0
#define APIC_SVR_ENABLE 0x100u

static inline void cpuid_count(uint32_t leaf, uint32_t subleaf, uint32_t *a,
                               uint32_t *b, uint32_t *c, uint32_t *d)
{
    __asm__ __volatile__("cpuid"
                         : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d)
                         : "0"(leaf), "2"(subleaf));
}

static inline void cpuid(uint32_t leaf, uint32_t *a, uint32_t *b, uint32_t *c,
                         uint32_t *d)
{
    cpuid_count(leaf, 0, a, b, c, d);
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;

    __asm__ __volatile__("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t val)
{
    __asm__ __volatile__("wrmsr"
                         :
                         : "c"(msr), "a"((uint32_t)val), "d"((uint32_t)(val >> 32))
                         : "memory");
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;

    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static inline unsigned long read_cr0(void)
{
    unsigned long v;

    __asm__ __volatile__("mov %%cr0, %0" : "=r"(v));
    return v;
}

static inline unsigned long read_cr2(void)
{
    unsigned long v;

    __asm__ __volatile__("mov %%cr2, %0" : "=r"(v));
    return v;
}

static inline unsigned long read_cr4(void)
{
    unsigned long v;

    __asm__ __volatile__("mov %%cr4, %0" : "=r"(v));
    return v;
}

static inline unsigned long read_flags(void)
{
    unsigned long f;

    __asm__ __volatile__("pushf; pop %0" : "=r"(f) : : "memory");
    return f;
}

static inline void irq_disable(void)
{
    __asm__ __volatile__("cli" ::: "memory");
}

static inline void irq_enable(void)
{
    __asm__ __volatile__("sti" ::: "memory");
}

/*
 * Open a one-instruction interrupt window: STI's shadow covers the NOP,
 * so a pending interrupt is taken between NOP and CLI.
 */
static inline void irq_window(void)
{
    __asm__ __volatile__("sti; nop; cli" ::: "memory");
}

/* Atomically enable interrupts and halt: HLT sits in STI's shadow. */
static inline void safe_halt(void)
{
    __asm__ __volatile__("sti; hlt" ::: "memory");
}

static inline void outb(uint16_t port, uint8_t val)
{
    __asm__ __volatile__("outb %0, %1" : : "a"(val), "Nd"(port));
}

static inline void cpu_relax(void)
{
    __asm__ __volatile__("pause" ::: "memory");
}

#endif /* KIT_ARCH_H */
