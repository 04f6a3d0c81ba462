/* C entry of every guest: transport, console, then the test's test_main(). */
#include <kit/arch.h>
#include <kit/boot_state.h>
#include <kit/console.h>
#include <kit/hypercall.h>
#include <kit/report.h>
#include <kit/start.h>
#ifdef __x86_64__
#include <kit/traps.h>
#endif

struct boot_state boot_state;

const struct hvm_start_info *kit_start_info;

static const char *const transport_errors[] = {
    [1] = "no Xen CPUID leaves (signature XenVMMXenVMM)",
    [2] = "CPUID leaf base+2 offers no hypercall page",
    [3] = "hypercall page still empty after the MSR write",
};

void kit_start(uint32_t start_info_paddr);

void kit_start(uint32_t start_info_paddr)
{
#ifdef __x86_64__
    traps_init();
#endif
    int rc = hypercall_init();

    if (rc) {
        early_puts("xenolith-test: no hypercall transport: ");
        early_puts(transport_errors[-rc]);
        early_puts("\nTest result: ERROR\n");
        for (;;)
            __asm__ __volatile__("cli; hlt" ::: "memory");
    }

    console_init();
    kit_start_info = (const struct hvm_start_info *)(uintptr_t)start_info_paddr;
    printk("--- xenolith test guest: %s ---\n", test_title);
    test_main(kit_start_info);
    xtf_exit();
}
