/*
 * SMP guest (vcpus=4): brings vCPUs 1-3 up with VCPUOP_initialise + up,
 * checks each really runs, exchanges IPIs through event channels in both
 * directions, reads runstate (running/blocked, time accounted), mirrors
 * vCPU 0's runstate into a registered area, takes one vCPU down again, and
 * checks pvclock never goes backwards across vCPUs. Hostile part: vCPU 0
 * registers runstate and time areas for vCPU 2 while vCPU 2 spins in the
 * guest; the areas must fill in (at vCPU 2's next entry, as Xen publishes
 * only for v == current) without vCPU 0 touching vCPU 2's registers.
 */
#include <kit/arch.h>
#include <kit/traps.h>
#include <kit/console.h>
#include <kit/evtchn.h>
#include <kit/hypercall.h>
#include <kit/lib.h>
#include <kit/report.h>
#include <kit/start.h>
#include <kit/vcpu.h>

const char test_title[] = "smp: 4-vCPU bring-up, cross-vCPU IPIs, runstate, pvclock";

#define NR 4

static uint8_t ap_stacks[NR][4096] __attribute__((aligned(16)));
static volatile unsigned int ap_alive[NR];
static volatile uint64_t ap_clock[NR];
static volatile unsigned int ap_spin[NR]; /* spin in the guest after the IPI */
static evtchn_port_t to_ap[NR], to_bsp[NR];

static bool port_pending(evtchn_port_t p)
{
    return READ_ONCE(shared_info->evtchn_pending[p / 64]) & ((xen_ulong_t)1 << (p % 64));
}

static void clear_port(evtchn_port_t p)
{
    __atomic_fetch_and(&shared_info->evtchn_pending[p / 64], ~((xen_ulong_t)1 << (p % 64)),
                       __ATOMIC_SEQ_CST);
}

/* Runs on vCPU `id`: announce, wait for the BSP's IPI, answer it, park. */
static void smp_ap_main(unsigned long id)
{
    ap_clock[id] = xen_time_now();
    WRITE_ONCE(ap_alive[id], 1);
    for (unsigned int i = 0; i < 2000 && !port_pending(to_ap[id]); i++) {
        struct sched_poll poll = { .nr_ports = 1, .timeout = 0 };
        set_xen_guest_handle(poll.ports, &to_ap[id]);
        HYPERVISOR_sched_op(SCHEDOP_poll, &poll);
    }
    if (port_pending(to_ap[id])) {
        clear_port(to_ap[id]);
        WRITE_ONCE(ap_alive[id], 2);
        struct evtchn_send send = { .port = to_bsp[id] };
        HYPERVISOR_event_channel_op(EVTCHNOP_send, &send);
    }
    while (READ_ONCE(ap_spin[id]))
        __asm__ __volatile__("pause" ::: "memory");
    for (;;)
        HYPERVISOR_sched_op(SCHEDOP_block, NULL);
}

/* vCPU 0 registers areas for vCPU 2, busy in the guest all the while. */
static void test_areas_for_running_vcpu(void)
{
    static struct vcpu_runstate_info runstate2;
    static struct vcpu_time_info time2;
    struct vcpu_register_runstate_memory_area reg = { .addr.v = &runstate2 };
    struct vcpu_register_time_memory_area treg = { .addr.v = &time2 };
    unsigned int i;

    check(READ_ONCE(ap_alive[2]) == 2 && READ_ONCE(ap_spin[2]), "vCPU 2 is spinning");
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_register_runstate_memory_area, 2, &reg), 0,
             "register_runstate_memory_area(2) from vCPU 0");
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_register_vcpu_time_memory_area, 2, &treg), 0,
             "register_vcpu_time_memory_area(2) from vCPU 0");
    for (i = 0; i < 20000; i++) {
        if (READ_ONCE(runstate2.state_entry_time) && READ_ONCE(time2.tsc_to_system_mul))
            break;
        sched_yield();
    }
    check(READ_ONCE(runstate2.state_entry_time) != 0, "vCPU 2's runstate area was written");
    check(READ_ONCE(runstate2.state) == RUNSTATE_running, "it shows vCPU 2 running (%d)",
          runstate2.state);
    check(READ_ONCE(runstate2.time[RUNSTATE_running]) > 0, "with running time (%lu ns)",
          (unsigned long)runstate2.time[RUNSTATE_running]);
    check(READ_ONCE(time2.tsc_to_system_mul) != 0 && !(READ_ONCE(time2.version) & 1),
          "vCPU 2's time area was written (version %u)", time2.version);
    WRITE_ONCE(ap_spin[2], 0);
}

