/*
 * __HYPERVISOR_xen_version, per xen/common/kernel.c do_xen_version() and
 * the XSM dummy policy (xen/include/xsm/dummy.h xsm_xen_version) for an
 * unprivileged domain.
 */
#include <kit/test.h>

const char test_title[] = "xen_version: every sub-op, good and bad arguments";

#define XEN_4_17 0x00040011

static void test_version(void)
{
    long v = HYPERVISOR_xen_version(XENVER_version, NULL);

    printk("XENVER_version: %ld.%ld\n", v >> 16, v & 0xffff);
    check(v == XEN_4_17, "XENVER_version %#lx, want 4.17 (%#x)", v, XEN_4_17);
    /* CPUID base+1 EAX carries the same major << 16 | minor. */
    check(xen_cpuid.version == (uint32_t)v, "CPUID base+1 %#x matches XENVER_version",
          xen_cpuid.version);
    /* The argument is ignored for XENVER_version. */
    check(HYPERVISOR_xen_version(XENVER_version, BAD_PTR_UNMAPPED) == v,
          "XENVER_version ignores its argument");
}

static void test_strings(void)
{
    xen_extraversion_t extra;
    xen_capabilities_info_t caps;
    xen_changeset_info_t changeset;
    xen_compile_info_t compile;

    memset(extra, 0xff, sizeof(extra));
    if (check_rc(HYPERVISOR_xen_version(XENVER_extraversion, extra), 0, "extraversion"))
        check(strnlen(extra, sizeof(extra)) < sizeof(extra),
              "extraversion is NUL-terminated");

    memset(caps, 0xff, sizeof(caps));
    if (check_rc(HYPERVISOR_xen_version(XENVER_capabilities, caps), 0, "capabilities") &&
        check(strnlen(caps, sizeof(caps)) < sizeof(caps), "capabilities NUL-terminated")) {
        printk("capabilities: \"%s\"\n", caps);
        check(strstr(caps, "hvm-3.0-x86_64") != NULL,
              "capabilities contain hvm-3.0-x86_64");
    }

    memset(changeset, 0xff, sizeof(changeset));
    if (check_rc(HYPERVISOR_xen_version(XENVER_changeset, changeset), 0, "changeset"))
        check(strnlen(changeset, sizeof(changeset)) < sizeof(changeset),
              "changeset NUL-terminated");

    /* Allowed to everyone, the content may be "<denied>". */
    check_rc(HYPERVISOR_xen_version(XENVER_compile_info, &compile), 0, "compile_info");
}

static void test_platform_and_features(void)
{
    xen_platform_parameters_t params = { 0 };
    xen_feature_info_t fi = { .submap_idx = 0 };

    check_rc(HYPERVISOR_xen_version(XENVER_platform_parameters, &params), 0,
             "platform_parameters");
    check(params.virt_start == __HYPERVISOR_VIRT_START, "virt_start %#lx, want %#lx",
          (unsigned long)params.virt_start, (unsigned long)__HYPERVISOR_VIRT_START);

    if (check_rc(HYPERVISOR_xen_version(XENVER_get_features, &fi), 0, "get_features(0)")) {
        printk("features submap 0: %#x\n", fi.submap);
        /* kernel.c: every HVM domain gets these; a domU is not dom0. */
        check(fi.submap & (1u << XENFEAT_hvm_callback_vector), "XENFEAT_hvm_callback_vector");
        check(fi.submap & (1u << XENFEAT_auto_translated_physmap),
              "XENFEAT_auto_translated_physmap (PVH is translated)");
        check(!(fi.submap & (1u << XENFEAT_dom0)), "XENFEAT_dom0 clear for a domU");
        check(!(fi.submap & (1u << XENFEAT_mmu_pt_update_preserve_ad)),
              "no PV-only XENFEAT_mmu_pt_update_preserve_ad");
    }

    fi.submap_idx = XENFEAT_NR_SUBMAPS;
    check_rc(HYPERVISOR_xen_version(XENVER_get_features, &fi), -XEN_EINVAL,
             "get_features(submap %u)", XENFEAT_NR_SUBMAPS);
}

static void test_misc(void)
{
    xen_domain_handle_t handle;
    xen_commandline_t cmdline;

    check_rc(HYPERVISOR_xen_version(XENVER_pagesize, NULL), 4096, "pagesize");
    /* kernel.c: a non-NULL argument is refused. */
    check_rc(HYPERVISOR_xen_version(XENVER_pagesize, &handle), -XEN_EINVAL,
             "pagesize with an argument");
    check_rc(HYPERVISOR_xen_version(XENVER_guest_handle, handle), 0, "guest_handle");
    /* Denied to a domU by XSM_PRIV, but still answered (with "<denied>"). */
    check_rc(HYPERVISOR_xen_version(XENVER_commandline, cmdline), 0, "commandline");
    /* build_id: denied -> -EPERM before looking at the argument. */
    check_rc(HYPERVISOR_xen_version(XENVER_build_id, NULL), -XEN_EPERM, "build_id");
}

static void test_bad_args(void)
{
    static const struct {
        void *ptr;
        const char *what;
    } bad[] = {
        { BAD_PTR_UNMAPPED, "unmapped" },
        { BAD_PTR_NONCANONICAL, "non-canonical" },
        { BAD_PTR_NO_RAM, "no RAM behind" },
    };

    for (unsigned int i = 0; i < ARRAY_SIZE(bad); i++) {
        check_rc(HYPERVISOR_xen_version(XENVER_extraversion, bad[i].ptr), -XEN_EFAULT,
                 "extraversion to a %s pointer", bad[i].what);
        check_rc(HYPERVISOR_xen_version(XENVER_capabilities, bad[i].ptr), -XEN_EFAULT,
                 "capabilities to a %s pointer", bad[i].what);
        check_rc(HYPERVISOR_xen_version(XENVER_get_features, bad[i].ptr), -XEN_EFAULT,
                 "get_features from a %s pointer", bad[i].what);
        check_rc(HYPERVISOR_xen_version(XENVER_platform_parameters, bad[i].ptr),
                 -XEN_EFAULT, "platform_parameters to a %s pointer", bad[i].what);
    }

    check_rc(HYPERVISOR_xen_version(XENVER_build_id + 1, NULL), -XEN_ENOSYS,
             "first unknown sub-op (%d)", XENVER_build_id + 1);
    check_rc(HYPERVISOR_xen_version(0x7fff, NULL), -XEN_ENOSYS, "sub-op 0x7fff");
    check_rc(HYPERVISOR_xen_version(-1, NULL), -XEN_ENOSYS, "sub-op -1");
}

void test_main(const struct hvm_start_info *si)
{
    (void)si;
    test_version();
    test_strings();
    test_platform_and_features();
    test_misc();
    test_bad_args();
    if (!xtf_failures())
        xtf_success(NULL);
}
