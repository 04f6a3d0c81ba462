/*
 * vCPU hot-plug driven by the toolstack (maxvcpus=4, vcpus=2), as Linux's
 * drivers/xen/cpu_hotplug.c does it: watch ~/cpu, and for each
 * cpu/<n>/availability bring vCPU n up (VCPUOP_initialise the first time,
 * then VCPUOP_up) or have it take itself down (VCPUOP_down on itself, as
 * Linux's xen_play_dead). vCPU 0 is never taken down. After every change
 * the guest prints "vcpu_hotplug: online <list>"; it finishes when
 * control/shutdown asks it to (acknowledged by clearing the node).
 *
 * Driven by tests/integration/vcpu.sh (`xl vcpu-set`), or alone: it then
 * brings up what libxl wrote at creation and waits for a shutdown request.
 */
#include <kit/arch.h>
#include <kit/test.h>
#include <kit/vcpu.h>
#include <kit/xenstore.h>

const char test_title[] = "vcpu_hotplug: cpu/<n>/availability watched, VCPUOP_up/down";

#define NR            4
#define WAIT_ROUNDS   20000u
#define AP_POLL_NS    100000000ull  /* an AP rechecks its request this often */
#define IDLE_TIMEOUT  120000000000ull /* no toolstack request for 2 minutes */

static uint8_t ap_stacks[NR][4096] __attribute__((aligned(16)));
static volatile unsigned int ap_running[NR]; /* set by the AP while it is up */
static volatile unsigned int ap_want_down[NR];
static bool initialised[NR];
static evtchn_port_t to_ap[NR];

/* Runs on vCPU `id`: idle until asked to go, then VCPUOP_down on itself;
 * a later VCPUOP_up resumes it right after that call. */
static void hp_ap_main(unsigned long id)
{
    for (;;) {
        WRITE_ONCE(ap_running[id], 1);
        while (!READ_ONCE(ap_want_down[id])) {
            uint64_t now = xen_time_now();
            struct sched_poll poll = { .nr_ports = 1, .timeout = now ? now + AP_POLL_NS : 0 };

            set_xen_guest_handle(poll.ports, &to_ap[id]);
            HYPERVISOR_sched_op(SCHEDOP_poll, &poll);
            evtchn_clear_pending(to_ap[id]);
        }
        WRITE_ONCE(ap_want_down[id], 0);
        WRITE_ONCE(ap_running[id], 0);
        HYPERVISOR_vcpu_op(VCPUOP_down, id, NULL);
    }
}

static long initialise(unsigned int id)
{
    return vcpu_initialise_ap(id, hp_ap_main, ap_stacks[id] + sizeof(ap_stacks[id]));
}

static void bring_up(unsigned int id)
{
    if (!initialised[id]) {
        if (!check_rc(initialise(id), 0, "initialise(%u)", id))
            return;
        initialised[id] = true;
    }
    if (!check_rc(HYPERVISOR_vcpu_op(VCPUOP_up, id, NULL), 0, "up(%u)", id))
        return;
    for (unsigned int i = 0; i < WAIT_ROUNDS && !READ_ONCE(ap_running[id]); i++)
        sched_yield();
    check(READ_ONCE(ap_running[id]), "vCPU %u runs after VCPUOP_up", id);
}

static void take_down(unsigned int id)
{
    WRITE_ONCE(ap_want_down[id], 1);
    evtchn_send(to_ap[id]);
    unsigned int i;

    for (i = 0; i < WAIT_ROUNDS && HYPERVISOR_vcpu_op(VCPUOP_is_up, id, NULL) != 0; i++)
        sched_yield();
    check(i < WAIT_ROUNDS, "vCPU %u took itself down", id);
}

static bool is_up(unsigned int id)
{
    return HYPERVISOR_vcpu_op(VCPUOP_is_up, id, NULL) == 1;
}

/* Linux's vcpu_hotplug() for every vCPU but 0: follow cpu/<n>/availability
 * ("online" brings up, anything else takes down, a missing node is left). */
static void follow_availability(void)
{
    char path[32], value[16];

    for (unsigned int id = 1; id < NR; id++) {
        snprintf(path, sizeof(path), "cpu/%u/availability", id);
        if (xs_read(path, value, sizeof(value)) < 0)
            continue;
        bool want = !strcmp(value, "online");

        if (want && !is_up(id))
            bring_up(id);
        else if (!want && is_up(id))
            take_down(id);
    }
}

/* "online 0-1" / "online 0,2": the vCPUs Xen says are up. */
static void report(void)
{
    char list[32] = "";
    size_t len = 0;

    for (unsigned int id = 0; id < NR; id++) {
        if (!is_up(id))
            continue;
        unsigned int end = id;

        while (end + 1 < NR && is_up(end + 1))
            end++;
        len += snprintf(list + len, sizeof(list) - len, len ? ",%u" : "%u", id);
        if (end > id)
            len += snprintf(list + len, sizeof(list) - len, "-%u", end);
        id = end;
    }
    printk("vcpu_hotplug: online %s\n", list);
}

void test_main(const struct hvm_start_info *si)
{
    char path[64], token[16], value[16];

    (void)si;
    if (!check_rc(evtchn_init(UPCALL_AUTO), 0, "evtchn_init") ||
        !check_rc(xs_connect(), 0, "xs_connect"))
        return;
    for (unsigned int id = 1; id < NR; id++) {
        if (!check_rc(evtchn_bind_ipi(id, &to_ap[id]), 0, "bind_ipi(vcpu %u)", id))
            return;
        evtchn_mask(to_ap[id]); /* the AP polls it */
    }
    /* Xen: secondary vCPUs of an HVM/PVH guest start down; 4 is no vCPU. */
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_is_up, 0, NULL), 1, "is_up(0)");
    for (unsigned int id = 1; id < NR; id++)
        check_rc(HYPERVISOR_vcpu_op(VCPUOP_is_up, id, NULL), 0, "is_up(%u) at boot", id);
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_is_up, NR, NULL), -XEN_ENOENT, "is_up(%u)", NR);
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_up, NR, NULL), -XEN_ENOENT, "up(%u)", NR);

    check_rc(xs_watch("cpu", "cpu"), 0, "watch cpu");
    check_rc(xs_watch("control/shutdown", "ctl"), 0, "watch control/shutdown");
    follow_availability();
    report();

    for (;;) {
        long got = xs_wait_watch(path, sizeof(path), token, sizeof(token), IDLE_TIMEOUT);

        if (got <= 0) {
            xtf_failure("no xenstore event for 2 minutes (%ld)\n", got);
            return;
        }
        if (!strcmp(token, "ctl")) {
            if (xs_read("control/shutdown", value, sizeof(value)) > 0) {
                check_rc(xs_write("control/shutdown", ""), 0, "acknowledge %s", value);
                printk("vcpu_hotplug: control/shutdown = %s\n", value);
                break;
            }
            continue;
        }
        /* Events can be many per request (one per node): re-read them all. */
        bool before[NR];

        for (unsigned int id = 0; id < NR; id++)
            before[id] = is_up(id);
        follow_availability();
        for (unsigned int id = 0; id < NR; id++)
            if (before[id] != is_up(id)) {
                report();
                break;
            }
    }
    if (!xtf_failures())
        xtf_success(NULL);
}
