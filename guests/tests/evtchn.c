/*
 * __HYPERVISOR_event_channel_op with 2-level delivery, per
 * xen/common/event_channel.c and xen/common/event_2l.c: loopback
 * interdomain pairs, IPIs, VIRQ_TIMER, masking, status, close and the
 * errnos of each operation, delivered through a registered vcpu_info.
 * Config: vcpus=1.
 */
#include <kit/test.h>

const char test_title[] = "evtchn: loopback, IPI, VIRQ_TIMER, mask/unmask, status, close";

#define BAD_PORT 4096u /* 2-level ports end at 64 * 64 */

static domid_t self_domid;

static struct evtchn_status status_of(evtchn_port_t port)
{
    struct evtchn_status st;

    check_rc(evtchn_status(DOMID_SELF, port, &st), 0, "status(%u)", port);
    return st;
}

static void send_and_expect(evtchn_port_t send, evtchn_port_t recv, const char *what)
{
    unsigned int before = evtchn_count(recv);

    if (check_rc(evtchn_send(send), 0, "send(%u) %s", send, what))
        check(evtchn_wait(recv, before + 1), "upcall on port %u after send(%u) %s", recv,
              send, what);
}

/* alloc_unbound(remote=self) + bind_interdomain to it: a loopback pair. */
static bool test_loopback(evtchn_port_t *pa, evtchn_port_t *pb)
{
    struct evtchn_status st;
    evtchn_port_t a = 0, b = 0;

    if (!check_rc(evtchn_alloc_unbound(DOMID_SELF, &a), 0, "alloc_unbound(remote self)"))
        return false;
    evtchn_bind_handler(a, NULL, NULL);
    st = status_of(a);
    check(st.status == EVTCHNSTAT_unbound, "port %u status %u, want unbound", a, st.status);
    /* evtchn_alloc_unbound() records the caller's real domid for DOMID_SELF. */
    self_domid = st.u.unbound.dom;
    check(self_domid < DOMID_FIRST_RESERVED, "unbound remote %#x is a real domid", self_domid);
    if (xen_cpuid.hvm_features & XEN_HVM_CPUID_DOMID_PRESENT)
        check(self_domid == xen_cpuid.domid, "remote domid %u, CPUID says %u", self_domid,
              xen_cpuid.domid);

    if (!check_rc(evtchn_bind_interdomain(DOMID_SELF, a, &b), 0, "bind_interdomain(self, %u)",
                  a))
        return false;
    evtchn_bind_handler(b, NULL, NULL);
    /* evtchn_bind_interdomain() sets the new local port pending, "conservatively",
     * in case a notification on the unbound port was lost. */
    check(evtchn_wait(b, 1), "bind_interdomain notifies the new local port %u", b);

    st = status_of(a);
    check(st.status == EVTCHNSTAT_interdomain && st.u.interdomain.port == b &&
              st.u.interdomain.dom == self_domid,
          "port %u: status %u peer dom%u port %u, want interdomain to %u", a, st.status,
          st.u.interdomain.dom, st.u.interdomain.port, b);
    st = status_of(b);
    check(st.status == EVTCHNSTAT_interdomain && st.u.interdomain.port == a,
          "port %u: status %u peer port %u, want interdomain to %u", b, st.status,
          st.u.interdomain.port, a);
    check(st.vcpu == 0, "port %u notifies vCPU %u", b, st.vcpu);

    unsigned int b_before = evtchn_count(b);
    send_and_expect(b, a, "loopback");
    check(evtchn_count(b) == b_before, "sending on %u does not signal %u itself", b, b);
    send_and_expect(a, b, "loopback");

    /* Already connected: a is no longer unbound. */
    evtchn_port_t c;
    check_rc(evtchn_bind_interdomain(DOMID_SELF, a, &c), -XEN_EINVAL,
             "bind_interdomain to connected port %u", a);
    *pa = a;
    *pb = b;
    return true;
}

