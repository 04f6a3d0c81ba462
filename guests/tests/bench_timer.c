/*
 * Benchmark guest: lateness of 1 ms singleshot timers (set_timer_op ->
 * VIRQ_TIMER upcall), measured against the guest's own pvclock. Prints
 * p50/p99/max in microseconds; bench/timer.sh reads them.
 */
#include <kit/console.h>
#include <kit/lib.h>
#include <kit/evtchn.h>
#include <kit/hypercall.h>
#include <kit/report.h>
#include <kit/start.h>

const char test_title[] = "bench_timer: 1 ms singleshot timer lateness";

#define SAMPLES 60

void test_main(const struct hvm_start_info *si)
{
    evtchn_port_t port;
    uint64_t late[SAMPLES];
    int n = 0;

    (void)si;
    if (evtchn_init(UPCALL_AUTO) || evtchn_bind_virq(VIRQ_TIMER, 0, &port)) {
        xtf_error("cannot set up VIRQ_TIMER");
        return;
    }
    evtchn_bind_handler(port, NULL, NULL);
    if (!xen_time_now()) {
        xtf_skip("no pvclock");
        return;
    }
    for (int i = 0; i < SAMPLES; i++) {
        unsigned int before = evtchn_count(port);
        uint64_t deadline = xen_time_now() + 1000000;

        HYPERVISOR_set_timer_op(deadline);
        if (!evtchn_wait(port, before + 1))
            continue;
        uint64_t now = xen_time_now();
        late[n++] = now > deadline ? now - deadline : 0;
    }
    if (n == 0) {
        xtf_error("no timer fired");
        return;
    }
    sort_u64(late, (size_t)n);
    printk("bench: samples=%d p50_us=%lu p99_us=%lu max_us=%lu\n", n,
           (unsigned long)(late[n / 2] / 1000), (unsigned long)(late[(n * 99) / 100] / 1000),
           (unsigned long)(late[n - 1] / 1000));
    xtf_success(NULL);
}
