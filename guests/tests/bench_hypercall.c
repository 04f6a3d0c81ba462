/*
 * Benchmark guest: the round trip of a null hypercall (xen_version
 * XENVER_version) against a raw port-I/O exit (outl to port 0x80, which
 * xenolithd drops), measured in TSC cycles in the same run, both through
 * the hypercall page and inline. Prints the medians of several batches;
 * bench/hypercall.sh reads them.
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

/*
 * The same exit as the hypercall-page stub, issued inline: exactly as many
 * guest instructions as the raw port-I/O loop, so the difference between
 * the two is xenolithd's own cost (on PVM hosts every extra emulated
 * ring-0 instruction of the stub costs ~1 us and would swamp it).
 */
static uint64_t batch_hypercall_inline(void)
{
    uint64_t t0 = rdtsc();
    for (int i = 0; i < PER_BATCH; i++) {
        unsigned long rax = __HYPERVISOR_xen_version;
        __asm__ __volatile__("outl %%eax, $0x5a"
                             : "+a"(rax)
                             : "D"((unsigned long)XENVER_version), "S"(0ul)
                             : "memory");
    }
    return (rdtsc() - t0) / PER_BATCH;
}

static uint64_t batch_port_io(void)
{
    uint64_t t0 = rdtsc();
    for (int i = 0; i < PER_BATCH; i++)
        __asm__ __volatile__("outl %%eax, $0x80" ::"a"(0) : "memory");
    return (rdtsc() - t0) / PER_BATCH;
}

void test_main(const struct hvm_start_info *si)
{
    uint64_t hc[BATCHES], io[BATCHES], in[BATCHES];

    (void)si;
    for (int b = 0; b < BATCHES; b++) {  /* interleaved: same conditions for both */
        io[b] = batch_port_io();
        hc[b] = batch_hypercall();
        in[b] = batch_hypercall_inline();
    }
    sort_u64(hc, BATCHES);
    sort_u64(io, BATCHES);
    sort_u64(in, BATCHES);
    printk("bench: port_io_cycles=%lu hypercall_cycles=%lu inline_hypercall_cycles=%lu\n",
           (unsigned long)io[BATCHES / 2], (unsigned long)hc[BATCHES / 2],
           (unsigned long)in[BATCHES / 2]);
    xtf_success(NULL);
}