static void test_ipi(void)
{
    struct evtchn_status st;
    evtchn_port_t p = 0;

    check_rc(evtchn_bind_ipi(99, &p), -XEN_ENOENT, "bind_ipi(vcpu 99)");
    if (!check_rc(evtchn_bind_ipi(0, &p), 0, "bind_ipi(0)"))
        return;
    evtchn_bind_handler(p, NULL, NULL);
    st = status_of(p);
    check(st.status == EVTCHNSTAT_ipi && st.vcpu == 0, "IPI port %u status %u vcpu %u", p,
          st.status, st.vcpu);
    send_and_expect(p, p, "IPI");

    /* evtchn_bind_vcpu: IPIs cannot be moved; unknown vCPU first. */
    struct evtchn_bind_vcpu bv = { .port = p, .vcpu = 0 };
    check_rc(HYPERVISOR_event_channel_op(EVTCHNOP_bind_vcpu, &bv), -XEN_EINVAL,
             "bind_vcpu(IPI port)");
    bv.vcpu = 99;
    check_rc(HYPERVISOR_event_channel_op(EVTCHNOP_bind_vcpu, &bv), -XEN_ENOENT,
             "bind_vcpu(vcpu 99)");

    /* Not unbound: cannot be the remote end of an interdomain bind. */
    evtchn_port_t c;
    check_rc(evtchn_bind_interdomain(DOMID_SELF, p, &c), -XEN_EINVAL,
             "bind_interdomain to IPI port %u", p);

    check_rc(evtchn_close(p), 0, "close IPI port %u", p);
    st = status_of(p);
    check(st.status == EVTCHNSTAT_closed, "closed port %u status %u", p, st.status);
    check_rc(evtchn_send(p), -XEN_EINVAL, "send on closed port %u", p);
}

static void test_virq_timer(void)
{
    struct evtchn_status st;
    evtchn_port_t t = 0, dup = 0;

    check_rc(evtchn_bind_virq(NR_VIRQS, 0, &dup), -XEN_EINVAL, "bind_virq(NR_VIRQS)");
    check_rc(evtchn_bind_virq(0xffffffffu, 0, &dup), -XEN_EINVAL, "bind_virq(-1)");
    /* Global VIRQs bind on vCPU 0 only. */
    check_rc(evtchn_bind_virq(VIRQ_CONSOLE, 1, &dup), -XEN_EINVAL,
             "bind_virq(VIRQ_CONSOLE, vcpu 1)");
    check_rc(evtchn_bind_virq(VIRQ_TIMER, 99, &dup), -XEN_ENOENT,
             "bind_virq(VIRQ_TIMER, vcpu 99)");

    if (!check_rc(evtchn_bind_virq(VIRQ_TIMER, 0, &t), 0, "bind_virq(VIRQ_TIMER, 0)"))
        return;
    evtchn_bind_handler(t, NULL, NULL);
    check_rc(evtchn_bind_virq(VIRQ_TIMER, 0, &dup), -XEN_EEXIST, "bind_virq(VIRQ_TIMER) twice");

    st = status_of(t);
    check(st.status == EVTCHNSTAT_virq && st.u.virq == VIRQ_TIMER && st.vcpu == 0,
          "VIRQ port %u status %u virq %u vcpu %u", t, st.status, st.u.virq, st.vcpu);

    /* A per-vCPU VIRQ cannot be moved to another vCPU. */
    struct evtchn_bind_vcpu bv = { .port = t, .vcpu = 0 };
    check_rc(HYPERVISOR_event_channel_op(EVTCHNOP_bind_vcpu, &bv), -XEN_EINVAL,
             "bind_vcpu(VIRQ_TIMER port)");

    /* An absolute time in the past fires at once. */
    unsigned int before = evtchn_count(t);
    check_rc(HYPERVISOR_set_timer_op(1), 0, "set_timer_op(1)");
    check(evtchn_wait(t, before + 1), "VIRQ_TIMER upcall after set_timer_op(1)");

    check_rc(evtchn_close(t), 0, "close VIRQ_TIMER port %u", t);
    /* The VIRQ is free again. */
    if (check_rc(evtchn_bind_virq(VIRQ_TIMER, 0, &t), 0, "re-bind VIRQ_TIMER"))
        check_rc(evtchn_close(t), 0, "close VIRQ_TIMER port %u", t);
}

static void test_mask(evtchn_port_t a, evtchn_port_t b)
{
    unsigned int before = evtchn_count(a);

    evtchn_mask(a);
    check_rc(evtchn_send(b), 0, "send(%u) to masked %u", b, a);
    check(evtchn_is_pending(a), "masked port %u is pending", a);
    upcall_window();
    check(evtchn_count(a) == before, "no upcall while port %u is masked", a);

    check_rc(evtchn_unmask(a), 0, "unmask(%u)", a);
    check(!evtchn_is_masked(a), "port %u unmasked", a);
    check(evtchn_wait(a, before + 1), "upcall on %u once unmasked", a);
    check(!evtchn_is_pending(a), "port %u no longer pending after the upcall", a);
}