static bool start_ap(unsigned int id)
{
    return check_rc(vcpu_initialise_ap(id, smp_ap_main, ap_stacks[id] + sizeof(ap_stacks[id])), 0,
                    "initialise(%u)", id) &&
           check_rc(HYPERVISOR_vcpu_op(VCPUOP_up, id, NULL), 0, "up(%u)", id);
}

void test_main(const struct hvm_start_info *si)
{
    static struct vcpu_runstate_info area;
    struct vcpu_register_runstate_memory_area reg = { .addr.v = &area };

    (void)si;
    if (!check_rc(evtchn_init(UPCALL_AUTO), 0, "evtchn_init"))
        return;

    for (unsigned int id = 1; id < NR; id++) {
        check_rc(evtchn_bind_ipi(id, &to_ap[id]), 0, "bind_ipi(vcpu %u)", id);
        check_rc(evtchn_bind_ipi(0, &to_bsp[id]), 0, "bind_ipi(vcpu 0) for %u", id);
        evtchn_bind_handler(to_bsp[id], NULL, NULL);
        evtchn_mask(to_ap[id]);  /* the AP polls it; no upcall on the AP */
        ap_spin[id] = id == 2;
        if (!start_ap(id))
            return;
    }
    for (unsigned int id = 1; id < NR; id++) {
        for (unsigned int i = 0; i < 20000 && !READ_ONCE(ap_alive[id]); i++)
            sched_yield();
        check(READ_ONCE(ap_alive[id]) >= 1, "vCPU %u runs after VCPUOP_up", id);
        check_rc(HYPERVISOR_vcpu_op(VCPUOP_is_up, id, NULL), 1, "is_up(%u)", id);
    }
    for (unsigned int id = 1; id < NR; id++) {
        unsigned int before = evtchn_count(to_bsp[id]);
        check_rc(evtchn_send(to_ap[id]), 0, "IPI to vCPU %u", id);
        check(evtchn_wait(to_bsp[id], before + 1), "IPI back from vCPU %u", id);
        check(READ_ONCE(ap_alive[id]) == 2, "vCPU %u saw its IPI", id);
    }

    test_areas_for_running_vcpu();

    uint64_t now = xen_time_now();
    for (unsigned int id = 1; id < NR; id++)
        check(ap_clock[id] != 0 && ap_clock[id] <= now,
              "pvclock on vCPU %u (%lu) not ahead of vCPU 0 later (%lu)", id,
              (unsigned long)ap_clock[id], (unsigned long)now);

    struct vcpu_runstate_info rs;
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_get_runstate_info, 1, &rs), 0, "runstate(1)");
    check(rs.state == RUNSTATE_blocked || rs.state == RUNSTATE_running,
          "vCPU 1 runstate %d is running or blocked", rs.state);
    check(rs.time[RUNSTATE_running] > 0, "vCPU 1 has run for %lu ns",
          (unsigned long)rs.time[RUNSTATE_running]);

    check_rc(HYPERVISOR_vm_assist(VMASST_CMD_enable, VMASST_TYPE_runstate_update_flag), 0,
             "vm_assist(runstate_update_flag)");
    check_rc(HYPERVISOR_vm_assist(VMASST_CMD_enable, 0), -XEN_EINVAL,
             "vm_assist(4gb_segments) on HVM");
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_register_runstate_memory_area, 0, &reg), 0,
             "register_runstate_memory_area(0)");
    check(READ_ONCE(area.state) == RUNSTATE_running, "area shows vCPU 0 running (%d)", area.state);
    check(!(READ_ONCE(area.state_entry_time) & XEN_RUNSTATE_UPDATE), "no update in flight");

    check_rc(HYPERVISOR_vcpu_op(VCPUOP_down, 3, NULL), 0, "down(3)");
    check_rc(HYPERVISOR_vcpu_op(VCPUOP_is_up, 3, NULL), 0, "is_up(3) after down");
    xtf_success(NULL);
}
