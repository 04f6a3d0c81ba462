/*
 * A small balloon driver, as Linux's drivers/xen/balloon.c behaves for a
 * PVH guest: it watches memory/target and moves its allocation
 * (XENMEM_current_reservation, Xen's tot_pages) to target / 4 pages. Going
 * down, it writes a pattern into each frame and gives the frames back with
 * XENMEM_decrease_reservation (512 order-0 extents per call); going up, it
 * takes frames back, then frames above its initial RAM (when the
 * toolstack's maxmem allows), with XENMEM_populate_physmap and checks that
 * every one reads as zero. Frames are taken from the top of RAM down, never
 * below the image. Semantics: Xen 4.17 common/memory.c (do_memory_op,
 * decrease_reservation, populate_physmap, guest_remove_page).
 *
 * Console lines the harness reads (tests/integration/balloon.sh,
 * bench/balloon.sh):
 *   balloon: ready pages=<tot_pages>
 *   balloon: done target=<KiB> current=<KiB>      after every adjustment
 *   balloon: short target=<KiB> current=<KiB>     the hypervisor refused more
 * Command line: "touch" writes every RAM frame first (so the host backs all
 * of it, for the benchmark). The driver runs until control/shutdown asks it
 * to power off, acknowledges as a PV driver does, and reports its verdict.
 */
#include <kit/test.h>
#include <kit/xenstore.h>
#include <xen/memory.h>

const char test_title[] = "balloon: decrease_reservation/populate_physmap following memory/target";

#define BATCH         512u
#define PATTERN       0x5a5a5a5a5a5a5a5aull
#define WAIT_SLICE_NS 1000000000ull

static xen_pfn_t batch[BATCH];
static uint64_t floor_pfn; /* lowest frame the balloon may give back */
static uint64_t top_pfn;   /* frames [floor_pfn, top_pfn) are populated */
static bool short_reported;

static long reservation_op(unsigned int cmd, xen_pfn_t *list, unsigned long n,
                           unsigned int order, domid_t domid, unsigned int flags)
{
    struct xen_memory_reservation r = {
        .nr_extents = n, .extent_order = order, .mem_flags = flags, .domid = domid,
    };

    set_xen_guest_handle(r.extent_start, list);
    return HYPERVISOR_memory_op(cmd, &r);
}

static long current_pages(void)
{
    domid_t self = DOMID_SELF;

    return HYPERVISOR_memory_op(XENMEM_current_reservation, &self);
}

static uint64_t *frame(uint64_t pfn)
{
    return (uint64_t *)(uintptr_t)(pfn << PAGE_SHIFT);
}

/* Gives back up to n frames from the top; returns how many went. */
static uint64_t give_back(uint64_t n)
{
    uint64_t done = 0;

    while (done < n && top_pfn > floor_pfn) {
        unsigned int count = 0;

        while (count < BATCH && done + count < n && top_pfn - count > floor_pfn) {
            uint64_t pfn = top_pfn - 1 - count;

            *frame(pfn) = PATTERN; /* must be gone when the frame comes back */
            frame(pfn)[PAGE_SIZE / 8 - 1] = PATTERN;
            batch[count++] = pfn;
        }
        long rc = reservation_op(XENMEM_decrease_reservation, batch, count, 0, DOMID_SELF, 0);

        if (!check(rc == (long)count, "decrease_reservation of %u frames below %#lx: %ld done",
                   count, (unsigned long)top_pfn, rc))
            return done + (rc > 0 ? (uint64_t)rc : 0);
        top_pfn -= count;
        done += count;
    }
    return done;
}

/* Takes up to n frames back from the top; returns how many came. */
static uint64_t take(uint64_t n)
{
    uint64_t done = 0;

    while (done < n) {
        unsigned int count = 0;

        while (count < BATCH && done + count < n) {
            batch[count] = top_pfn + count;
            count++;
        }
        long rc = reservation_op(XENMEM_populate_physmap, batch, count, 0, DOMID_SELF, 0);

        if (rc < 0 || rc > (long)count) {
            check(false, "populate_physmap of %u frames at %#lx: %ld", count,
                  (unsigned long)top_pfn, rc);
            return done;
        }
        for (long i = 0; i < rc; i++) {
            uint64_t *p = frame(top_pfn + (uint64_t)i);

            if (p[0] != 0 || p[PAGE_SIZE / 8 - 1] != 0) {
                check(false, "repopulated frame %#lx reads %#lx, not zero",
                      (unsigned long)(top_pfn + (uint64_t)i), (unsigned long)p[0]);
                break;
            }
        }
        top_pfn += (uint64_t)rc;
        done += (uint64_t)rc;
        if (rc < (long)count)
            break; /* max_pages (or the physmap) reached */
    }
    return done;
}