static void test_close_pair(evtchn_port_t a, evtchn_port_t b)
{
    struct evtchn_status st;
    struct evtchn_bind_vcpu bv = { .port = a, .vcpu = 0 };

    /* Interdomain ports may move between vCPUs. */
    check_rc(HYPERVISOR_event_channel_op(EVTCHNOP_bind_vcpu, &bv), 0, "bind_vcpu(%u, 0)", a);

    check_rc(evtchn_close(b), 0, "close(%u)", b);
    st = status_of(a);
    check(st.status == EVTCHNSTAT_unbound && st.u.unbound.dom == self_domid,
          "port %u back to unbound (status %u)", a, st.status);
    check_rc(evtchn_close(b), -XEN_EINVAL, "close(%u) twice", b);
    check_rc(evtchn_send(b), -XEN_EINVAL, "send on closed port %u", b);
    /* evtchn_send(): an unbound port silently drops the notification. */
    check_rc(evtchn_send(a), 0, "send on unbound port %u", a);
    check_rc(evtchn_close(a), 0, "close(%u)", a);
    st = status_of(a);
    check(st.status == EVTCHNSTAT_closed, "port %u closed (status %u)", a, st.status);
}

static void test_bad_ports(void)
{
    struct evtchn_status st;
    evtchn_port_t p;

    /* Port 0 exists but is reserved (evtchn_init); 4096 is not a port. */
    check_rc(evtchn_send(0), -XEN_EINVAL, "send(0)");
    check_rc(evtchn_close(0), -XEN_EINVAL, "close(0)");
    if (check_rc(evtchn_status(DOMID_SELF, 0, &st), 0, "status(0)"))
        check(st.status == EVTCHNSTAT_closed, "port 0 status %u, want closed", st.status);
    check_rc(evtchn_send(BAD_PORT), -XEN_EINVAL, "send(%u)", BAD_PORT);
    check_rc(evtchn_close(BAD_PORT), -XEN_EINVAL, "close(%u)", BAD_PORT);
    check_rc(evtchn_status(DOMID_SELF, BAD_PORT, &st), -XEN_EINVAL, "status(%u)", BAD_PORT);
    check_rc(evtchn_unmask(BAD_PORT), -XEN_EINVAL, "unmask(%u)", BAD_PORT);
    check_rc(evtchn_bind_interdomain(DOMID_SELF, BAD_PORT, &p), -XEN_EINVAL,
             "bind_interdomain(self, %u)", BAD_PORT);

    check_rc(evtchn_status(DOMID_UNUSED, 1, &st), -XEN_ESRCH, "status in domid %#x",
             DOMID_UNUSED);
    check_rc(evtchn_bind_interdomain(DOMID_UNUSED, 1, &p), -XEN_ESRCH,
             "bind_interdomain(domid %#x)", DOMID_UNUSED);
    struct evtchn_alloc_unbound au = { .dom = DOMID_UNUSED, .remote_dom = DOMID_SELF };
    check_rc(HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &au), -XEN_ESRCH,
             "alloc_unbound in domid %#x", DOMID_UNUSED);

    static const int ops[] = {
        EVTCHNOP_alloc_unbound, EVTCHNOP_bind_interdomain, EVTCHNOP_bind_virq,
        EVTCHNOP_bind_ipi, EVTCHNOP_close, EVTCHNOP_send, EVTCHNOP_status,
        EVTCHNOP_bind_vcpu, EVTCHNOP_unmask,
    };
    for (unsigned int i = 0; i < ARRAY_SIZE(ops); i++)
        check_rc(HYPERVISOR_event_channel_op(ops[i], BAD_PTR_UNMAPPED), -XEN_EFAULT,
                 "EVTCHNOP %d from a bad pointer", ops[i]);
    check_rc(HYPERVISOR_event_channel_op(99, NULL), -XEN_ENOSYS, "EVTCHNOP 99");
}

void test_main(const struct hvm_start_info *si)
{
    evtchn_port_t a = 0, b = 0;

    (void)si;
    if (!check_rc(evtchn_init(UPCALL_AUTO), 0, "evtchn_init") ||
        !check_rc(evtchn_register_vcpu_info(), 0, "register_vcpu_info(vCPU 0)"))
        return;
    printk("upcall via %s, vector %#x\n",
           evtchn_upcall_mode() == UPCALL_PER_VCPU ? "HVMOP_set_evtchn_upcall_vector"
                                                   : "HVM_PARAM_CALLBACK_IRQ",
           UPCALL_VECTOR);

    bool pair = test_loopback(&a, &b);
    test_ipi();
    test_virq_timer();
    if (pair) {
        test_mask(a, b);
        test_close_pair(a, b);
    }
    test_bad_ports();
    if (!xtf_failures())
        xtf_success(NULL);
}
