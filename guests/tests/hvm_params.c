/*
 * HVMOP_get_param / HVMOP_set_param / HVMOP_set_evtchn_upcall_vector, per
 * xen/arch/x86/hvm/hvm.c (hvmop_get_param, hvm_allow_get_param,
 * hvm_allow_set_param, hvmop_set_evtchn_upcall_vector). Both upcall
 * delivery methods are exercised end to end with an IPI event channel.
 */
#include <kit/test.h>

const char test_title[] = "hvm_params: HVM params and upcall vector registration";

#define NR_2L_PORTS 4096u
/* Deprecated params are only named for __XEN__/__XEN_TOOLS__ (params.h). */
#define DEPRECATED_PARAM_PAE_ENABLED 4u
#define MAX_PFN_4G  (1ul << (32 - PAGE_SHIFT))

static long get_param(domid_t domid, uint32_t index, uint64_t *value)
{
    struct xen_hvm_param p = { .domid = domid, .index = index };
    long rc = HYPERVISOR_hvm_op(HVMOP_get_param, &p);

    if (value)
        *value = p.value;
    return rc;
}

static long set_param(domid_t domid, uint32_t index, uint64_t value)
{
    struct xen_hvm_param p = { .domid = domid, .index = index, .value = value };

    return HYPERVISOR_hvm_op(HVMOP_set_param, &p);
}

static long set_upcall_vector(uint32_t vcpu, uint8_t vector)
{
    struct xen_hvm_evtchn_upcall_vector op = { .vcpu = vcpu, .vector = vector };

    return HYPERVISOR_hvm_op(HVMOP_set_evtchn_upcall_vector, &op);
}

static void check_backend_port(const char *what, uint64_t port)
{
    struct evtchn_status st;

    if (!check(port != 0 && port < NR_2L_PORTS, "%s %llu", what, (unsigned long long)port))
        return;
    if (!check_rc(evtchn_status(DOMID_SELF, (evtchn_port_t)port, &st), 0,
                  "EVTCHNOP_status(%s %llu)", what, (unsigned long long)port))
        return;
    /* Allocated by the toolstack for a backend in dom0; bound once it runs. */
    if (st.status == EVTCHNSTAT_unbound)
        check(st.u.unbound.dom == 0, "%s unbound for dom%u, want dom0", what,
              st.u.unbound.dom);
    else if (check(st.status == EVTCHNSTAT_interdomain, "%s status %u", what, st.status))
        check(st.u.interdomain.dom == 0, "%s connected to dom%u, want dom0", what,
              st.u.interdomain.dom);
}

static void test_guest_readable(void)
{
    uint64_t store_pfn = 0, store_port = 0, cons_pfn = 0, cons_port = 0;

    check_rc(get_param(DOMID_SELF, HVM_PARAM_STORE_PFN, &store_pfn), 0, "get STORE_PFN");
    check_rc(get_param(DOMID_SELF, HVM_PARAM_STORE_EVTCHN, &store_port), 0,
             "get STORE_EVTCHN");
    check_rc(get_param(DOMID_SELF, HVM_PARAM_CONSOLE_PFN, &cons_pfn), 0, "get CONSOLE_PFN");
    check_rc(get_param(DOMID_SELF, HVM_PARAM_CONSOLE_EVTCHN, &cons_port), 0,
             "get CONSOLE_EVTCHN");
    printk("store pfn %#llx port %llu, console pfn %#llx port %llu\n",
           (unsigned long long)store_pfn, (unsigned long long)store_port,
           (unsigned long long)cons_pfn, (unsigned long long)cons_port);

    uint64_t img_lo = (uintptr_t)_image_start >> PAGE_SHIFT;
    uint64_t img_hi = ((uintptr_t)_image_end - 1) >> PAGE_SHIFT;

    check(store_pfn != 0 && store_pfn < MAX_PFN_4G, "STORE_PFN %#llx",
          (unsigned long long)store_pfn);
    check(cons_pfn != 0 && cons_pfn < MAX_PFN_4G, "CONSOLE_PFN %#llx",
          (unsigned long long)cons_pfn);
    check(store_pfn != cons_pfn, "store and console rings are different pages");
    check(store_pfn < img_lo || store_pfn > img_hi, "STORE_PFN outside the image");
    check(cons_pfn < img_lo || cons_pfn > img_hi, "CONSOLE_PFN outside the image");
    check(store_port != cons_port, "store and console ports differ");
    check(console_ring() != NULL, "the kit uses the console ring");

    check_backend_port("STORE_EVTCHN", store_port);
    check_backend_port("CONSOLE_EVTCHN", cons_port);
}

