/*
 * Lifecycle guest: does what its command line says, for
 * tests/integration/lifecycle.sh:
 *   reason=N      SCHEDOP_shutdown with reason N (after shutdown_code N)
 *   halt          cli; hlt: a vCPU that can never wake
 *   triplefault   an empty IDT, then a fault: the CPU resets (a crash)
 *   watchdog      arms a 1 s watchdog and idles: shut down by the watchdog
 */
#include <kit/arch.h>
#include <kit/console.h>
#include <kit/hypercall.h>
#include <kit/lib.h>
#include <kit/start.h>

const char test_title[] = "lifecycle: shutdown reasons, dead halt, triple fault";

void test_main(const struct hvm_start_info *si)
{
    const char *cmd = si->cmdline_paddr ? (const char *)(uintptr_t)si->cmdline_paddr : "";
    const char *r = strstr(cmd, "reason=");

    printk("lifecycle: %s\n", cmd);
    if (r) {
        unsigned int reason = 0;
        for (r += 7; *r >= '0' && *r <= '9'; r++)
            reason = reason * 10 + (unsigned int)(*r - '0');
        struct sched_shutdown s = { .reason = reason };
        HYPERVISOR_sched_op(SCHEDOP_shutdown_code, &s);
        HYPERVISOR_sched_op(SCHEDOP_shutdown, &s);
        printk("lifecycle: still running after shutdown\n");
        return;
    }
    if (strstr(cmd, "watchdog")) {
        struct sched_watchdog wd = { .id = 0, .timeout = 1 };
        long id = HYPERVISOR_sched_op(SCHEDOP_watchdog, &wd);
        printk("lifecycle: watchdog %ld armed\n", id);
        for (;;)
            HYPERVISOR_sched_op(SCHEDOP_block, NULL);
    }
    if (strstr(cmd, "halt")) {
        __asm__ __volatile__("cli; 1: hlt; jmp 1b" ::: "memory");
    }
    if (strstr(cmd, "triplefault")) {
        static const struct { uint16_t limit; uint64_t base; } __attribute__((packed)) empty = { 0, 0 };
        __asm__ __volatile__("lidt %0; ud2" ::"m"(empty) : "memory");
    }
    printk("lifecycle: nothing to do\n");
}
