/*
 * __HYPERVISOR_memory_op for an unprivileged PVH domain, per
 * xen/common/memory.c do_memory_op(), xen/arch/x86/mm.c arch_memory_op(),
 * xen/arch/x86/hvm/hypercall.c hvm_memory_op() and xen/arch/x86/mm/p2m.c
 * xenmem_add_to_physmap_one(). Config: memory=32.
 */
#include <kit/test.h>

const char test_title[] = "memory: add_to_physmap, memory_map, reservations";

#define MEMORY_MIB   32u
#define PAGES_PER_MIB 256u
#define FILL_BYTE    0xa5
#define MAX_E820     32u

/*
 * XENMEM_memory_map returns entries "in the same format as returned by the
 * BIOS INT 0x15 EAX=0xE820 call"; the public headers have no struct for it.
 */
struct __attribute__((packed)) e820_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
};

static uint8_t shinfo_page[PAGE_SIZE] __page_aligned;

static long add_to_physmap(domid_t domid, unsigned int space, xen_ulong_t idx,
                           xen_pfn_t gpfn)
{
    struct xen_add_to_physmap xatp = {
        .domid = domid, .space = space, .idx = idx, .gpfn = gpfn,
    };

    return HYPERVISOR_memory_op(XENMEM_add_to_physmap, &xatp);
}

static void test_add_to_physmap(void)
{
    xen_pfn_t gpfn = (uintptr_t)shinfo_page >> PAGE_SHIFT;
    bool changed = false;

    /* Refused before anything is mapped (xenmem_add_to_physmap_one). */
    check_rc(add_to_physmap(DOMID_SELF, 99, 0, gpfn), -XEN_EINVAL, "unknown space 99");
    check_rc(add_to_physmap(DOMID_SELF, XENMAPSPACE_shared_info, 1, gpfn), -XEN_EINVAL,
             "shared_info idx 1");
    check_rc(add_to_physmap(DOMID_SELF, XENMAPSPACE_shared_info, 0, ~(xen_pfn_t)0),
             -XEN_EINVAL, "shared_info at INVALID_GFN");
    /* "Foreign mapping is only possible via add_to_physmap_batch." */
    check_rc(add_to_physmap(DOMID_SELF, XENMAPSPACE_gmfn_foreign, 0, gpfn), -XEN_ENOSYS,
             "gmfn_foreign through add_to_physmap");
    check_rc(add_to_physmap(DOMID_UNUSED, XENMAPSPACE_shared_info, 0, gpfn), -XEN_ESRCH,
             "unused domid %#x", DOMID_UNUSED);
    check_rc(HYPERVISOR_memory_op(XENMEM_add_to_physmap, BAD_PTR_UNMAPPED), -XEN_EFAULT,
             "add_to_physmap from a bad pointer");

    /* The page was RAM filled by us; afterwards it is shared_info. */
    memset(shinfo_page, FILL_BYTE, sizeof(shinfo_page));
    if (!check_rc(add_to_physmap(DOMID_SELF, XENMAPSPACE_shared_info, 0, gpfn), 0,
                  "shared_info at gpfn %#lx", (unsigned long)gpfn))
        return;
    for (size_t i = 0; i < sizeof(shinfo_page) && !changed; i++)
        changed = READ_ONCE(shinfo_page[i]) != FILL_BYTE;
    check(changed, "gpfn %#lx shows shared_info, not our fill pattern", (unsigned long)gpfn);
}

static uint64_t test_memory_map(const struct hvm_start_info *si)
{
    static struct e820_entry e820[MAX_E820];
    struct xen_memory_map map = { .nr_entries = MAX_E820 };
    const struct hvm_memmap_table_entry *mm =
        (const void *)(uintptr_t)si->memmap_paddr;
    uint64_t ram_top = 0;

    set_xen_guest_handle(map.buffer, e820);
    if (!check_rc(HYPERVISOR_memory_op(XENMEM_memory_map, &map), 0, "memory_map"))
        return 0;

    check(map.nr_entries == si->memmap_entries,
          "memory_map has %u entries, start info memmap %u", map.nr_entries,
          si->memmap_entries);
    for (unsigned int i = 0; i < map.nr_entries && i < si->memmap_entries; i++) {
        check(e820[i].addr == mm[i].addr && e820[i].size == mm[i].size &&
                  e820[i].type == mm[i].type,
              "e820[%u] %#llx+%#llx type %u matches the start info memmap", i,
              (unsigned long long)e820[i].addr, (unsigned long long)e820[i].size,
              e820[i].type);
        if (e820[i].type == XEN_HVM_MEMMAP_TYPE_RAM &&
            e820[i].addr + e820[i].size > ram_top)
            ram_top = e820[i].addr + e820[i].size;
    }

    /* nr_entries is clamped to the caller's buffer. */
    map.nr_entries = 1;
    check_rc(HYPERVISOR_memory_op(XENMEM_memory_map, &map), 0, "memory_map, 1 slot");
    check(map.nr_entries == 1, "memory_map with 1 slot returned %u", map.nr_entries);

    map.nr_entries = MAX_E820;
    set_xen_guest_handle(map.buffer, BAD_PTR_UNMAPPED);
    check_rc(HYPERVISOR_memory_op(XENMEM_memory_map, &map), -XEN_EFAULT,
             "memory_map into a bad buffer");
    check_rc(HYPERVISOR_memory_op(XENMEM_memory_map, BAD_PTR_UNMAPPED), -XEN_EFAULT,
             "memory_map from a bad pointer");

    /* hvm_memory_op(): not for HVM guests. */
    check_rc(HYPERVISOR_memory_op(XENMEM_machine_memory_map, &map), -XEN_ENOSYS,
             "machine_memory_map");
    check_rc(HYPERVISOR_memory_op(XENMEM_machphys_mapping, &map), -XEN_ENOSYS,
             "machphys_mapping");
    return ram_top;
}