static void test_bad_params(void)
{
    uint64_t v;

    check_rc(get_param(DOMID_SELF, HVM_NR_PARAMS, &v), -XEN_EINVAL, "get index HVM_NR_PARAMS");
    check_rc(get_param(DOMID_SELF, 0xffffffffu, &v), -XEN_EINVAL, "get index 0xffffffff");
    check_rc(set_param(DOMID_SELF, HVM_NR_PARAMS, 0), -XEN_EINVAL, "set index HVM_NR_PARAMS");

    /* hvm_allow_get_param: deprecated -> -EINVAL, others not for the guest -> -EPERM. */
    check_rc(get_param(DOMID_SELF, DEPRECATED_PARAM_PAE_ENABLED, &v), -XEN_EINVAL,
             "get deprecated PAE_ENABLED");
    check_rc(get_param(DOMID_SELF, HVM_PARAM_IDENT_PT, &v), -XEN_EPERM,
             "get IDENT_PT (not guest readable)");
    /* hvm_allow_set_param: the ring PFNs are the toolstack's. */
    check_rc(set_param(DOMID_SELF, HVM_PARAM_STORE_PFN, 0x1234), -XEN_EPERM, "set STORE_PFN");
    check_rc(set_param(DOMID_SELF, HVM_PARAM_CONSOLE_PFN, 0x1234), -XEN_EPERM,
             "set CONSOLE_PFN");
    check_rc(set_param(DOMID_SELF, DEPRECATED_PARAM_PAE_ENABLED, 1), -XEN_EINVAL,
             "set deprecated PAE_ENABLED");

    /* rcu_lock_domain_by_any_id() fails first. */
    check_rc(get_param(DOMID_UNUSED, HVM_PARAM_STORE_PFN, &v), -XEN_ESRCH,
             "get from unused domid %#x", DOMID_UNUSED);
    check_rc(set_param(DOMID_UNUSED, HVM_PARAM_CALLBACK_IRQ, 0), -XEN_ESRCH,
             "set on unused domid %#x", DOMID_UNUSED);

    check_rc(HYPERVISOR_hvm_op(HVMOP_get_param, BAD_PTR_UNMAPPED), -XEN_EFAULT,
             "get_param from a bad pointer");
    check_rc(HYPERVISOR_hvm_op(HVMOP_set_param, BAD_PTR_UNMAPPED), -XEN_EFAULT,
             "set_param from a bad pointer");
}

/* One IPI to ourselves must arrive as an upcall with the current method. */
static void check_delivery(evtchn_port_t port, const char *how)
{
    unsigned int before = evtchn_count(port);

    if (check_rc(evtchn_send(port), 0, "send IPI port %u (%s)", port, how))
        check(evtchn_wait(port, before + 1), "upcall for IPI port %u via %s", port, how);
}

static void test_upcalls(void)
{
    uint64_t via = ((uint64_t)HVM_PARAM_CALLBACK_TYPE_VECTOR << 56) | UPCALL_VECTOR;
    uint64_t got = 0;
    evtchn_port_t ipi = 0;

    /* Domain-wide callback first: a per-vCPU vector cannot be undone. */
    if (!check_rc(evtchn_init(UPCALL_CALLBACK_VECTOR), 0, "evtchn_init(callback vector)"))
        return;
    check_rc(get_param(DOMID_SELF, HVM_PARAM_CALLBACK_IRQ, &got), 0, "get CALLBACK_IRQ");
    check(got == via, "CALLBACK_IRQ reads back %#llx, wrote %#llx", (unsigned long long)got,
          (unsigned long long)via);

    if (!check_rc(evtchn_bind_ipi(0, &ipi), 0, "bind_ipi(vcpu 0)"))
        return;
    evtchn_bind_handler(ipi, NULL, NULL);
    check_delivery(ipi, "HVM_PARAM_CALLBACK_IRQ");

    /* hvmop_set_evtchn_upcall_vector: vector checked before the vCPU. */
    check_rc(set_upcall_vector(0, 0x0f), -XEN_EINVAL, "upcall vector 0x0f");
    check_rc(set_upcall_vector(99, 0x0f), -XEN_EINVAL, "upcall vector 0x0f on vcpu 99");
    check_rc(set_upcall_vector(99, UPCALL_VECTOR), -XEN_ENOENT, "upcall vector on vcpu 99");
    check_rc(set_upcall_vector(0xffffffffu, UPCALL_VECTOR), -XEN_ENOENT,
             "upcall vector on vcpu 0xffffffff");
    check_rc(HYPERVISOR_hvm_op(HVMOP_set_evtchn_upcall_vector, BAD_PTR_UNMAPPED), -XEN_EFAULT,
             "set_evtchn_upcall_vector from a bad pointer");

    if (check_rc(evtchn_set_upcall_mode(UPCALL_PER_VCPU), 0, "set_evtchn_upcall_vector(0, %#x)",
                 UPCALL_VECTOR)) {
        check_delivery(ipi, "HVMOP_set_evtchn_upcall_vector");
        check_delivery(ipi, "HVMOP_set_evtchn_upcall_vector after EOI");
    }
    check_rc(evtchn_close(ipi), 0, "close IPI port %u", ipi);
}

void test_main(const struct hvm_start_info *si)
{
    (void)si;
    test_guest_readable();
    test_bad_params();
    test_upcalls();
    if (!xtf_failures())
        xtf_success(NULL);
}
