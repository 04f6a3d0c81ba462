/*
 * compat32: the compat (32-bit) layouts of the hypercall arguments that differ
 * from the 64-bit ones. This guest is built -m32, so the public headers give
 * it exactly what a 32-bit guest passes (4-byte handles and longs, uint64_t
 * 4-aligned); the asserts below pin that. Each structure is followed by a
 * guard word a wrong (64-bit) layout would overwrite or read. Expected
 * results per Xen 4.17: common/compat/memory.c, arch/x86/x86_64/compat/mm.c,
 * arch/x86/x86_64/domain.c compat_vcpu_op(), common/compat/domain.c,
 * common/compat/kernel.c, common/compat/grant_table.c, common/sched/compat.c,
 * hvm/hvm.c hvm_latch_shinfo_size() and common/event_2l.c.
 */
#include <kit/test.h>
#include <xen/grant_table.h>

const char test_title[] =
    "compat32: compat layouts of memory, vcpu, sched, gnttab, xen_version, shared_info";

_Static_assert(sizeof(struct xen_memory_map) == 8, "compat xen_memory_map");
_Static_assert(sizeof(struct xen_add_to_physmap) == 16, "compat xen_add_to_physmap");
_Static_assert(sizeof(struct xen_memory_reservation) == 20, "compat reservation");
_Static_assert(sizeof(struct vcpu_runstate_info) == 44, "compat vcpu_runstate_info");
_Static_assert(sizeof(struct vcpu_set_singleshot_timer) == 12, "compat singleshot timer");
_Static_assert(sizeof(struct sched_poll) == 16, "compat sched_poll");
_Static_assert(sizeof(struct gnttab_setup_table) == 16, "compat gnttab_setup_table");
_Static_assert(sizeof(xen_platform_parameters_t) == 4, "compat platform_parameters");
_Static_assert(sizeof(xen_pfn_t) == 4, "compat xen_pfn_t");
/* The compat shared_info (src/evtchn/shared_info_layout.hpp). */
_Static_assert(sizeof(struct vcpu_info) == 64 &&
               __builtin_offsetof(struct vcpu_info, evtchn_pending_sel) == 4 &&
               __builtin_offsetof(struct vcpu_info, time) == 32, "compat vcpu_info");
_Static_assert(__builtin_offsetof(struct shared_info, evtchn_pending) == 2048 &&
               __builtin_offsetof(struct shared_info, evtchn_mask) == 2176 &&
               __builtin_offsetof(struct shared_info, wc_version) == 2304 &&
               __builtin_offsetof(struct shared_info, arch.wc_sec_hi) == 2340 &&
               sizeof(struct shared_info) == 2344, "compat shared_info");

#define GUARD 0x5a5a5a5au
#define FILL_BYTE 0xa5

struct __attribute__((packed)) e820_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
};

static uint8_t shinfo_page[PAGE_SIZE] __page_aligned;

static long gnttab_op(unsigned int cmd, void *uop, unsigned int count)
{
    return hypercall_slot(__HYPERVISOR_grant_table_op, cmd, HCALL_ARG(uop), count, 0, 0);
}

static void test_memory_map(const struct hvm_start_info *si)
{
    static struct e820_entry e820[32];
    static struct {
        struct xen_memory_map map;
        uint32_t guard;
    } a;

    a.map.nr_entries = 32;
    set_xen_guest_handle(a.map.buffer, e820);
    a.guard = GUARD;
    if (check_rc(HYPERVISOR_memory_op(XENMEM_memory_map, &a.map), 0, "memory_map"))
        check(a.map.nr_entries == si->memmap_entries && e820[0].type == 1,
              "memory_map: %u entries (start info %u), first type %u",
              a.map.nr_entries, si->memmap_entries, e820[0].type);
    check(a.guard == GUARD, "memory_map wrote past its 8 bytes: %#x", a.guard);
}

static void test_add_to_physmap(void)
{
    struct xen_add_to_physmap xatp = {
        .domid = DOMID_SELF, .space = XENMAPSPACE_shared_info, .idx = 0,
        .gpfn = (uintptr_t)shinfo_page >> PAGE_SHIFT,
    };
    bool changed = false;

    memset(shinfo_page, FILL_BYTE, sizeof(shinfo_page));
    if (!check_rc(HYPERVISOR_memory_op(XENMEM_add_to_physmap, &xatp), 0, "shared_info"))
        return;
    for (unsigned int i = 0; i < PAGE_SIZE && !changed; ++i)
        changed = shinfo_page[i] != FILL_BYTE;
    check(changed, "shared_info did not appear at gpfn %#x", (unsigned int)xatp.gpfn);
    xatp.idx = 1;
    check_rc(HYPERVISOR_memory_op(XENMEM_add_to_physmap, &xatp), -XEN_EINVAL, "idx 1");
}

