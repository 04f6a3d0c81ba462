/* A friendly banner: Xen version, command line, memory size. */
#include <kit/console.h>
#include <kit/hypercall.h>
#include <kit/report.h>
#include <kit/start.h>

const char test_title[] = "demo: hello from a xenolith PVH guest";

void test_main(const struct hvm_start_info *si)
{
    long ver = HYPERVISOR_xen_version(XENVER_version, NULL);
    xen_extraversion_t extra = "";
    uint64_t ram = 0;

    HYPERVISOR_xen_version(XENVER_extraversion, extra);
    extra[sizeof(extra) - 1] = '\0';

    if (si->magic != XEN_HVM_START_MAGIC_VALUE) {
        xtf_error("hvm_start_info magic %#x", si->magic);
        return;
    }
    if (si->version >= 1 && si->memmap_paddr) {
        const struct hvm_memmap_table_entry *map =
            (const void *)(uintptr_t)si->memmap_paddr;

        for (uint32_t i = 0; i < si->memmap_entries; i++)
            if (map[i].type == XEN_HVM_MEMMAP_TYPE_RAM)
                ram += map[i].size;
    }

    printk("  Xen %ld.%ld%s, hypervisor leaves at %#x\n", ver >> 16, ver & 0xffff,
           extra, xen_cpuid.base);
    printk("  command line: \"%s\"\n",
           si->cmdline_paddr ? (const char *)(uintptr_t)si->cmdline_paddr : "");
    printk("  memory: %lu KiB in %u memmap entries\n", (unsigned long)(ram >> 10),
           si->version >= 1 ? si->memmap_entries : 0);
    xtf_success(NULL);
}
