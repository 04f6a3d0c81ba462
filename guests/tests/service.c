/*
 * A service domain for tests/integration/autostart.sh: it stays up like a
 * real guest until asked to stop. It reads its name from xenstore, prints
 * "service NAME: up", then waits on a watch of ~/control/shutdown. On a
 * request it acknowledges it as Linux's xenbus handler does (clearing the
 * node), prints "service NAME: shutting down (poweroff)" and ends (the kit
 * powers off). Both lines also go to the hypervisor log, so `xl dmesg` shows
 * the order in which services started and stopped.
 *
 * With "ignore-shutdown" on its command line it prints "service NAME:
 * ignoring control/shutdown = poweroff" and waits on, never acknowledging,
 * like a hung guest, until it is destroyed.
 */
#include <kit/test.h>
#include <kit/xenstore.h>

const char test_title[] = "service: runs until control/shutdown asks it to stop";

void test_main(const struct hvm_start_info *si)
{
    const char *cmdline = si->cmdline_paddr ? (const char *)(uintptr_t)si->cmdline_paddr : "";
    const bool ignore = strstr(cmdline, "ignore-shutdown") != NULL;
    bool told = false;
    char name[64] = "?";
    char request[32];
    long rc;

    if (evtchn_init(UPCALL_AUTO)) {
        xtf_error("evtchn_init failed\n");
        return;
    }
    if ((rc = xs_connect()) != 0) {
        xtf_error("no xenstore ring: %ld\n", rc);
        return;
    }
    xs_read("name", name, sizeof(name));
    if ((rc = xs_watch("control/shutdown", "ctl")) != 0) {
        xtf_error("cannot watch control/shutdown: %ld\n", rc);
        return;
    }
    printk("service %s: up\n", name);
    for (;;) {
        if (xs_read("control/shutdown", request, sizeof(request)) > 0) {
            if (!ignore)
                break;
            if (!told)
                printk("service %s: ignoring control/shutdown = %s\n", name, request);
            told = true;
        }
        /* No timeout: a service waits as long as it runs. */
        if (xs_wait_watch(NULL, 0, NULL, 0, 0) < 0) {
            xtf_error("xenstore ring broke\n");
            return;
        }
    }
    if ((rc = xs_write("control/shutdown", "")) != 0) {
        xtf_error("cannot acknowledge control/shutdown: %ld\n", rc);
        return;
    }
    printk("service %s: shutting down (%s)\n", name, request);
    xtf_success(NULL);
}