/*
 * Setting HVM_PARAM_CALLBACK_IRQ from 32-bit mode latches the compat
 * shared_info (Xen's hvm_latch_shinfo_size). The callback stays 0 and
 * evtchn_upcall_mask 1, so nothing interrupts this IDT-less guest: the
 * flags are read, not taken.
 */
static void test_shared_info_layout(void)
{
    volatile struct shared_info *s = (volatile struct shared_info *)shinfo_page;
    volatile struct vcpu_info *v = &s->vcpu_info[0];
    struct xen_hvm_param p = { .domid = DOMID_SELF, .index = HVM_PARAM_CALLBACK_IRQ };
    struct evtchn_bind_ipi ipi = { .vcpu = 0 };

    s->wc_version = 0;
    s->wc_sec = 0;
    if (!check_rc(HYPERVISOR_hvm_op(HVMOP_set_param, &p), 0, "set CALLBACK_IRQ"))
        return;
    check(s->wc_version % 2 == 0 && s->wc_version != 0 && s->wc_sec != 0,
          "no wall clock at the compat offsets: version %u sec %u",
          (unsigned int)s->wc_version, (unsigned int)s->wc_sec);

    if (!check_rc(HYPERVISOR_event_channel_op(EVTCHNOP_bind_ipi, &ipi), 0, "bind_ipi"))
        return;
    unsigned int word = ipi.port / 32;
    uint32_t bit = 1u << (ipi.port % 32);
    __atomic_and_fetch(&s->evtchn_pending[word], ~bit, __ATOMIC_SEQ_CST);
    __atomic_or_fetch(&s->evtchn_mask[word], bit, __ATOMIC_SEQ_CST);
    v->evtchn_pending_sel = 0;
    v->evtchn_upcall_pending = 0;
    struct evtchn_send send = { .port = ipi.port };
    check_rc(HYPERVISOR_event_channel_op(EVTCHNOP_send, &send), 0, "send");
    check(s->evtchn_pending[word] & bit, "port %u not pending in 32-bit word %u", ipi.port, word);
    check(v->evtchn_pending_sel == 0 && v->evtchn_upcall_pending == 0,
          "masked port %u selected: sel %#lx", ipi.port, (unsigned long)v->evtchn_pending_sel);
    // EVTCHNOP_unmask clears the mask bit itself; as on Xen, it marks the
    // vCPU only when it was the one to clear it.
    struct evtchn_unmask unmask = { .port = ipi.port };
    check_rc(HYPERVISOR_event_channel_op(EVTCHNOP_unmask, &unmask), 0, "unmask");
    check(v->evtchn_pending_sel == (1ul << word) && v->evtchn_upcall_pending == 1,
          "unmasked port %u: sel %#lx (want %#lx at vcpu_info+4), upcall %u", ipi.port,
          (unsigned long)v->evtchn_pending_sel, 1ul << word, v->evtchn_upcall_pending);
    struct evtchn_close close = { .port = ipi.port };
    check_rc(HYPERVISOR_event_channel_op(EVTCHNOP_close, &close), 0, "close ipi");
    check(!(s->evtchn_pending[word] & bit), "closed port %u still pending", ipi.port);
}

static void test_reservation(void)
{
    domid_t self = DOMID_SELF;

    check(HYPERVISOR_memory_op(XENMEM_current_reservation, &self) > 0, "current_reservation");
    check(HYPERVISOR_memory_op(XENMEM_maximum_gpfn, &self) > 0, "maximum_gpfn");
}

static void test_platform_parameters(void)
{
    static struct {
        xen_platform_parameters_t p;
        uint32_t guard;
    } a = { .p = { .virt_start = 1 }, .guard = GUARD };

    if (check_rc(HYPERVISOR_xen_version(XENVER_platform_parameters, &a.p), 0,
                 "platform_parameters"))
        /* HYPERVISOR_COMPAT_VIRT_START(d): 0 without CONFIG_PV32, ~0u with. */
        check(a.p.virt_start == 0 || a.p.virt_start == ~0ul, "virt_start %#lx",
              a.p.virt_start);
    check(a.guard == GUARD, "platform_parameters wrote past 4 bytes: %#x", a.guard);
}

