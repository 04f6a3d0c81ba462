/*
 * Console output. Every message goes to the hypervisor log
 * (HYPERVISOR_console_io CONSOLEIO_write, seen with `xl dmesg`) and to the
 * PV console ring (io/console.h, `xl console`). printk() ends a message's
 * final "\n" as "\r\n", as a tty would; Xen's console_io drops the '\r'
 * with the other non-printable characters. Keep messages to one line.
 */
#ifndef KIT_CONSOLE_H
#define KIT_CONSOLE_H

#include <kit/xen.h>

/* Look up HVM_PARAM_CONSOLE_PFN/EVTCHN; without them only console_io is used. */
void console_init(void);

void console_write(const char *s, size_t len);
void printk(const char *fmt, ...) __printf(1, 2);
void vprintk(const char *fmt, va_list ap);

/* Wait (bounded) until the backend has consumed everything in the ring. */
void console_flush(void);

/* Before the hypercall page exists: Xen's HVM debug port 0xe9. */
void early_puts(const char *s);

/* For the tests: the ring in use (NULL if none) and its event channel. */
struct xencons_interface *console_ring(void);
evtchn_port_t console_evtchn(void);

/* Maximum formatted length of one printk() message. */
#define PRINTK_MAX 512

#endif /* KIT_CONSOLE_H */
