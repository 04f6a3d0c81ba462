/*
 * Grant-table set-up for an unprivileged PVH domain, per Xen 4.17's
 * xen/arch/x86/hvm/hypercall.c hvm_grant_table_op() (which commands an HVM
 * guest may use), xen/common/grant_table.c (gnttab_query_size,
 * gnttab_setup_table, gnttab_set_version, gnttab_get_version,
 * gnttab_map_frame) and xen/arch/x86/mm/p2m.c xenmem_add_to_physmap_one().
 * Config: memory=32 max_grant_frames=8.
 */
#include <kit/test.h>
#include <xen/grant_table.h>

const char test_title[] = "gnttab: sizes, versions, grant and status frames in the physmap";

#define MAX_FRAMES 8u                 /* max_grant_frames in guests.list */
#define NO_GFN     (~(xen_pfn_t)0)    /* what setup_table says of an unmapped frame */
/* Unpopulated space above RAM (memory=32), inside the kit's identity map. */
#define HOLE_GFN   0x8000ul

static uint8_t ram_page[PAGE_SIZE] __page_aligned;

static long gnttab_op(unsigned int cmd, void *uop, unsigned int count)
{
    return hypercall_slot(__HYPERVISOR_grant_table_op, cmd, HCALL_ARG(uop), count, 0, 0);
}

static long map_grant_frame(xen_ulong_t idx, xen_pfn_t gpfn)
{
    struct xen_add_to_physmap xatp = {
        .domid = DOMID_SELF, .space = XENMAPSPACE_grant_table, .idx = idx, .gpfn = gpfn,
    };

    return HYPERVISOR_memory_op(XENMEM_add_to_physmap, &xatp);
}

static uint32_t nr_frames(void)
{
    struct gnttab_query_size q = { .dom = DOMID_SELF };

    if (gnttab_op(GNTTABOP_query_size, &q, 1) || q.status != GNTST_okay)
        return 0;
    return q.nr_frames;
}

static uint32_t version(void)
{
    struct gnttab_get_version gv = { .dom = DOMID_SELF };

    return gnttab_op(GNTTABOP_get_version, &gv, 1) ? 0 : gv.version;
}

static long set_version(uint32_t v, uint32_t *now)
{
    struct gnttab_set_version sv = { .version = v };
    long rc = gnttab_op(GNTTABOP_set_version, &sv, 1);

    *now = sv.version;
    return rc;
}

static void test_query_size(void)
{
    struct gnttab_query_size q = { .dom = DOMID_SELF };

    check_rc(gnttab_op(GNTTABOP_query_size, &q, 1), 0, "query_size");
    check(q.status == GNTST_okay && q.nr_frames == 1 && q.max_nr_frames == MAX_FRAMES,
          "query_size: status %d, %u of %u frames (want 1 of %u)", q.status, q.nr_frames,
          q.max_nr_frames, MAX_FRAMES);
    check_rc(gnttab_op(GNTTABOP_query_size, &q, 0), -XEN_EINVAL, "query_size, count 0");
    check_rc(gnttab_op(GNTTABOP_query_size, &q, 2), -XEN_EINVAL, "query_size, count 2");
    check_rc(gnttab_op(GNTTABOP_query_size, &q, 0x80000000u), -XEN_EINVAL,
             "query_size, negative count");
    check_rc(gnttab_op(GNTTABOP_query_size, BAD_PTR_UNMAPPED, 1), -XEN_EFAULT,
             "query_size from a bad pointer");

    /* The domain lookup fails in the status, not the call. */
    q.dom = DOMID_UNUSED;
    check_rc(gnttab_op(GNTTABOP_query_size, &q, 1), 0, "query_size, unused domid");
    check(q.status == GNTST_bad_domain, "unused domid: status %d", q.status);
    q.dom = 0;
    check_rc(gnttab_op(GNTTABOP_query_size, &q, 1), 0, "query_size, dom0");
    check(q.status == GNTST_permission_denied, "dom0: status %d", q.status);
}

static void test_versions(void)
{
    struct gnttab_get_version gv = { .dom = DOMID_SELF };
    uint32_t now = 0;

    check_rc(gnttab_op(GNTTABOP_get_version, &gv, 1), 0, "get_version");
    check(gv.version == 1, "a new table is version %u, want 1", gv.version);
    gv.dom = DOMID_UNUSED;
    check_rc(gnttab_op(GNTTABOP_get_version, &gv, 1), -XEN_ESRCH, "get_version, unused domid");
    gv.dom = 0;
    check_rc(gnttab_op(GNTTABOP_get_version, &gv, 1), -XEN_EPERM, "get_version, dom0");
    check_rc(gnttab_op(GNTTABOP_get_version, BAD_PTR_UNMAPPED, 1), -XEN_EFAULT,
             "get_version from a bad pointer");

    /* The version in effect is written back even on failure. */
    check_rc(set_version(3, &now), -XEN_EINVAL, "set_version(3)");
    check(now == 1, "set_version(3) wrote back %u", now);
    check_rc(set_version(0, &now), -XEN_EINVAL, "set_version(0)");
    check_rc(set_version(1, &now), 0, "set_version(1) on a v1 table");
    check_rc(gnttab_op(GNTTABOP_set_version, BAD_PTR_UNMAPPED, 1), -XEN_EFAULT,
             "set_version from a bad pointer");
}