static void test_runstate(void)
{
    static struct {
        struct vcpu_runstate_info r;
        uint32_t guard;
    } a, area;
    struct vcpu_register_runstate_memory_area reg;

    a.guard = GUARD;
    if (check_rc(HYPERVISOR_vcpu_op(VCPUOP_get_runstate_info, 0, &a.r), 0, "runstate"))
        check(a.r.state == RUNSTATE_running && a.r.state_entry_time != 0,
              "runstate state %d entry %llu", a.r.state,
              (unsigned long long)a.r.state_entry_time);
    check(a.guard == GUARD, "runstate wrote past 44 bytes: %#x", a.guard);

    /* Only the 4-byte handle counts; the union's upper half is junk. */
    memset(&area, 0, sizeof(area));
    area.guard = GUARD;
    reg.addr.p = 0xdead000000000000ull | (uintptr_t)&area.r;
    if (check_rc(HYPERVISOR_vcpu_op(VCPUOP_register_runstate_memory_area, 0, &reg), 0,
                 "register runstate area"))
        /* Xen copies the runstate at once for the current vCPU. */
        check(area.r.state == RUNSTATE_running && area.r.state_entry_time != 0,
              "runstate area state %d entry %llu", area.r.state,
              (unsigned long long)area.r.state_entry_time);
    check(area.guard == GUARD, "runstate area written past 44 bytes: %#x", area.guard);
    reg.addr.p = 0;
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_register_runstate_memory_area, 0, &reg), 0,
             "unregister runstate area");
}

static void test_time_area(void)
{
    static struct vcpu_time_info t;
    struct vcpu_register_time_memory_area reg;

    reg.addr.p = 0xdead000000000000ull | (uintptr_t)&t;
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_register_vcpu_time_memory_area, 0, &reg), 0,
             "register time area (junk upper half)");
    reg.addr.p = 0;
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_register_vcpu_time_memory_area, 0, &reg), 0,
             "unregister time area");
}

static void test_singleshot(void)
{
    struct vcpu_set_singleshot_timer t = { .timeout_abs_ns = 1, .flags = VCPU_SSHOTTMR_future };

    check_rc(HYPERVISOR_vcpu_op(VCPUOP_set_singleshot_timer, 0, &t), -XEN_ETIME,
             "singleshot in the past with VCPU_SSHOTTMR_future");
    t.flags = 0;
    t.timeout_abs_ns = ~0ull >> 2;
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_set_singleshot_timer, 0, &t), 0, "singleshot");
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_stop_singleshot_timer, 0, NULL), 0, "stop singleshot");
}

static void test_poll(void)
{
    struct evtchn_alloc_unbound alloc = { .dom = DOMID_SELF, .remote_dom = 0 };
    static evtchn_port_t ports[1];
    struct sched_poll p;

    if (!check_rc(HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &alloc), 0,
                  "alloc_unbound"))
        return;
    ports[0] = alloc.port;
    set_xen_guest_handle(p.ports, ports);
    p.nr_ports = 1;
    /* A timeout already past returns at once. Read with the 64-bit layout
     * its low half would be nr_ports: 129, -EINVAL. */
    p.timeout = 129;
    check_rc(HYPERVISOR_sched_op(SCHEDOP_poll, &p), 0, "poll, timeout in the past");
    p.nr_ports = 129;
    check_rc(HYPERVISOR_sched_op(SCHEDOP_poll, &p), -XEN_EINVAL, "poll 129 ports");
    struct evtchn_close close = { .port = alloc.port };
    check_rc(HYPERVISOR_event_channel_op(EVTCHNOP_close, &close), 0, "close");
}

static void test_setup_table(void)
{
    static xen_pfn_t frames[2];  /* 4 bytes each here */
    struct gnttab_setup_table s = { .dom = DOMID_SELF, .nr_frames = 1, .status = 99 };

    frames[1] = GUARD;
    set_xen_guest_handle(s.frame_list, frames);
    if (check_rc(gnttab_op(GNTTABOP_setup_table, &s, 1), 0, "setup_table"))
        check(s.status == GNTST_okay, "setup_table status %d", s.status);
    check(frames[1] == GUARD, "setup_table wrote 8-byte frames: %#lx", frames[1]);
    check_rc(gnttab_op(GNTTABOP_setup_table, NULL, 0), 0, "setup_table, count 0");
}

void test_main(const struct hvm_start_info *si)
{
    test_memory_map(si);
    test_add_to_physmap();
    test_shared_info_layout();
    test_reservation();
    test_platform_parameters();
    test_runstate();
    test_time_area();
    test_singleshot();
    test_poll();
    test_setup_table();
    check_rc(hypercall_slot(50, 0, 0, 0, 0, 0), -XEN_ENOSYS, "unknown hypercall 50");

    if (!xtf_failures())
        xtf_success(NULL);
}
