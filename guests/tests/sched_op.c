/*
 * __HYPERVISOR_sched_op, per xen/common/sched/core.c do_sched_op(),
 * do_poll() and vcpu_block(). SCHEDOP_shutdown itself ends every test.
 */
#include <kit/test.h>

const char test_title[] = "sched_op: yield, poll, block and bad arguments";

#define MS 1000000ull
#define BLOCK_ROUNDS 50u

static long poll_ports(evtchn_port_t *ports, unsigned int nr, uint64_t timeout)
{
    struct sched_poll poll = { .nr_ports = nr, .timeout = timeout };

    set_xen_guest_handle(poll.ports, ports);
    return HYPERVISOR_sched_op(SCHEDOP_poll, &poll);
}

static void test_simple(void)
{
    struct sched_remote_shutdown remote = { .domain_id = DOMID_UNUSED,
                                            .reason = SHUTDOWN_poweroff };
    struct sched_pin_override pin = { .pcpu = 0 };

    check_rc(HYPERVISOR_sched_op(SCHEDOP_yield, NULL), 0, "yield");
    check_rc(HYPERVISOR_sched_op(99, NULL), -XEN_ENOSYS, "unknown command 99");
    check_rc(HYPERVISOR_sched_op(-1, NULL), -XEN_ENOSYS, "unknown command -1");

    /* Every argument-taking command copies first. */
    check_rc(HYPERVISOR_sched_op(SCHEDOP_shutdown, BAD_PTR_UNMAPPED), -XEN_EFAULT,
             "shutdown from a bad pointer");
    check_rc(HYPERVISOR_sched_op(SCHEDOP_shutdown, BAD_PTR_NONCANONICAL), -XEN_EFAULT,
             "shutdown from a non-canonical pointer");
    check_rc(HYPERVISOR_sched_op(SCHEDOP_shutdown_code, BAD_PTR_UNMAPPED), -XEN_EFAULT,
             "shutdown_code from a bad pointer");
    check_rc(HYPERVISOR_sched_op(SCHEDOP_poll, BAD_PTR_UNMAPPED), -XEN_EFAULT,
             "poll from a bad pointer");
    check_rc(HYPERVISOR_sched_op(SCHEDOP_remote_shutdown, BAD_PTR_UNMAPPED), -XEN_EFAULT,
             "remote_shutdown from a bad pointer");
    check_rc(HYPERVISOR_sched_op(SCHEDOP_watchdog, BAD_PTR_UNMAPPED), -XEN_EFAULT,
             "watchdog from a bad pointer");

    check_rc(HYPERVISOR_sched_op(SCHEDOP_remote_shutdown, &remote), -XEN_ESRCH,
             "remote_shutdown of unused domid %#x", DOMID_UNUSED);
    /* The hardware domain only, checked before the argument. */
    check_rc(HYPERVISOR_sched_op(SCHEDOP_pin_override, &pin), -XEN_EPERM, "pin_override");
    check_rc(HYPERVISOR_sched_op(SCHEDOP_pin_override, BAD_PTR_UNMAPPED), -XEN_EPERM,
             "pin_override from a bad pointer");
}

static void test_poll(evtchn_port_t port)
{
    evtchn_port_t bad = 4096;
    uint64_t t0, t1;

    irq_disable(); /* do_poll returns early when an interrupt is deliverable */
    check_rc(poll_ports(&port, 129, 1), -XEN_EINVAL, "poll 129 ports");
    check_rc(poll_ports(BAD_PTR_UNMAPPED, 1, 1), -XEN_EFAULT, "poll a bad port array");
    check_rc(poll_ports(&bad, 1, 1), -XEN_EINVAL, "poll port 4096");

    /* Not pending: a timeout in the past ends the poll at once. */
    check(!evtchn_is_pending(port), "port %u idle before the poll", port);
    check_rc(poll_ports(&port, 1, 1), 0, "poll idle port, timeout in the past");

    t0 = xen_time_now();
    if (t0) {
        check_rc(poll_ports(&port, 1, t0 + 2 * MS), 0, "poll idle port for 2 ms");
        t1 = xen_time_now();
        printk("poll with a 2 ms timeout took %llu us\n",
               (unsigned long long)((t1 - t0) / 1000));
        check(t1 - t0 >= 1 * MS, "poll waited for its timeout (%llu ns)",
              (unsigned long long)(t1 - t0));
    } else {
        printk("no pvclock in vcpu_info: poll timing not checked\n");
    }

    /* Masked and pending: no upcall, and a poll returns at once. */
    evtchn_mask(port);
    unsigned int before = evtchn_count(port);
    check_rc(evtchn_send(port), 0, "send to masked port %u", port);
    check(evtchn_is_pending(port), "masked port %u pending after send", port);
    upcall_window();
    check(evtchn_count(port) == before, "no upcall for a masked port");

    t0 = xen_time_now();
    check_rc(poll_ports(&port, 1, t0 ? t0 + 1000 * MS : 0), 0, "poll pending port");
    t1 = xen_time_now();
    if (t0)
        check(t1 - t0 < 100 * MS, "poll on a pending port returned promptly (%llu ns)",
              (unsigned long long)(t1 - t0));

    check_rc(evtchn_unmask(port), 0, "unmask port %u", port);
    check(evtchn_wait(port, before + 1), "upcall once port %u is unmasked", port);
}

static void test_block(void)
{
    struct vcpu_set_periodic_timer periodic = { .period_ns = 1 * MS };
    evtchn_port_t timer = 0;
    unsigned int rounds = 0;
    uint64_t t0, t1;

    if (!check_rc(evtchn_bind_virq(VIRQ_TIMER, 0, &timer), 0, "bind VIRQ_TIMER"))
        return;
    evtchn_bind_handler(timer, NULL, NULL);

    /*
     * SCHEDOP_block returns at once when an event can be delivered (IF=1 on
     * HVM) and otherwise sleeps until one arrives. A 1 ms periodic timer
     * guarantees an event however the wake-up races with the loop.
     */
    printk("SCHEDOP_block with a 1 ms periodic timer\n");
    if (!check_rc(HYPERVISOR_vcpu_op(VCPUOP_set_periodic_timer, 0, &periodic), 0,
                  "set_periodic_timer(1 ms)"))
        return;
    t0 = xen_time_now();
    irq_enable();
    while (evtchn_count(timer) == 0 && rounds < BLOCK_ROUNDS) {
        check_rc(HYPERVISOR_sched_op(SCHEDOP_block, NULL), 0, "block");
        rounds++;
    }
    irq_disable();
    t1 = xen_time_now();
    HYPERVISOR_vcpu_op(VCPUOP_stop_periodic_timer, 0, NULL);

    check(evtchn_count(timer) > 0, "timer event after %u blocks", rounds);
    if (t0)
        check(t1 - t0 < 500 * MS, "blocked %llu ns for a 1 ms timer",
              (unsigned long long)(t1 - t0));
    check_rc(evtchn_close(timer), 0, "close VIRQ_TIMER port");
}

void test_main(const struct hvm_start_info *si)
{
    evtchn_port_t ipi = 0;

    (void)si;
    test_simple();

    if (!check_rc(evtchn_init(UPCALL_AUTO), 0, "evtchn_init") ||
        !check_rc(evtchn_bind_ipi(0, &ipi), 0, "bind_ipi(0)"))
        return;
    evtchn_bind_handler(ipi, NULL, NULL);
    test_poll(ipi);
    test_block();
    if (!xtf_failures())
        xtf_success(NULL);
}
