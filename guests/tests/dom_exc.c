/*
 * VIRQ_DOM_EXC, a global VIRQ: bound on vCPU 0, raised by the hypervisor
 * whenever some domain finishes shutting down or is destroyed — but only
 * in the domain designated for it (xl.cfg `global_virqs = ["dom_exc"]`,
 * xenolith's form of XEN_DOMCTL_set_virq_handler); elsewhere the binding
 * succeeds and nothing arrives, as on Xen where dom0 handles it.
 * For tests/integration/lifecycle.sh; the command line says what to expect:
 *   expect=N   wait (up to 30 s) for at least N events
 *   none       wait 5 s and expect none
 * "dom_exc: waiting" tells the harness the channel is bound.
 */
#include <kit/test.h>

const char test_title[] = "dom_exc: VIRQ_DOM_EXC reaches the designated handler only";

#define NS_PER_S 1000000000ull

void test_main(const struct hvm_start_info *si)
{
    const char *cmd = si->cmdline_paddr ? (const char *)(uintptr_t)si->cmdline_paddr : "";
    const char *expect = strstr(cmd, "expect=");
    unsigned int want = 0;
    evtchn_port_t port = 0;

    if (!check_rc(evtchn_init(UPCALL_AUTO), 0, "evtchn_init") ||
        !check_rc(evtchn_bind_virq(VIRQ_DOM_EXC, 0, &port), 0, "bind VIRQ_DOM_EXC"))
        return;
    evtchn_bind_handler(port, NULL, NULL);
    if (expect)
        for (expect += 7; *expect >= '0' && *expect <= '9'; expect++)
            want = want * 10 + (unsigned int)(*expect - '0');

    const uint64_t start = xen_time_now();
    const uint64_t limit = (expect ? 30 : 5) * NS_PER_S;

    if (!check(start != 0, "the pvclock runs"))
        return;
    printk("dom_exc: waiting on port %u for %u event(s)\n", port, want);
    while (xen_time_now() - start < limit && (!expect || evtchn_count(port) < want))
        evtchn_wait(port, evtchn_count(port) + 1);

    printk("dom_exc: %u event(s)\n", evtchn_count(port));
    if (expect)
        check(evtchn_count(port) >= want, "%u VIRQ_DOM_EXC event(s), want %u",
              evtchn_count(port), want);
    else
        check(evtchn_count(port) == 0, "no VIRQ_DOM_EXC outside its handler (got %u)",
              evtchn_count(port));
    xtf_success(NULL);
}