static void follow_target(void)
{
    uint64_t target_kib = 0;

    if (!check_rc(xs_read_u64("memory/target", &target_kib), 0, "read memory/target"))
        return;
    const uint64_t want = target_kib / 4;
    long cur = current_pages();

    if (!check(cur > 0, "current_reservation %ld", cur))
        return;
    if ((uint64_t)cur > want)
        give_back((uint64_t)cur - want);
    else if ((uint64_t)cur < want)
        take(want - (uint64_t)cur);

    long now = current_pages();

    if ((uint64_t)now == want) {
        short_reported = false;
        printk("balloon: done target=%lu current=%lu\n", (unsigned long)target_kib,
               (unsigned long)now * 4);
    } else {
        /* Below the floor, or above what max_pages and the physmap give. */
        if (!short_reported)
            printk("balloon: short target=%lu current=%lu\n", (unsigned long)target_kib,
                   (unsigned long)now * 4);
        short_reported = true;
    }
}

/* Xen's answers to requests a balloon driver must never get wrong. */
static void check_semantics(void)
{
    long before = current_pages();
    xen_pfn_t top = top_pfn - 1, bad[3];

    /* The top frame goes, cannot go twice, and comes back as zero. */
    *frame(top) = PATTERN;
    check_rc(reservation_op(XENMEM_decrease_reservation, &top, 1, 0, DOMID_SELF, 0), 1,
             "decrease_reservation of the top frame");
    check_rc(current_pages(), before - 1, "current_reservation after giving one frame");
    check_rc(reservation_op(XENMEM_decrease_reservation, &top, 1, 0, DOMID_SELF, 0), 0,
             "decrease_reservation of a frame already given back (guest_remove_page)");
    /* A list stops at its first bad extent: [good, gone, good] does 1. */
    bad[0] = top - 1;
    bad[1] = top;
    bad[2] = top - 2;
    check_rc(reservation_op(XENMEM_decrease_reservation, bad, 3, 0, DOMID_SELF, 0), 1,
             "decrease_reservation stops at the first unpopulated frame");
    xen_pfn_t back[2] = { top - 1, top };
    check_rc(reservation_op(XENMEM_populate_physmap, back, 2, 0, DOMID_SELF, 0), 2,
             "populate_physmap of the two frames");
    check(*frame(top) == 0 && *frame(top - 1) == 0, "repopulated frames read as zero");
    check_rc(current_pages(), before, "current_reservation back to where it was");

    /* Refusals return the extents done (the start extent), never an errno. */
    check_rc(reservation_op(XENMEM_decrease_reservation, &top, 1, 10, DOMID_SELF, 0), 0,
             "extent_order 10 > the domU maximum 9");
    check_rc(reservation_op(XENMEM_populate_physmap, &top, 1, 0, DOMID_SELF,
                            XENMEMF_populate_on_demand), 0,
             "populate_physmap with populate_on_demand on oneself");
    check_rc(reservation_op(XENMEM_populate_physmap, &top, 1, 0, DOMID_SELF,
                            XENMEMF_address_bits(12)), 0, "address_bits 12");
    check_rc(reservation_op(XENMEM_decrease_reservation, &top, 1, 0, DOMID_UNUSED, 0), 0,
             "unused domid %#x", DOMID_UNUSED);
    check_rc(reservation_op(XENMEM_decrease_reservation, &top, 1, 0, 0, 0), 0, "dom0");
    check_rc(reservation_op(XENMEM_decrease_reservation, &top, 0x4000000, 0, DOMID_SELF, 0), 0,
             "nr_extents above UINT_MAX >> MEMOP_EXTENT_SHIFT");
    {
        struct xen_memory_reservation r = { .nr_extents = 2, .domid = DOMID_SELF };

        set_xen_guest_handle(r.extent_start, &top);
        check_rc(HYPERVISOR_memory_op(XENMEM_decrease_reservation | (5u << 6), &r), 5,
                 "start extent 5 of 2 is returned as it is");
    }
    check_rc(HYPERVISOR_memory_op(XENMEM_populate_physmap, BAD_PTR_UNMAPPED), 0,
             "populate_physmap from a bad pointer");
    check_rc(reservation_op(XENMEM_decrease_reservation, (xen_pfn_t *)BAD_PTR_UNMAPPED, 1, 0,
                            DOMID_SELF, 0), 0, "an unreadable extent list");
    check_rc(current_pages(), before, "current_reservation unchanged by the refusals");

    /*
     * tot_pages may not pass max_pages (assign_pages). The toolstack leaves
     * 1 MiB of room (LIBXL_MAXMEM_CONSTANT). increase_reservation charges a
     * translated guest pages mapped nowhere; populate_physmap over a
     * populated frame charges a fresh page and the displaced one stays
     * charged. Both stop exactly at the limit. The balloon gives the excess
     * back when it first follows memory/target.
     */
    domid_t self = DOMID_SELF;
    long max = HYPERVISOR_memory_op(XENMEM_maximum_reservation, &self);
    long room = max - before;

    printk("balloon: reservation %ld pages, maximum %ld\n", before, max);
    if (!check(room >= 2 && room + 8 <= (long)BATCH, "room below max_pages: %ld pages", room))
        return;
    check_rc(reservation_op(XENMEM_increase_reservation, NULL, 1, 0, DOMID_SELF, 0), 1,
             "increase_reservation of one page");
    for (unsigned int i = 0; i < BATCH; i++)
        batch[i] = top;
    *frame(top) = PATTERN;
    check_rc(reservation_op(XENMEM_populate_physmap, batch, (unsigned long)room + 7, 0,
                            DOMID_SELF, 0), room - 1,
             "populate_physmap over a populated frame stops at max_pages");
    check(*frame(top) == 0, "the replaced frame reads as zero");
    check_rc(current_pages(), max, "current_reservation at max_pages");
    check_rc(reservation_op(XENMEM_increase_reservation, NULL, 1, 0, DOMID_SELF, 0), 0,
             "increase_reservation at max_pages");
    check_rc(reservation_op(XENMEM_populate_physmap, batch, 1, 0, DOMID_SELF, 0), 0,
             "populate_physmap at max_pages");
}

