/*
 * Benchmark guest: the round trip of a null hypercall (xen_version
 * XENVER_version) against a raw port-I/O exit (outb to port 0x80, which
 * xenolithd drops), measured in TSC cycles in the same run. Prints the
 * medians of several batches and the ratio; bench/hypercall.sh reads them.
 */
#include <kit/arch.h>
#include <kit/console.h>
#include <kit/lib.h>
#include <kit/hypercall.h>
#include <kit/report.h>
#include <kit/start.h>

const char test_title[] = "bench_hypercall: null hypercall vs port I/O exit";

#define BATCHES 7
#define PER_BATCH 200

static uint64_t batch_hypercall(void)
{
    uint64_t t0 = rdtsc();
    for (int i = 0; i < PER_BATCH; i++)
        HYPERVISOR_xen_version(XENVER_version, NULL);
    return (rdtsc() - t0) / PER_BATCH;
}

static uint64_t batch_port_io(void)
{
    uint64_t t0 = rdtsc();
    for (int i = 0; i < PER_BATCH; i++)
        __asm__ __volatile__("outb %%al, $0x80" ::"a"(0) : "memory");
    return (rdtsc() - t0) / PER_BATCH;
}

void test_main(const struct hvm_start_info *si)
{
    uint64_t hc[BATCHES], io[BATCHES];

    (void)si;
    for (int b = 0; b < BATCHES; b++) {  /* interleaved: same conditions for both */
        io[b] = batch_port_io();
        hc[b] = batch_hypercall();
    }
    sort_u64(hc, BATCHES);
    sort_u64(io, BATCHES);
    printk("bench: port_io_cycles=%lu hypercall_cycles=%lu ratio_x1000=%lu\n",
           (unsigned long)io[BATCHES / 2], (unsigned long)hc[BATCHES / 2],
           (unsigned long)(hc[BATCHES / 2] * 1000 / (io[BATCHES / 2] ? io[BATCHES / 2] : 1)));
    xtf_success(NULL);
}
