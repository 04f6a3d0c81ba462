/*
 * A guest probing the domids after its own, as a hostile guest would,
 * while the administrator creates a domain: EVTCHNOP_bind_interdomain and
 * EVTCHNOP_status, SCHEDOP_remote_shutdown and XENMEM_current_reservation,
 * each naming another domain, over and over. A domid reserved by a create
 * still being built must look exactly like one that does not exist
 * (-ESRCH) until the domain is there; then each call gets the refusal Xen
 * gives a domU for another, existing domain (-EINVAL for a port that is
 * not unbound for us, -EPERM for the rest).
 * For tests/integration/guard.sh. Command line:
 *   appear     succeed once domid+1 was seen absent and then present
 *              (the harness creates it while we probe); without it, probe
 *              for `secs` and succeed if no call misbehaved
 *   secs=N     give up after N seconds (default 30)
 * "domid_probe: probing" tells the harness the probes have begun.
 */
#include <kit/test.h>

const char test_title[] = "domid_probe: other domids, reserved or built, never crash the host";

#define NS_PER_S 1000000000ull
#define NR_PROBED 4u

static unsigned int parse_uint(const char *s)
{
    unsigned int v = 0;

    while (*s >= '0' && *s <= '9')
        v = v * 10 + (unsigned int)(*s++ - '0');
    return v;
}

struct tally {
    unsigned int absent;  /* -ESRCH from every call */
    unsigned int present; /* the refusals of an existing domain */
    bool bad;             /* anything else */
};

/* One round of probes at `dom`; true when it looked present. */
static bool probe(domid_t dom, struct tally *t)
{
    struct sched_remote_shutdown remote = { .domain_id = dom, .reason = SHUTDOWN_poweroff };
    struct evtchn_status st = { 0 };
    domid_t reservation_dom = dom;
    evtchn_port_t port = 0;
    long bind, status, shutdown, reservation;

    bind = evtchn_bind_interdomain(dom, 1, &port);
    status = evtchn_status(dom, 1, &st);
    shutdown = HYPERVISOR_sched_op(SCHEDOP_remote_shutdown, &remote);
    reservation = HYPERVISOR_memory_op(XENMEM_current_reservation, &reservation_dom);

    if (bind == -XEN_ESRCH && status == -XEN_ESRCH && shutdown == -XEN_ESRCH &&
        reservation == -XEN_ESRCH) {
        t->absent++;
        return false;
    }
    /* The domain may appear between two calls of one round: each call on
     * its own must give one of its two answers. */
    if ((bind != -XEN_ESRCH && bind != -XEN_EINVAL) ||
        (status != -XEN_ESRCH && status != -XEN_EPERM) ||
        (shutdown != -XEN_ESRCH && shutdown != -XEN_EPERM) ||
        (reservation != -XEN_ESRCH && reservation != -XEN_EPERM)) {
        if (!t->bad)
            xtf_failure("domid %u: bind_interdomain %s, status %s, remote_shutdown %s, "
                        "current_reservation %s",
                        dom, xen_errno_name(bind), xen_errno_name(status),
                        xen_errno_name(shutdown), xen_errno_name(reservation));
        t->bad = true;
        return false;
    }
    if (bind == -XEN_EINVAL && status == -XEN_EPERM && shutdown == -XEN_EPERM &&
        reservation == -XEN_EPERM) {
        t->present++;
        return true;
    }
    return false; /* mid-appearance: the next round decides */
}

void test_main(const struct hvm_start_info *si)
{
    const char *cmd = si->cmdline_paddr ? (const char *)(uintptr_t)si->cmdline_paddr : "";
    const char *secs_arg = strstr(cmd, "secs=");
    const bool appear = strstr(cmd, "appear") != NULL;
    const uint64_t limit = (secs_arg ? parse_uint(secs_arg + 5) : 30) * NS_PER_S;
    struct tally tallies[NR_PROBED] = { 0 };
    const domid_t self = (domid_t)xen_cpuid.domid;
    bool next_present = false;
    unsigned int rounds = 0;

    if (!check_rc(evtchn_init(UPCALL_AUTO), 0, "evtchn_init") ||
        !check(self != 0 && self < DOMID_FIRST_RESERVED, "own domid %u from CPUID", self))
        return;

    const uint64_t start = xen_time_now();
    printk("domid_probe: probing domids %u..%u\n", self + 1u, self + NR_PROBED);
    while (xen_time_now() - start < limit) {
        for (unsigned int i = 0; i < NR_PROBED; i++) {
            const bool present = probe((domid_t)(self + 1u + i), &tallies[i]);

            /* Absent first, present afterwards: the create was seen. */
            if (i == 0 && present && tallies[0].absent > 0)
                next_present = true;
        }
        rounds++;
        if (appear && next_present)
            break;
    }

    for (unsigned int i = 0; i < NR_PROBED; i++) {
        printk("domid_probe: domid %u: %u absent, %u present\n", self + 1u + i,
               tallies[i].absent, tallies[i].present);
        check(!tallies[i].bad, "domid %u answered as Xen does", self + 1u + i);
    }
    printk("domid_probe: %u rounds\n", rounds);
    if (appear)
        check(next_present, "domid %u was seen absent, then present", self + 1u);
    xtf_success(NULL);
}
