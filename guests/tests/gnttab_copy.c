/*
 * GNTTABOP_copy from an unprivileged PVH domain, per Xen 4.17's
 * xen/common/grant_table.c gnttab_copy(): grants the guest made to itself
 * and frames of its own memory, with the per-op status codes, and the
 * entries' GTF_reading/GTF_writing back to clear after every copy.
 */
#include <kit/test.h>
#include <xen/grant_table.h>

const char test_title[] = "gnttab_copy: grant and frame copies, per-op statuses";

static uint8_t table_page[PAGE_SIZE] __page_aligned;  /* grant frame 0 */
static uint8_t src_page[PAGE_SIZE] __page_aligned;
static uint8_t dst_page[PAGE_SIZE] __page_aligned;
static uint8_t other_page[PAGE_SIZE] __page_aligned;
static domid_t self;

#define REF_RO   10u  /* src_page, read-only, to ourselves */
#define REF_RW   11u  /* dst_page, writable, to ourselves */
#define REF_DOM0 12u  /* other_page, granted to domain 0 */

static long gnttab_op(unsigned int cmd, void *uop, unsigned int count)
{
    return hypercall_slot(__HYPERVISOR_grant_table_op, cmd, HCALL_ARG(uop), count, 0, 0);
}

static xen_pfn_t gfn_of(const void *p)
{
    return (xen_pfn_t)((unsigned long)p >> PAGE_SHIFT);
}

static void grant(grant_ref_t ref, domid_t to, const void *page, uint16_t flags)
{
    grant_entry_v1_t *e = (grant_entry_v1_t *)table_page + ref;

    WRITE_ONCE(e->frame, (uint32_t)gfn_of(page));
    WRITE_ONCE(e->domid, to);
    __atomic_store_n(&e->flags, flags, __ATOMIC_RELEASE);
}

static uint16_t flags_of(grant_ref_t ref)
{
    return READ_ONCE(((grant_entry_v1_t *)table_page)[ref].flags);
}

static struct gnttab_copy gref_copy(grant_ref_t sref, uint16_t soff, grant_ref_t dref,
                                    uint16_t doff, uint16_t len)
{
    struct gnttab_copy op = {
        .source = { .u.ref = sref, .domid = DOMID_SELF, .offset = soff },
        .dest = { .u.ref = dref, .domid = DOMID_SELF, .offset = doff },
        .len = len,
        .flags = GNTCOPY_source_gref | GNTCOPY_dest_gref,
        .status = 1,
    };

    return op;
}

static int16_t copy1(struct gnttab_copy op)
{
    long rc = gnttab_op(GNTTABOP_copy, &op, 1);

    check_rc(rc, 0, "copy");
    return op.status;
}

static bool setup(void)
{
    struct xen_add_to_physmap xatp = {
        .domid = DOMID_SELF, .space = XENMAPSPACE_grant_table, .idx = 0,
        .gpfn = gfn_of(table_page),
    };
    struct evtchn_status st;
    evtchn_port_t port = 0;

    /* alloc_unbound(DOMID_SELF) records our real domid. */
    if (!check_rc(evtchn_alloc_unbound(DOMID_SELF, &port), 0, "alloc_unbound") ||
        !check_rc(evtchn_status(DOMID_SELF, port, &st), 0, "evtchn_status"))
        return false;
    self = st.u.unbound.dom;
    if (!check_rc(HYPERVISOR_memory_op(XENMEM_add_to_physmap, &xatp), 0, "map grant frame 0"))
        return false;
    for (unsigned int i = 0; i < PAGE_SIZE; ++i)
        src_page[i] = (uint8_t)i;
    grant(REF_RO, self, src_page, GTF_permit_access | GTF_readonly);
    grant(REF_RW, self, dst_page, GTF_permit_access);
    grant(REF_DOM0, 0, other_page, GTF_permit_access);
    return true;
}

