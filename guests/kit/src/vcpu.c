/* The kit's secondary-vCPU start; see kit/vcpu.h. */
#include <kit/arch.h>
#include <kit/hypercall.h>
#include <kit/lib.h>
#include <kit/vcpu.h>
#include <xen/hvm/hvm_vcpu.h>

struct __attribute__((packed)) table_desc {
    uint16_t limit;
    uint64_t base;
};

/* The boot vCPU's tables, loaded by every AP (they are shared). */
struct table_desc kit_ap_gdt, kit_ap_idt;

void kit_ap_entry(void);

/* rdi = id, rsi = main (from the initial context). */
__asm__(".pushsection .text\n"
        ".globl kit_ap_entry\nkit_ap_entry:\n"
        "  lgdt kit_ap_gdt(%rip)\n lidt kit_ap_idt(%rip)\n"
        "  mov $0x10, %eax\n mov %eax, %ds\n mov %eax, %es\n mov %eax, %ss\n"
        "  pushq $0x08\n lea 1f(%rip), %rax\n pushq %rax\n lretq\n"
        "1: call *%rsi\n"
        "2: cli\n hlt\n jmp 2b\n"
        ".popsection\n");

long vcpu_initialise_ap(unsigned int id, ap_main_fn main, void *stack_top)
{
    struct vcpu_hvm_context ctx;
    unsigned long cr3;

    __asm__ __volatile__("sgdt %0; sidt %1" : "=m"(kit_ap_gdt), "=m"(kit_ap_idt));
    __asm__ __volatile__("mov %%cr3, %0" : "=r"(cr3));
    memset(&ctx, 0, sizeof(ctx));
    ctx.mode = VCPU_HVM_MODE_64B;
    ctx.cpu_regs.x86_64.rip = (uintptr_t)kit_ap_entry;
    ctx.cpu_regs.x86_64.rsp = (uintptr_t)stack_top;
    ctx.cpu_regs.x86_64.rdi = id;
    ctx.cpu_regs.x86_64.rsi = (uintptr_t)main;
    ctx.cpu_regs.x86_64.rflags = 2;
    ctx.cpu_regs.x86_64.cr0 = read_cr0();
    ctx.cpu_regs.x86_64.cr3 = cr3;
    ctx.cpu_regs.x86_64.cr4 = read_cr4();
    ctx.cpu_regs.x86_64.efer = rdmsr(MSR_EFER);
    return HYPERVISOR_vcpu_op(VCPUOP_initialise, id, &ctx);
}