static uint64_t ram_top_pfn(const struct hvm_start_info *si)
{
    const struct hvm_memmap_table_entry *m =
        (const void *)(uintptr_t)si->memmap_paddr;
    uint64_t top = 0;

    for (uint32_t i = 0; i < si->memmap_entries; i++)
        if (m[i].type == XEN_HVM_MEMMAP_TYPE_RAM && m[i].addr + m[i].size > top)
            top = m[i].addr + m[i].size;
    return top >> PAGE_SHIFT;
}

void test_main(const struct hvm_start_info *si)
{
    const char *cmdline = si->cmdline_paddr ? (const char *)(uintptr_t)si->cmdline_paddr : "";
    char path[64], token[16], value[32];

    /* Leave the image and a margin above it alone. */
    floor_pfn = (((uintptr_t)_image_end + (1ul << 20) - 1) >> 20 << 20 >> PAGE_SHIFT) + 256;
    top_pfn = ram_top_pfn(si);
    if (!check(top_pfn > floor_pfn + 16, "RAM top %#lx above the floor %#lx",
               (unsigned long)top_pfn, (unsigned long)floor_pfn))
        return;
    if (strstr(cmdline, "touch")) {
        for (uint64_t pfn = floor_pfn; pfn < top_pfn; pfn++)
            *frame(pfn) = pfn;
        printk("balloon: touched %lu frames\n", (unsigned long)(top_pfn - floor_pfn));
    }
    if (!check_rc(evtchn_init(UPCALL_AUTO), 0, "evtchn_init") ||
        !check_rc(xs_connect(), 0, "xs_connect"))
        return;
    check_semantics();
    if (!check_rc(xs_watch("memory/target", "target"), 0, "watch memory/target") ||
        !check_rc(xs_watch("control/shutdown", "control"), 0, "watch control/shutdown"))
        return;
    printk("balloon: ready pages=%ld\n", current_pages());
    for (;;) {
        long rc = xs_wait_watch(path, sizeof path, token, sizeof token, WAIT_SLICE_NS);

        if (rc == 0)
            continue;
        if (!check(rc == 1, "waiting for a watch: %ld", rc))
            return;
        if (strcmp(token, "target") == 0) {
            follow_target();
            continue;
        }
        if (xs_read("control/shutdown", value, sizeof value) > 0 &&
            (strcmp(value, "poweroff") == 0 || strcmp(value, "reboot") == 0)) {
            check_rc(xs_write("control/shutdown", ""), 0, "acknowledge %s", value);
            break;
        }
    }
    xtf_success(NULL);
}