static long reservation(unsigned int op, domid_t domid)
{
    struct xen_memory_domain d = { .domid = domid };

    return HYPERVISOR_memory_op(op, &d);
}

static void test_reservations(const struct hvm_start_info *si, uint64_t ram_top)
{
    const struct hvm_memmap_table_entry *mm =
        (const void *)(uintptr_t)si->memmap_paddr;
    uint64_t ram_pages = 0;

    for (uint32_t i = 0; i < si->memmap_entries; i++)
        if (mm[i].type == XEN_HVM_MEMMAP_TYPE_RAM)
            ram_pages += mm[i].size >> PAGE_SHIFT;

    long cur = reservation(XENMEM_current_reservation, DOMID_SELF);
    long max = reservation(XENMEM_maximum_reservation, DOMID_SELF);
    long gpfn = reservation(XENMEM_maximum_gpfn, DOMID_SELF);
    long ram_page = HYPERVISOR_memory_op(XENMEM_maximum_ram_page, NULL);

    printk("reservation: current %ld max %ld pages, max gpfn %#lx, memmap RAM %lu pages,"
           " host max_page %#lx\n", cur, max, gpfn, (unsigned long)ram_pages, ram_page);

    check(cur >= (long)((MEMORY_MIB - 8) * PAGES_PER_MIB) &&
              cur <= (long)((MEMORY_MIB + 2) * PAGES_PER_MIB),
          "current_reservation %ld pages for memory=%u", cur, MEMORY_MIB);
    /* Special pages (console, xenstore...) count too; keep within 1 MiB. */
    check(cur - (long)ram_pages <= (long)PAGES_PER_MIB &&
              (long)ram_pages - cur <= (long)PAGES_PER_MIB,
          "current_reservation %ld close to memmap RAM %lu pages", cur,
          (unsigned long)ram_pages);
    check(max >= cur, "maximum_reservation %ld >= current %ld", max, cur);
    check(gpfn >= (long)(ram_top >> PAGE_SHIFT) - 1, "maximum_gpfn %#lx covers RAM top %#lx",
          gpfn, (unsigned long)ram_top);
    check(ram_page > 0, "maximum_ram_page %ld", ram_page);

    /* Another domain: looked up first (-ESRCH), then XSM_TARGET (-EPERM). */
    check_rc(reservation(XENMEM_current_reservation, DOMID_UNUSED), -XEN_ESRCH,
             "current_reservation of unused domid %#x", DOMID_UNUSED);
    check_rc(reservation(XENMEM_current_reservation, 0), -XEN_EPERM,
             "current_reservation of dom0");
    check_rc(reservation(XENMEM_maximum_reservation, 0), -XEN_EPERM,
             "maximum_reservation of dom0");
    check_rc(reservation(XENMEM_maximum_gpfn, 0), -XEN_EPERM, "maximum_gpfn of dom0");
    check_rc(HYPERVISOR_memory_op(XENMEM_current_reservation, BAD_PTR_UNMAPPED),
             -XEN_EFAULT, "current_reservation from a bad pointer");

    /* Reservation ops report extents done: a bad pointer gives 0, not an errno. */
    check_rc(HYPERVISOR_memory_op(XENMEM_increase_reservation, BAD_PTR_UNMAPPED), 0,
             "increase_reservation from a bad pointer");
}

void test_main(const struct hvm_start_info *si)
{
    uint64_t ram_top;

    if (si->version < 1 || si->memmap_entries == 0) {
        xtf_error("start info has no memmap (version %u)", si->version);
        return;
    }
    test_add_to_physmap();
    ram_top = test_memory_map(si);
    test_reservations(si, ram_top);

    check_rc(HYPERVISOR_memory_op(60, NULL), -XEN_ENOSYS, "unknown sub-op 60");
    if (!xtf_failures())
        xtf_success(NULL);
}
