/* IDT setup and the fatal-exception reporter (64-bit guests only). */
#include <kit/arch.h>
#include <kit/console.h>
#include <kit/hypercall.h>
#include <kit/report.h>
#include <kit/traps.h>

#define SEL_CODE64 0x08
#define GATE_INTR  0x8e /* present, DPL 0, 64-bit interrupt gate */

struct idt_gate {
    uint16_t offset_lo;
    uint16_t selector;
    uint8_t ist;
    uint8_t type;
    uint16_t offset_mid;
    uint32_t offset_hi;
    uint32_t reserved;
};

struct __attribute__((packed)) idt_desc {
    uint16_t limit;
    uint64_t base;
};

static struct idt_gate idt[256] __attribute__((aligned(16)));

extern void (*const exception_stubs[32])(void);
extern void spurious_entry(void);

void exception_handler(struct cpu_regs *regs);

static const char *const exception_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
    "#DF", "CSO", "#TS", "#NP", "#SS", "#GP", "#PF", "-",
    "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

void traps_set_gate(uint8_t vector, void (*entry)(void))
{
    uint64_t addr = (uint64_t)(uintptr_t)entry;

    idt[vector] = (struct idt_gate){
        .offset_lo = (uint16_t)addr,
        .selector = SEL_CODE64,
        .type = GATE_INTR,
        .offset_mid = (uint16_t)(addr >> 16),
        .offset_hi = (uint32_t)(addr >> 32),
    };
}

void traps_init(void)
{
    struct idt_desc desc = { .limit = sizeof(idt) - 1, .base = (uintptr_t)idt };

    for (unsigned int v = 0; v < ARRAY_SIZE(exception_stubs); v++)
        traps_set_gate((uint8_t)v, exception_stubs[v]);
    traps_set_gate(SPURIOUS_VECTOR, spurious_entry);
    __asm__ __volatile__("lidt %0" : : "m"(desc));
}

void exception_handler(struct cpu_regs *regs)
{
    static bool nested;
    const char *name = regs->vector < 32 && exception_names[regs->vector]
                           ? exception_names[regs->vector] : "?";

    if (nested) /* faulted while reporting: nothing left to try */
        for (;;)
            __asm__ __volatile__("cli; hlt");
    nested = true;

    printk("Unexpected exception: vector %lu (%s), error code %#lx, rip %#lx\n",
           regs->vector, name, regs->error_code, regs->rip);
    printk("  cs %#lx rflags %#lx rsp %#lx cr2 %#lx\n", regs->cs, regs->rflags,
           regs->rsp, read_cr2());
    printk("  rax %#lx rbx %#lx rcx %#lx rdx %#lx\n", regs->rax, regs->rbx,
           regs->rcx, regs->rdx);
    printk("  rsi %#lx rdi %#lx rbp %#lx r8 %#lx\n", regs->rsi, regs->rdi,
           regs->rbp, regs->r8);
    /* A vector without a gate arrives as #NP with IDT=1 in the error code. */
    if (regs->vector == 11 && (regs->error_code & 2))
        printk("  (interrupt vector %#lx has no handler)\n", regs->error_code >> 3);
    xtf_crash("exception %s at %#lx", name, regs->rip);
}