static void test_grant_to_grant(void)
{
    check(copy1(gref_copy(REF_RO, 100, REF_RW, 1000, 200)) == GNTST_okay,
          "copy read-only grant -> writable grant");
    check(dst_page[999] == 0 && dst_page[1000] == 100 && dst_page[1199] == (uint8_t)299 &&
              dst_page[1200] == 0,
          "copied bytes: %u %u %u %u", dst_page[999], dst_page[1000], dst_page[1199],
          dst_page[1200]);
    check(flags_of(REF_RO) == (GTF_permit_access | GTF_readonly) &&
              flags_of(REF_RW) == GTF_permit_access,
          "flags after the copy: %#x %#x (no GTF_reading/GTF_writing left)", flags_of(REF_RO),
          flags_of(REF_RW));
}

static void test_frames(void)
{
    struct gnttab_copy op = gref_copy(0, 0, REF_RW, 0, 16);

    /* A frame of our own memory, named as DOMID_SELF. */
    op.flags = GNTCOPY_dest_gref;
    op.source.u.gmfn = gfn_of(src_page);
    op.source.offset = 16;
    check(copy1(op) == GNTST_okay && dst_page[0] == 16, "own frame -> grant: %u", dst_page[0]);
    /* Only DOMID_SELF may name a frame, even our own id. */
    op.source.domid = self;
    check(copy1(op) == GNTST_permission_denied, "frame named by our domid");
    op.source.domid = DOMID_SELF;
    op.source.u.gmfn = 0x7ffff;  /* beyond memory=32 */
    check(copy1(op) == GNTST_bad_page, "frame outside our memory");
}

static void test_statuses(void)
{
    struct gnttab_copy ops[4] = {
        gref_copy(REF_RW, 0, REF_RO, 0, 8),     /* read-only destination */
        gref_copy(REF_RO, 4000, REF_RW, 0, 97), /* crosses the page */
        gref_copy(5000, 0, REF_RW, 0, 8),       /* beyond the table */
        gref_copy(REF_DOM0, 0, REF_RW, 0, 8),   /* granted to someone else */
    };
    uint8_t before = src_page[0];

    check_rc(gnttab_op(GNTTABOP_copy, ops, 4), 0, "a batch of four");
    check(ops[0].status == GNTST_general_error, "read-only dest: %d", ops[0].status);
    check(src_page[0] == before, "read-only grant unchanged");
    check(ops[1].status == GNTST_bad_copy_arg, "crossing copy: %d", ops[1].status);
    check(ops[2].status == GNTST_bad_gntref, "bad ref: %d", ops[2].status);
    check(ops[3].status == GNTST_general_error, "not ours: %d", ops[3].status);

    struct gnttab_copy op = gref_copy(REF_RO, 0, REF_RW, 0, 8);
    op.source.domid = DOMID_UNUSED;
    check(copy1(op) == GNTST_bad_domain, "unused domid");

    check_rc(gnttab_op(GNTTABOP_copy, ops, 0), 0, "count 0");
    check_rc(gnttab_op(GNTTABOP_copy, BAD_PTR_UNMAPPED, 1), -XEN_EFAULT, "bad pointer");
    check(flags_of(REF_RO) == (GTF_permit_access | GTF_readonly) &&
              flags_of(REF_RW) == GTF_permit_access && flags_of(REF_DOM0) == GTF_permit_access,
          "flags after the failures: %#x %#x %#x", flags_of(REF_RO), flags_of(REF_RW),
          flags_of(REF_DOM0));
}

/* Ending access after copies: the entry comes back (nothing left pinned). */
static void test_end_access(void)
{
    uint16_t f = flags_of(REF_RW);

    check(!(f & (GTF_reading | GTF_writing)) &&
              __atomic_compare_exchange_n(&((grant_entry_v1_t *)table_page)[REF_RW].flags, &f,
                                          0, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST),
          "end access to the copied-into grant");
    check(copy1(gref_copy(REF_RO, 0, REF_RW, 0, 8)) == GNTST_general_error,
          "copy into an ended grant");
}

void test_main(const struct hvm_start_info *si)
{
    (void)si;
    if (setup()) {
        test_grant_to_grant();
        test_frames();
        test_statuses();
        test_end_access();
    }
    xtf_success(NULL);
}
