/* The kit's grant table: see kit/gnttab.h. */
#include <kit/gnttab.h>
#include <kit/hypercall.h>
#include <kit/lib.h>

#include <xen/grant_table.h>

static uint8_t gnttab_frame[PAGE_SIZE] __page_aligned;

long gnttab_map(void)
{
    struct xen_add_to_physmap xatp = {
        .domid = DOMID_SELF, .space = XENMAPSPACE_grant_table, .idx = 0,
        .gpfn = (uintptr_t)gnttab_frame >> PAGE_SHIFT,
    };

    return HYPERVISOR_memory_op(XENMEM_add_to_physmap, &xatp);
}

void gnttab_grant(unsigned int ref, const void *page, bool readonly)
{
    grant_entry_v1_t *e = &((grant_entry_v1_t *)gnttab_frame)[ref];

    e->frame = (uint32_t)((uintptr_t)page >> PAGE_SHIFT);
    e->domid = 0;
    barrier();
    WRITE_ONCE(e->flags, (uint16_t)(GTF_permit_access | (readonly ? GTF_readonly : 0)));
}
