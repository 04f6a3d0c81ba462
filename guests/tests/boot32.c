/*
 * The 32-bit kit: ELF32 image, stays in protected mode without paging and
 * uses the 32-bit hypercall ABI (ebx, ecx, edx, esi, edi).
 */
#include <kit/arch.h>
#include <kit/boot_state.h>
#include <kit/console.h>
#include <kit/hypercall.h>
#include <kit/report.h>
#include <kit/start.h>

const char test_title[] = "boot32: 32-bit PVH entry and hypercall ABI";

void test_main(const struct hvm_start_info *si)
{
    check(si->magic == XEN_HVM_START_MAGIC_VALUE, "start info magic %#x", si->magic);
    check((boot_state.cr0 & (X86_CR0_PE | X86_CR0_PG)) == X86_CR0_PE,
          "entry CR0 %#x: want PE=1 PG=0", boot_state.cr0);
    check((read_cr0() & X86_CR0_PG) == 0, "still running without paging");

    /* Two hypercalls with several arguments through the 32-bit registers. */
    long ver = HYPERVISOR_xen_version(XENVER_version, NULL);
    check(ver > 0, "XENVER_version returned %ld", ver);

    uint64_t pfn = 0;
    long rc = hvm_get_param(HVM_PARAM_CONSOLE_PFN, &pfn);
    check_rc(rc, 0, "HVMOP_get_param(CONSOLE_PFN)");

    check(console_ring() != NULL, "PV console ring in use (pfn %#llx)",
          (unsigned long long)pfn);
    printk("boot32: Xen %ld.%ld via the 32-bit ABI, console pfn %#llx\n",
           ver >> 16, ver & 0xffff, (unsigned long long)pfn);

    if (!xtf_failures())
        xtf_success(NULL);
}
