/*
 * Soft reset in place (on_soft_reset = "soft-reset", the kexec path): the
 * guest sets up event channels, a registered vcpu_info and shared_info in
 * its physmap, then SHUTDOWN_soft_reset. The toolstack resets the domain
 * and it resumes right after the hypercall, with its memory intact and:
 *  - every event channel closed (the port it allocated reads closed);
 *  - shared_info gone from its gfn (the page reads as zeroes) and
 *    mappable again;
 *  - vcpu_info unregistered (registering again succeeds; Xen allows it
 *    only once per incarnation);
 *  - new console and xenstore channels in HVM_PARAM_CONSOLE/STORE_EVTCHN,
 *    bound to domain 0, and xenstore answering on the same ring.
 */
#include <kit/test.h>
#include <kit/xenstore.h>
#include <xen/hvm/params.h>

const char test_title[] = "soft_reset: the domain resumes after SHUTDOWN_soft_reset, reset";

static volatile uint64_t survivor = 0x50f7;

static bool page_is_zero(const void *page)
{
    const uint64_t *w = page;

    for (unsigned int i = 0; i < PAGE_SIZE / sizeof(*w); i++)
        if (w[i])
            return false;
    return true;
}

static bool bound_to_dom0(uint32_t param)
{
    uint64_t port = 0;
    struct evtchn_status st;

    return hvm_get_param(param, &port) == 0 && port &&
           evtchn_status(DOMID_SELF, (evtchn_port_t)port, &st) == 0 &&
           (st.status == EVTCHNSTAT_interdomain || st.status == EVTCHNSTAT_unbound);
}

void test_main(const struct hvm_start_info *si)
{
    evtchn_port_t port = 0;
    uint64_t store_before = 0, store_after = 0;
    char name[64];
    struct evtchn_status st;

    (void)si;
    if (!check_rc(evtchn_init(UPCALL_AUTO), 0, "evtchn_init") ||
        !check_rc(evtchn_register_vcpu_info(), 0, "register_vcpu_info") ||
        !check_rc(evtchn_alloc_unbound(0, &port), 0, "alloc_unbound") ||
        !check_rc(xs_connect(), 0, "xs_connect") ||
        !check(xs_read("name", name, sizeof(name)) > 0, "xenstore read of name"))
        return;
    hvm_get_param(HVM_PARAM_STORE_EVTCHN, &store_before);
    survivor = 0xfeed50f7;
    printk("soft_reset: port %u allocated, shared_info at %p; resetting\n", port,
           (void *)shared_info);

    struct sched_shutdown s = { .reason = SHUTDOWN_soft_reset };
    long rc = HYPERVISOR_sched_op(SCHEDOP_shutdown, &s);

    console_init(); /* the console channel is new */
    printk("soft_reset: resumed, SCHEDOP_shutdown returned %ld\n", rc);
    check(rc == 0, "SCHEDOP_shutdown returns 0 after the reset (got %ld)", rc);
    check(survivor == 0xfeed50f7, "memory survives (%#llx)", (unsigned long long)survivor);
    check(evtchn_status(DOMID_SELF, port, &st) == 0 && st.status == EVTCHNSTAT_closed,
          "the allocated port %u is closed", port);
    check(page_is_zero(shared_info), "shared_info's old frame reads as zeroes");
    hvm_get_param(HVM_PARAM_STORE_EVTCHN, &store_after);
    check(bound_to_dom0(HVM_PARAM_STORE_EVTCHN), "a new xenstore channel (%llu, was %llu)",
          (unsigned long long)store_after, (unsigned long long)store_before);
    check(bound_to_dom0(HVM_PARAM_CONSOLE_EVTCHN), "a new console channel");

    /* Everything can be set up again, as the next kernel would. */
    check_rc(evtchn_init(UPCALL_AUTO), 0, "evtchn_init again (shared_info mapped again)");
    check_rc(evtchn_register_vcpu_info(), 0, "register_vcpu_info again");
    check(xen_time_now() != 0, "the pvclock runs in the new vcpu_info");
    if (check_rc(xs_connect(), 0, "xs_connect again"))
        check(xs_read("name", name, sizeof(name)) > 0, "xenstore answers after the reset");
    printk("soft_reset: name=%s\n", name);
    xtf_success(NULL);
}
