/*
 * Console input guest: waits for "ping" typed into its PV console (the
 * input ring, fed by `xl console` / `xl create -c`), answers "pong" and
 * succeeds. tests/integration/xl-cli.sh pipes the keystrokes in.
 */
#include <kit/console.h>
#include <kit/evtchn.h>
#include <kit/hypercall.h>
#include <kit/lib.h>
#include <kit/report.h>
#include <kit/start.h>

const char test_title[] = "console_input: keystrokes reach the guest's input ring";

void test_main(const struct hvm_start_info *si)
{
    struct xencons_interface *ring = console_ring();
    evtchn_port_t port = console_evtchn();
    char line[64];
    size_t len = 0;

    (void)si;
    if (!ring || evtchn_init(UPCALL_AUTO)) {
        xtf_error("no console ring");
        return;
    }
    printk("console_input: type ping\n");
    for (unsigned int round = 0; round < 600; round++) {
        XENCONS_RING_IDX cons = READ_ONCE(ring->in_cons);
        XENCONS_RING_IDX prod = READ_ONCE(ring->in_prod);

        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        while (cons != prod && len < sizeof(line) - 1)
            line[len++] = ring->in[MASK_XENCONS_IDX(cons++, ring->in)];
        __atomic_thread_fence(__ATOMIC_RELEASE);
        WRITE_ONCE(ring->in_cons, cons);
        line[len] = '\0';
        if (strstr(line, "ping")) {
            printk("pong\n");
            xtf_success(NULL);
            return;
        }
        if (len == sizeof(line) - 1)
            len = 0;
        /* Wait for the back-end's notification (bounded by the timeout). */
        evtchn_clear_pending(port);
        uint64_t now = xen_time_now();
        struct sched_poll poll = { .nr_ports = 1, .timeout = now ? now + 50000000 : 1 };
        set_xen_guest_handle(poll.ports, &port);
        HYPERVISOR_sched_op(SCHEDOP_poll, &poll);
    }
    xtf_failure("no \"ping\" on the console input within the time limit");
}