static void test_setup_table(void)
{
    static xen_pfn_t frames[MAX_FRAMES + 1];
    struct gnttab_setup_table st = { .dom = DOMID_SELF, .nr_frames = 2 };

    frames[0] = frames[1] = 0;
    set_xen_guest_handle(st.frame_list, frames);
    check_rc(gnttab_op(GNTTABOP_setup_table, &st, 1), 0, "setup_table(2)");
    /* A translated guest learns the frames' gfns: none until it maps them. */
    check(st.status == GNTST_okay && frames[0] == NO_GFN && frames[1] == NO_GFN,
          "setup_table(2): status %d, frames %#lx %#lx", st.status, (unsigned long)frames[0],
          (unsigned long)frames[1]);
    check(nr_frames() == 2, "setup_table(2) grew the table to %u frames", nr_frames());

    st.nr_frames = MAX_FRAMES + 1;
    check_rc(gnttab_op(GNTTABOP_setup_table, &st, 1), 0, "setup_table(%u)", MAX_FRAMES + 1);
    check(st.status == GNTST_general_error, "beyond max_grant_frames: status %d", st.status);
    check_rc(gnttab_op(GNTTABOP_setup_table, &st, 2), -XEN_EINVAL, "setup_table, count 2");

    st.nr_frames = 1;
    set_xen_guest_handle(st.frame_list, BAD_PTR_UNMAPPED);
    check_rc(gnttab_op(GNTTABOP_setup_table, &st, 1), 0, "setup_table into a bad list");
    check(st.status == GNTST_bad_virt_addr, "bad frame list: status %d", st.status);
    st.dom = DOMID_UNUSED;
    check_rc(gnttab_op(GNTTABOP_setup_table, &st, 1), 0, "setup_table, unused domid");
    check(st.status == GNTST_bad_domain, "unused domid: status %d", st.status);
    check_rc(gnttab_op(GNTTABOP_setup_table, BAD_PTR_UNMAPPED, 1), -XEN_EFAULT,
             "setup_table from a bad pointer");
}

static xen_pfn_t frame0_gfn(void)
{
    xen_pfn_t gfn = 0;
    struct gnttab_setup_table st = { .dom = DOMID_SELF, .nr_frames = 1 };

    set_xen_guest_handle(st.frame_list, &gfn);
    if (gnttab_op(GNTTABOP_setup_table, &st, 1) || st.status != GNTST_okay)
        return 0;
    return gfn;
}

/* Version 1 frames: in unpopulated space, then over a RAM page. */
static void test_v1_frames(void)
{
    grant_entry_v1_t *hole = (grant_entry_v1_t *)(HOLE_GFN << PAGE_SHIFT);
    grant_entry_v1_t *ram = (grant_entry_v1_t *)ram_page;
    xen_pfn_t ram_gfn = (uintptr_t)ram_page >> PAGE_SHIFT;

    if (!check_rc(map_grant_frame(0, HOLE_GFN), 0, "frame 0 at unpopulated gfn %#lx",
                  HOLE_GFN))
        return;
    check(frame0_gfn() == HOLE_GFN, "setup_table says frame 0 is at %#lx",
          (unsigned long)frame0_gfn());
    /* A reserved entry (kept across versions) and an ordinary one. */
    WRITE_ONCE(hole[2].domid, 0);
    WRITE_ONCE(hole[2].frame, 0x5678);
    WRITE_ONCE(hole[2].flags, GTF_permit_access | GTF_reading);
    WRITE_ONCE(hole[9].domid, 0);
    WRITE_ONCE(hole[9].frame, 0x1234);
    WRITE_ONCE(hole[9].flags, GTF_permit_access);

    /* The RAM page is replaced by the frame, entries and all. */
    memset(ram_page, 0xa5, sizeof(ram_page));
    if (!check_rc(map_grant_frame(0, ram_gfn), 0, "frame 0 at RAM gfn %#lx",
                  (unsigned long)ram_gfn))
        return;
    check(READ_ONCE(ram[9].flags) == GTF_permit_access && READ_ONCE(ram[9].frame) == 0x1234 &&
              READ_ONCE(ram[2].frame) == 0x5678,
          "RAM gfn shows frame 0: entry 9 flags %#x frame %#x", READ_ONCE(ram[9].flags),
          READ_ONCE(ram[9].frame));
    check(frame0_gfn() == ram_gfn, "setup_table follows frame 0 to %#lx",
          (unsigned long)frame0_gfn());

    /* Frames up to max_grant_frames come into existence when mapped. */
    check_rc(map_grant_frame(MAX_FRAMES - 1, HOLE_GFN + 1), 0, "frame %u", MAX_FRAMES - 1);
    check(nr_frames() == MAX_FRAMES, "the table grew to %u frames", nr_frames());
    check_rc(map_grant_frame(MAX_FRAMES, HOLE_GFN + 2), -XEN_EINVAL, "frame %u", MAX_FRAMES);
    check_rc(map_grant_frame(0xffffffffu, HOLE_GFN + 2), -XEN_EINVAL, "frame 0xffffffff");
    /* In version 1 the status bit is just part of the index. */
    check_rc(map_grant_frame(XENMAPIDX_grant_table_status | 0, HOLE_GFN + 2), -XEN_EINVAL,
             "status frame 0 in version 1");
    check_rc(map_grant_frame(0, NO_GFN), -XEN_EINVAL, "frame 0 at INVALID_GFN");
}

