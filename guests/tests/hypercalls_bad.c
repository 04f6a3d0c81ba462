/*
 * Hostile hypercalls: numbers an HVM guest may not use, garbage pointers
 * for every family and garbage sub-ops. Each must fail with Xen's errno
 * and the guest must keep running. Sources: xen/include/hypercall-defs.c
 * (which hypercalls exist for hvm64), xen/arch/x86/hvm/hypercall.c and the
 * per-family handlers named in the other tests.
 */
#include <kit/test.h>

const char test_title[] = "hypercalls_bad: unknown numbers, bad pointers, bad sub-ops";

/* PV-only hypercalls have no hvm64 handler; 11, 43-47 and 56+ are unused. */
static const unsigned long no_hvm_handler[] = {
    __HYPERVISOR_set_trap_table, __HYPERVISOR_mmu_update, __HYPERVISOR_set_gdt,
    __HYPERVISOR_stack_switch, __HYPERVISOR_set_callbacks, __HYPERVISOR_fpu_taskswitch,
    __HYPERVISOR_sched_op_compat, __HYPERVISOR_set_debugreg, __HYPERVISOR_get_debugreg,
    __HYPERVISOR_update_descriptor, 11, __HYPERVISOR_update_va_mapping,
    __HYPERVISOR_event_channel_op_compat, __HYPERVISOR_physdev_op_compat,
    __HYPERVISOR_update_va_mapping_otherdomain, __HYPERVISOR_set_segment_base,
    __HYPERVISOR_nmi_op, __HYPERVISOR_callback_op, __HYPERVISOR_tmem_op, 43, 47,
    __HYPERVISOR_arch_0, 56, 60, 64, 100, 127,
};
/* Beyond the 128 page slots: entered through slot 0 with EAX preset. */
static const unsigned long beyond_page[] = { 128, 200, 0x7fffffff, 0xffffffff };

static void test_unknown_numbers(void)
{
    long ver = HYPERVISOR_xen_version(XENVER_version, NULL);

    for (unsigned int i = 0; i < ARRAY_SIZE(no_hvm_handler); i++)
        check_rc(hypercall(no_hvm_handler[i], 1, 2, 3, 4, 5), -XEN_ENOSYS, "hypercall %lu",
                 no_hvm_handler[i]);

    if (hypercall_any_nr_supported()) {
        for (unsigned int i = 0; i < ARRAY_SIZE(beyond_page); i++)
            check_rc(hypercall(beyond_page[i], 0, 0, 0, 0, 0), -XEN_ENOSYS,
                     "hypercall %#lx", beyond_page[i]);
    } else {
        printk("note: hypercall page stubs are not `mov $nr, %%eax; ...`;"
               " numbers >= 128 not tried\n");
    }

    check(HYPERVISOR_xen_version(XENVER_version, NULL) == ver,
          "still running, hypercalls still work");
}

static void test_bad_pointers(void)
{
    void *const bad[] = { BAD_PTR_UNMAPPED, BAD_PTR_NONCANONICAL, BAD_PTR_NO_RAM };

    for (unsigned int i = 0; i < ARRAY_SIZE(bad); i++) {
        void *p = bad[i];

        check_rc(HYPERVISOR_xen_version(XENVER_extraversion, p), -XEN_EFAULT,
                 "xen_version(extraversion, %p)", p);
        check_rc(HYPERVISOR_memory_op(XENMEM_current_reservation, p), -XEN_EFAULT,
                 "memory_op(current_reservation, %p)", p);
        check_rc(HYPERVISOR_memory_op(XENMEM_memory_map, p), -XEN_EFAULT,
                 "memory_op(memory_map, %p)", p);
        check_rc(HYPERVISOR_hvm_op(HVMOP_get_param, p), -XEN_EFAULT,
                 "hvm_op(get_param, %p)", p);
        check_rc(HYPERVISOR_hvm_op(HVMOP_set_param, p), -XEN_EFAULT,
                 "hvm_op(set_param, %p)", p);
        check_rc(HYPERVISOR_vcpu_op(VCPUOP_get_runstate_info, 0, p), -XEN_EFAULT,
                 "vcpu_op(get_runstate_info, %p)", p);
        check_rc(HYPERVISOR_vcpu_op(VCPUOP_register_vcpu_info, 0, p), -XEN_EFAULT,
                 "vcpu_op(register_vcpu_info, %p)", p);
        check_rc(HYPERVISOR_sched_op(SCHEDOP_shutdown, p), -XEN_EFAULT,
                 "sched_op(shutdown, %p)", p);
        check_rc(HYPERVISOR_sched_op(SCHEDOP_poll, p), -XEN_EFAULT, "sched_op(poll, %p)", p);
        check_rc(HYPERVISOR_event_channel_op(EVTCHNOP_send, p), -XEN_EFAULT,
                 "event_channel_op(send, %p)", p);
        check_rc(HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, p), -XEN_EFAULT,
                 "event_channel_op(alloc_unbound, %p)", p);
        /* guest_console_write() copies before it logs anything. */
        check_rc(HYPERVISOR_console_io(CONSOLEIO_write, 16, p), -XEN_EFAULT,
                 "console_io(write, 16, %p)", p);
    }
}

static void test_bad_subops(void)
{
    char buf[16];

    check_rc(HYPERVISOR_xen_version(0x7fff, NULL), -XEN_ENOSYS, "xen_version sub-op 0x7fff");
    check_rc(HYPERVISOR_memory_op(60, NULL), -XEN_ENOSYS, "memory_op sub-op 60");
    check_rc(HYPERVISOR_hvm_op(0x7fff, NULL), -XEN_ENOSYS, "hvm_op 0x7fff");
    check_rc(HYPERVISOR_vcpu_op(99, 0, NULL), -XEN_ENOSYS, "vcpu_op 99");
    check_rc(HYPERVISOR_sched_op(99, NULL), -XEN_ENOSYS, "sched_op 99");
    check_rc(HYPERVISOR_event_channel_op(99, NULL), -XEN_ENOSYS, "event_channel_op 99");
    /* xsm_console_io(): a domU may only write; anything else is XSM_PRIV. */
    check_rc(HYPERVISOR_console_io(CONSOLEIO_read, sizeof(buf), buf), -XEN_EPERM,
             "console_io(read) from a domU");
    check_rc(HYPERVISOR_console_io(99, 0, NULL), -XEN_EPERM, "console_io 99 from a domU");
    check_rc(HYPERVISOR_console_io(CONSOLEIO_write, 0, NULL), 0, "console_io(write, 0 bytes)");
}

void test_main(const struct hvm_start_info *si)
{
    (void)si;
    test_unknown_numbers();
    test_bad_pointers();
    test_bad_subops();
    if (!xtf_failures())
        xtf_success(NULL);
}
