/*
 * An idle domain for density and idle-CPU benchmarks: boots, says so, then
 * blocks forever (SCHEDOP_block) without ever finishing.
 */
#include <kit/console.h>
#include <kit/hypercall.h>
#include <kit/start.h>

const char test_title[] = "idle: blocks until destroyed";

void test_main(const struct hvm_start_info *si)
{
    (void)si;
    printk("idle: up\n");
    for (;;)
        HYPERVISOR_sched_op(SCHEDOP_block, NULL);
}