static void test_v2(void)
{
    grant_entry_v2_t *v2 = (grant_entry_v2_t *)ram_page;
    const grant_entry_v1_t *v1 = (const grant_entry_v1_t *)ram_page;
    grant_status_t *status = (grant_status_t *)((HOLE_GFN + 3) << PAGE_SHIFT);
    uint32_t now = 0;
    uint64_t frame_list[1];
    struct gnttab_get_status_frames gs = { .nr_frames = 1, .dom = DOMID_SELF };

    if (!check_rc(set_version(2, &now), 0, "set_version(2)") || !check(now == 2, "now %u", now))
        return;
    check(version() == 2, "get_version says %u", version());
    /* Reserved entries survive in v2 form (status bits split off), others are cleared. */
    check(READ_ONCE(v2[2].hdr.flags) == GTF_permit_access && READ_ONCE(v2[2].hdr.domid) == 0 &&
              READ_ONCE(v2[2].full_page.frame) == 0x5678,
          "reserved entry 2 in v2: flags %#x frame %#llx", READ_ONCE(v2[2].hdr.flags),
          (unsigned long long)READ_ONCE(v2[2].full_page.frame));
    check(READ_ONCE(v1[9].flags) == 0 && READ_ONCE(v1[9].frame) == 0,
          "old v1 entry 9 is cleared");

    /* HVM guests map status frames through add_to_physmap only. */
    set_xen_guest_handle(gs.frame_list, frame_list);
    check_rc(gnttab_op(GNTTABOP_get_status_frames, &gs, 1), -XEN_ENOSYS,
             "get_status_frames (not for HVM guests)");
    if (check_rc(map_grant_frame(XENMAPIDX_grant_table_status | 0, HOLE_GFN + 3), 0,
                 "status frame 0"))
        check(READ_ONCE(status[2]) == GTF_reading, "status of entry 2 is %#x, want GTF_reading",
              READ_ONCE(status[2]));
    /* Status frame 1 covers entries that need 16 grant frames. */
    check_rc(map_grant_frame(XENMAPIDX_grant_table_status | 1, HOLE_GFN + 4), -XEN_EINVAL,
             "status frame 1 with %u grant frames at most", MAX_FRAMES);

    /* Back to v1: only if the reserved entries have a v1 form. */
    WRITE_ONCE(v2[3].full_page.frame, 1ull << 32);
    WRITE_ONCE(v2[3].hdr.flags, GTF_permit_access);
    check_rc(set_version(1, &now), -XEN_ERANGE, "set_version(1), entry 3 frame above 4G");
    check(now == 2, "refused switch wrote back %u", now);
    WRITE_ONCE(v2[3].hdr.flags, 0);
    check_rc(set_version(1, &now), 0, "set_version(1)");
    check(version() == 1, "get_version says %u", version());
    check(READ_ONCE(v1[2].flags) == (GTF_permit_access | GTF_reading) &&
              READ_ONCE(v1[2].frame) == 0x5678,
          "reserved entry 2 back in v1: flags %#x frame %#x", READ_ONCE(v1[2].flags),
          READ_ONCE(v1[2].frame));
}

static void test_bad_commands(void)
{
    struct gnttab_query_size q = { .dom = DOMID_SELF };

    check_rc(gnttab_op(99, &q, 1), -XEN_ENOSYS, "grant_table_op 99");
    check_rc(gnttab_op(GNTTABOP_query_size | (1u << 12), &q, 1), -XEN_ENOSYS,
             "query_size with a continuation argument");
    check_rc(gnttab_op(GNTTABOP_transfer, &q, 1), -XEN_ENOSYS, "transfer (PV only)");
}

void test_main(const struct hvm_start_info *si)
{
    (void)si;
    test_query_size();
    test_versions();
    test_setup_table();
    test_v1_frames();
    test_v2();
    test_bad_commands();
    xtf_success(NULL);
}
