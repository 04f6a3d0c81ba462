/*
 * __HYPERVISOR_vcpu_op, per xen/arch/x86/domain.c do_vcpu_op() and
 * arch_initialise_vcpu(), xen/common/domain.c common_vcpu_op() and
 * map_vcpu_info(). Config: vcpus=2 (vCPU 1 exists but was never started).
 */
#include <kit/test.h>

#include <xen/hvm/hvm_vcpu.h>

const char test_title[] = "vcpu_op: is_up, runstate, vcpu_info registration, timers";

#define NR_VCPUS 2u
#define BAD_GFN  (1ull << 30) /* 4 TiB: far beyond memory=32 */

static uint8_t vcpu_info_page[PAGE_SIZE] __page_aligned;

static long register_vcpu_info(unsigned int vcpu, uint64_t gfn, uint32_t offset)
{
    struct vcpu_register_vcpu_info info = { .mfn = gfn, .offset = offset };

    return HYPERVISOR_vcpu_op(VCPUOP_register_vcpu_info, vcpu, &info);
}

static void test_is_up_and_runstate(void)
{
    struct vcpu_runstate_info rs;

    check_rc(HYPERVISOR_vcpu_op(VCPUOP_is_up, 0, NULL), 1, "is_up(0)");
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_is_up, 1, NULL), 0, "is_up(1) before it is started");
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_is_up, NR_VCPUS, NULL), -XEN_ENOENT,
             "is_up(%u)", NR_VCPUS);
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_is_up, 0xffffffffu, NULL), -XEN_ENOENT,
             "is_up(0xffffffff)");

    if (check_rc(HYPERVISOR_vcpu_op(VCPUOP_get_runstate_info, 0, &rs), 0, "runstate(0)"))
        check(rs.state == RUNSTATE_running, "vCPU 0 runstate %d, want running", rs.state);
    if (check_rc(HYPERVISOR_vcpu_op(VCPUOP_get_runstate_info, 1, &rs), 0, "runstate(1)"))
        check(rs.state == RUNSTATE_offline, "vCPU 1 runstate %d, want offline", rs.state);
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_get_runstate_info, 0, BAD_PTR_UNMAPPED), -XEN_EFAULT,
             "runstate to a bad pointer");
}

static void test_lifecycle(void)
{
    struct vcpu_hvm_context ctx;

    memset(&ctx, 0, sizeof(ctx));
    /* VCPUOP_up needs VCPUOP_initialise first. */
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_up, 1, NULL), -XEN_EINVAL, "up(1) uninitialised");
    /* arch_initialise_vcpu: copy first, then -EEXIST for a running vCPU. */
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_initialise, 0, BAD_PTR_UNMAPPED), -XEN_EFAULT,
             "initialise(0) from a bad pointer");
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_initialise, 0, &ctx), -XEN_EEXIST,
             "initialise(0) while running");
    /* do_vcpu_op: NMIs take no argument; get_physid is for the hardware domain. */
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_send_nmi, 0, &ctx), -XEN_EINVAL,
             "send_nmi with an argument");
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_get_physid, 0, &ctx), -XEN_EINVAL, "get_physid");
}

static void test_timers(void)
{
    struct vcpu_set_periodic_timer periodic = { .period_ns = 999999 };
    struct vcpu_set_singleshot_timer single = { .timeout_abs_ns = 1 };

    check_rc(HYPERVISOR_vcpu_op(VCPUOP_set_periodic_timer, 0, &periodic), -XEN_EINVAL,
             "periodic timer below 1 ms");
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_set_periodic_timer, 0, BAD_PTR_UNMAPPED),
             -XEN_EFAULT, "periodic timer from a bad pointer");
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_stop_periodic_timer, 0, NULL), 0,
             "stop_periodic_timer");
    /* Single-shot timers only on the calling vCPU. */
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_set_singleshot_timer, 1, &single), -XEN_EINVAL,
             "singleshot timer on another vCPU");
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_stop_singleshot_timer, 1, NULL), -XEN_EINVAL,
             "stop singleshot timer on another vCPU");
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_stop_singleshot_timer, 0, NULL), 0,
             "stop singleshot timer");
}

static void test_vcpu_info(void)
{
    uint64_t gfn = (uintptr_t)vcpu_info_page >> PAGE_SHIFT;
    uint32_t offset = 64;
    evtchn_port_t ipi = 0;

    if (!check_rc(evtchn_init(UPCALL_AUTO), 0, "evtchn_init") ||
        !check_rc(evtchn_bind_ipi(0, &ipi), 0, "bind_ipi(0)"))
        return;
    evtchn_bind_handler(ipi, NULL, NULL);

    /* map_vcpu_info(): offset/alignment -> -ENXIO, no such page -> -EINVAL. */
    check_rc(register_vcpu_info(0, gfn, PAGE_SIZE - sizeof(vcpu_info_t) / 2), -XEN_ENXIO,
             "vcpu_info crossing the page end");
    check_rc(register_vcpu_info(0, gfn, 4), -XEN_ENXIO, "misaligned vcpu_info offset");
    check_rc(register_vcpu_info(0, BAD_GFN, 0), -XEN_EINVAL, "vcpu_info at gfn %#llx",
             (unsigned long long)BAD_GFN);
    check_rc(register_vcpu_info(NR_VCPUS, gfn, offset), -XEN_ENOENT, "vcpu_info for vCPU %u",
             NR_VCPUS);
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_register_vcpu_info, 0, BAD_PTR_UNMAPPED), -XEN_EFAULT,
             "register_vcpu_info from a bad pointer");

    if (!check_rc(register_vcpu_info(0, gfn, offset), 0, "vcpu_info for vCPU 0 at %#llx+%u",
                  (unsigned long long)gfn, offset))
        return;

    vcpu_info_t *vi = (vcpu_info_t *)(vcpu_info_page + offset);

    /* Xen marks everything pending after a move so nothing gets lost. */
    check(READ_ONCE(vi->evtchn_upcall_pending) == 1, "new vcpu_info has upcall_pending set");
    evtchn_use_vcpu_info(vi);

    unsigned int before = evtchn_count(ipi);
    if (check_rc(evtchn_send(ipi), 0, "send IPI"))
        check(evtchn_wait(ipi, before + 1), "IPI delivered through the new vcpu_info");

    /* Once registered it stays: a second registration is refused. */
    check_rc(register_vcpu_info(0, gfn, offset), -XEN_EINVAL, "second vcpu_info for vCPU 0");
    check_rc(register_vcpu_info(0, gfn, 2 * offset), -XEN_EINVAL,
             "vcpu_info for vCPU 0 elsewhere");
    /* Allowed for an offline vCPU. */
    check_rc(register_vcpu_info(1, gfn, 2 * offset), 0, "vcpu_info for offline vCPU 1");

    check_rc(evtchn_close(ipi), 0, "close IPI port");
}

void test_main(const struct hvm_start_info *si)
{
    (void)si;
    test_is_up_and_runstate();
    test_lifecycle();
    test_timers();
    test_vcpu_info();

    /* Unknown commands -ENOSYS, but the vCPU id is checked first. */
    check_rc(HYPERVISOR_vcpu_op(99, 0, NULL), -XEN_ENOSYS, "unknown command 99");
    check_rc(HYPERVISOR_vcpu_op(99, NR_VCPUS, NULL), -XEN_ENOENT,
             "unknown command on vCPU %u", NR_VCPUS);
    if (!xtf_failures())
        xtf_success(NULL);
}
