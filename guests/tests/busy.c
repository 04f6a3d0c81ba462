/*
 * A busy domain for xentop's CPU(%): boots, says so, then spins forever in
 * ring 3 (no exits, no hypercalls) until destroyed.
 *
 * To reach ring 3 it marks the identity map's first 2 MiB (image, stack)
 * user-accessible, loads a GDT with flat DPL-3 segments and irets with
 * IF=0; no interrupt or exception can happen in the loop, so no TSS is
 * needed.
 */
#include <kit/console.h>
#include <kit/start.h>

const char test_title[] = "busy: spins in ring 3 until destroyed";

#define PTE_US 0x4ull
#define ADDR_MASK 0x000ffffffffff000ull

/* 0x08/0x10: the kit's ring-0 code and data; 0x18/0x20: ring-3 data and code. */
static const unsigned long long gdt[] __attribute__((aligned(16))) = {
    0, 0x00af9b000000ffffull, 0x00cf93000000ffffull,
    0x00cff3000000ffffull, 0x00affb000000ffffull,
};
static unsigned char user_stack[4096] __attribute__((aligned(16)));

static void __attribute__((noreturn)) spin(void)
{
    for (;;)
        __asm__ volatile("" ::: "memory");
}

void test_main(const struct hvm_start_info *si)
{
    (void)si;
    unsigned long long cr3;
    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    /* pml4[0] -> pdpt[0] -> pd[0] (a 2 MiB page holding the image). */
    unsigned long long *pml4 = (unsigned long long *)(cr3 & ADDR_MASK);
    unsigned long long *pdpt = (unsigned long long *)(pml4[0] & ADDR_MASK);
    unsigned long long *pd = (unsigned long long *)(pdpt[0] & ADDR_MASK);
    pml4[0] |= PTE_US;
    pdpt[0] |= PTE_US;
    pd[0] |= PTE_US;
    __asm__ volatile("mov %0, %%cr3" ::"r"(cr3) : "memory");

    struct __attribute__((packed)) {
        unsigned short limit;
        unsigned long long base;
    } desc = {sizeof gdt - 1, (unsigned long long)gdt};
    __asm__ volatile("lgdt %0" ::"m"(desc));

    printk("busy: up\n");
    __asm__ volatile("pushq $0x1b\n\t"  /* SS: ring-3 data */
                     "pushq %0\n\t"     /* RSP */
                     "pushq $0x2\n\t"   /* RFLAGS: IF=0 */
                     "pushq $0x23\n\t"  /* CS: ring-3 code */
                     "pushq %1\n\t"     /* RIP */
                     "iretq"
                     :: "r"(user_stack + sizeof user_stack), "r"(spin) : "memory");
    __builtin_unreachable();
}
