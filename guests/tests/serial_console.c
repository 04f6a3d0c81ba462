/*
 * The hypervisor's serial input, Xen's VIRQ_CONSOLE + CONSOLEIO_read: the
 * domain configured with global_virqs = ["console"] is told of every byte
 * arriving on xenolithd's --serial-input line and reads the bytes itself.
 * The harness (tests/integration/lifecycle.sh) writes "ping\n" into the
 * line once this guest prints "serial: waiting"; the guest answers with
 * what it read.
 */
#include <kit/test.h>

const char test_title[] = "serial_console: VIRQ_CONSOLE and CONSOLEIO_read";

#define NS_PER_S 1000000000ull

void test_main(const struct hvm_start_info *si)
{
    evtchn_port_t port = 0;
    char line[64];
    size_t len = 0;

    (void)si;
    if (!check_rc(evtchn_init(UPCALL_AUTO), 0, "evtchn_init") ||
        !check_rc(evtchn_bind_virq(VIRQ_CONSOLE, 0, &port), 0, "bind VIRQ_CONSOLE"))
        return;
    evtchn_bind_handler(port, NULL, NULL);
    check_rc(HYPERVISOR_console_io(CONSOLEIO_read, sizeof(line), line), 0,
             "nothing to read yet");
    check_rc(HYPERVISOR_console_io(2, 0, NULL), -XEN_ENOSYS, "unknown console_io command");

    const uint64_t start = xen_time_now();

    if (!check(start != 0, "the pvclock runs"))
        return;
    printk("serial: waiting on port %u\n", port);
    while (xen_time_now() - start < 30 * NS_PER_S && (len == 0 || line[len - 1] != '\n')) {
        if (!evtchn_count(port))
            evtchn_wait(port, 1);
        long n = HYPERVISOR_console_io(CONSOLEIO_read, (unsigned int)(sizeof(line) - 1 - len),
                                       line + len);
        if (n < 0) {
            xtf_failure("CONSOLEIO_read: %ld", n);
            return;
        }
        len += (size_t)n;
        if (len == sizeof(line) - 1)
            break;
    }
    line[len] = '\0';
    if (len && line[len - 1] == '\n')
        line[len - 1] = '\0';
    printk("serial: read '%s' after %u event(s)\n", line, evtchn_count(port));
    check(evtchn_count(port) >= 1, "VIRQ_CONSOLE announced the input");
    check(!strcmp(line, "ping"), "read 'ping' from the serial line (got '%s')", line);
    xtf_success(NULL);
}
