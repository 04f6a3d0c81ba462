/*
 * Benchmark guest: event-channel send-to-upcall latency in TSC cycles,
 * 2-level then FIFO in the same run (vcpus=2 for the cross-vCPU figures).
 *
 *  same vCPU:  t0 = rdtsc; sti; EVTCHNOP_send(IPI on vCPU 0); cli. The
 *              upcall is injected at the VM entry that ends the send, so
 *              the handler's first rdtsc - t0 is send + delivery.
 *              "dispatch" is when the handler's scan reached the port.
 *  send only:  the same on a masked port (no upcall): the hypercall alone.
 *  cross vCPU: vCPU 1 idles in `sti; hlt`; vCPU 0 sends on an IPI bound
 *              to vCPU 1; vCPU 1's handler rdtsc - t0 (one TSC per VM).
 *
 * Prints one "bench: abi=..." line per ABI with medians; bench/evtchn-latency.sh
 * reads them.
 */
#include <kit/test.h>
#include <kit/traps.h>

#include <xen/hvm/hvm_vcpu.h>

const char test_title[] = "bench_evtchn: send-to-upcall latency, 2-level vs FIFO";

#define SAMPLES      31
#define VECTOR_VCPU1 0xf4
#define WORDS_PER_PAGE (PAGE_SIZE / sizeof(event_word_t))
#define W_PENDING (1u << EVTCHN_FIFO_PENDING)
#define W_MASKED  (1u << EVTCHN_FIFO_MASKED)
#define W_LINKED  (1u << EVTCHN_FIFO_LINKED)

static uint8_t control_page[PAGE_SIZE] __page_aligned; /* vCPU 0 at 0, vCPU 1 at 2048 */
static uint8_t array_page[PAGE_SIZE] __page_aligned;
static uint8_t ap_stack[4 * PAGE_SIZE] __page_aligned;

static event_word_t *const words = (event_word_t *)array_page;
static bool fifo;
static evtchn_port_t local_head[2][EVTCHN_FIFO_MAX_QUEUES];

/* Per vCPU: what the last upcall saw. */
static volatile uint64_t entry_tsc[2], dispatch_tsc[2];
static volatile unsigned int upcalls[2];
static evtchn_port_t watched[2];

/* vCPU 1 runs on vCPU 0's GDT and IDT (sgdt/sidt, 10 bytes each). */
struct __attribute__((packed)) table_desc {
    uint16_t limit;
    uint64_t base;
};
struct table_desc bsp_gdt, bsp_idt;
static volatile bool ap_ready;

extern void upcall0_entry(void), upcall1_entry(void), ap_entry(void);
void bench_upcall(unsigned int vcpu);
void ap_main(void);

#define UPCALL_STUB(name, vcpu)                                             \
    ".globl " name "\n" name ":\n"                                          \
    "  push %rax\n push %rcx\n push %rdx\n push %rsi\n push %rdi\n"         \
    "  push %r8\n push %r9\n push %r10\n push %r11\n"                       \
    "  cld\n mov $" vcpu ", %edi\n call bench_upcall\n"                     \
    "  pop %r11\n pop %r10\n pop %r9\n pop %r8\n"                           \
    "  pop %rdi\n pop %rsi\n pop %rdx\n pop %rcx\n pop %rax\n iretq\n"

__asm__(".pushsection .text\n"
        UPCALL_STUB("upcall0_entry", "0")
        UPCALL_STUB("upcall1_entry", "1")
        /* VCPUOP_initialise left us in long mode with our rsp; load the
         * kit's tables and reload CS (0x08) and the data selectors (0x10). */
        ".globl ap_entry\nap_entry:\n"
        "  lgdt bsp_gdt(%rip)\n lidt bsp_idt(%rip)\n"
        "  mov $0x10, %eax\n mov %eax, %ds\n mov %eax, %es\n mov %eax, %ss\n"
        "  mov %eax, %fs\n mov %eax, %gs\n"
        "  pushq $0x08\n lea 1f(%rip), %rax\n pushq %rax\n lretq\n"
        "1: call ap_main\n"
        "2: cli\n hlt\n jmp 2b\n"
        ".popsection\n");

static void scan_2l(unsigned int vcpu)
{
    vcpu_info_t *vi = &shared_info->vcpu_info[vcpu];
    xen_ulong_t sel;

    WRITE_ONCE(vi->evtchn_upcall_pending, 0);
    sel = __atomic_exchange_n(&vi->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
    while (sel) {
        unsigned int w = (unsigned int)__builtin_ctzl(sel);
        xen_ulong_t bits = READ_ONCE(shared_info->evtchn_pending[w]) &
                           ~READ_ONCE(shared_info->evtchn_mask[w]);

        sel &= sel - 1;
        while (bits) {
            unsigned int b = (unsigned int)__builtin_ctzl(bits);
            evtchn_port_t port = w * 64 + b;

            bits &= bits - 1;
            __atomic_fetch_and(&shared_info->evtchn_pending[w], ~((xen_ulong_t)1 << b),
                               __ATOMIC_SEQ_CST);
            if (port == watched[vcpu])
                dispatch_tsc[vcpu] = rdtsc();
        }
    }
}

static void scan_fifo(unsigned int vcpu)
{
    evtchn_fifo_control_block_t *cb =
        (evtchn_fifo_control_block_t *)(control_page + 2048 * vcpu);
    uint32_t ready;

    WRITE_ONCE(shared_info->vcpu_info[vcpu].evtchn_upcall_pending, 0);
    ready = __atomic_exchange_n(&cb->ready, 0, __ATOMIC_SEQ_CST);
    for (unsigned int steps = 0; ready && steps < 64; steps++) {
        unsigned int q = (unsigned int)__builtin_ctz(ready);
        evtchn_port_t port = local_head[vcpu][q] ? local_head[vcpu][q] : READ_ONCE(cb->head[q]);
        evtchn_port_t next = 0;

        if (port && port < WORDS_PER_PAGE) {
            event_word_t old = READ_ONCE(words[port]);

            while (!__atomic_compare_exchange_n(&words[port], &old,
                                                old & ~(W_LINKED | EVTCHN_FIFO_LINK_MASK),
                                                false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
                ;
            next = old & EVTCHN_FIFO_LINK_MASK;
            if (next >= WORDS_PER_PAGE)
                next = 0;
            if ((old & W_PENDING) && !(old & W_MASKED)) {
                __atomic_fetch_and(&words[port], ~W_PENDING, __ATOMIC_SEQ_CST);
                if (port == watched[vcpu])
                    dispatch_tsc[vcpu] = rdtsc();
            }
        }
        local_head[vcpu][q] = next;
        if (!next)
            ready &= ~(1u << q);
        ready |= __atomic_exchange_n(&cb->ready, 0, __ATOMIC_SEQ_CST);
    }
}

void bench_upcall(unsigned int vcpu)
{
    entry_tsc[vcpu] = rdtsc();
    if (fifo)
        scan_fifo(vcpu);
    else
        scan_2l(vcpu);
    upcalls[vcpu]++;
    *(volatile uint32_t *)(APIC_MMIO_BASE + APIC_REG_EOI) = 0;
}

void ap_main(void)
{
    *(volatile uint32_t *)(APIC_MMIO_BASE + APIC_REG_SVR) = APIC_SVR_ENABLE | SPURIOUS_VECTOR;
    WRITE_ONCE(ap_ready, true);
    for (;;)
        __asm__ __volatile__("sti; hlt; cli" ::: "memory");
}

static bool start_vcpu1(void)
{
    struct vcpu_hvm_context ctx;
    struct xen_hvm_evtchn_upcall_vector vec = { .vcpu = 1, .vector = VECTOR_VCPU1 };
    unsigned long cr3;
    long rc;

    __asm__ __volatile__("sgdt %0; sidt %1; mov %%cr3, %2"
                         : "=m"(bsp_gdt), "=m"(bsp_idt), "=r"(cr3));
    memset(&ctx, 0, sizeof(ctx));
    ctx.mode = VCPU_HVM_MODE_64B;
    ctx.cpu_regs.x86_64.rip = (uintptr_t)ap_entry;
    ctx.cpu_regs.x86_64.rsp = (uintptr_t)(ap_stack + sizeof(ap_stack));
    ctx.cpu_regs.x86_64.rflags = 2;
    ctx.cpu_regs.x86_64.cr0 = read_cr0();
    ctx.cpu_regs.x86_64.cr3 = cr3;
    ctx.cpu_regs.x86_64.cr4 = read_cr4();
    ctx.cpu_regs.x86_64.efer = rdmsr(MSR_EFER);

    traps_set_gate(VECTOR_VCPU1, upcall1_entry);
    if ((rc = HYPERVISOR_hvm_op(HVMOP_set_evtchn_upcall_vector, &vec)) ||
        (rc = HYPERVISOR_vcpu_op(VCPUOP_initialise, 1, &ctx)) ||
        (rc = HYPERVISOR_vcpu_op(VCPUOP_up, 1, NULL))) {
        printk("bench: cannot start vCPU 1: %ld\n", rc);
        return false;
    }
    for (unsigned int i = 0; i < 10000 && !READ_ONCE(ap_ready); i++)
        sched_yield();
    if (!READ_ONCE(ap_ready))
        printk("bench: vCPU 1 did not come up\n");
    return READ_ONCE(ap_ready);
}

static void sort(uint64_t *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            uint64_t t = v[j];

            v[j] = v[j - 1];
            v[j - 1] = t;
        }
}

static uint64_t median(uint64_t *v)
{
    sort(v, SAMPLES);
    return v[SAMPLES / 2];
}

static void mask(evtchn_port_t port)
{
    if (fifo)
        __atomic_fetch_or(&words[port], W_MASKED, __ATOMIC_SEQ_CST);
    else
        evtchn_mask(port);
}

static void clear_pending(evtchn_port_t port)
{
    if (fifo)
        __atomic_fetch_and(&words[port], ~W_PENDING, __ATOMIC_SEQ_CST);
    else
        evtchn_clear_pending(port);
}

struct figures {
    uint64_t same_upcall, same_dispatch, send_only, cross_upcall;
    unsigned int late; /* same-vCPU upcalls that needed an extra window */
};

static void measure(evtchn_port_t same, evtchn_port_t masked, evtchn_port_t cross,
                    struct figures *f)
{
    uint64_t up[SAMPLES], disp[SAMPLES], only[SAMPLES], xc[SAMPLES];

    watched[0] = same;
    watched[1] = cross;
    mask(masked);
    f->late = 0;
    for (int i = 0; i < SAMPLES; i++) {
        unsigned int before = upcalls[0];
        uint64_t t0 = rdtsc();

        irq_enable();
        evtchn_send(same);
        irq_disable();
        if (upcalls[0] == before) {
            f->late++;
            upcall_window();
        }
        up[i] = entry_tsc[0] - t0;
        disp[i] = dispatch_tsc[0] - t0;

        clear_pending(masked);
        t0 = rdtsc();
        irq_enable();
        evtchn_send(masked);
        irq_disable();
        only[i] = rdtsc() - t0;

        xc[i] = 0;
        if (cross) {
            before = upcalls[1];
            t0 = rdtsc();
            evtchn_send(cross);
            for (unsigned int n = 0; n < 100000 && READ_ONCE(upcalls[1]) == before; n++)
                sched_yield();
            xc[i] = entry_tsc[1] - t0;
        }
    }
    f->same_upcall = median(up);
    f->same_dispatch = median(disp);
    f->send_only = median(only);
    f->cross_upcall = median(xc);
}

static void report(const char *abi, const struct figures *f)
{
    printk("bench: abi=%s same_upcall_cycles=%lu same_dispatch_cycles=%lu "
           "send_only_cycles=%lu cross_upcall_cycles=%lu late=%u\n",
           abi, (unsigned long)f->same_upcall, (unsigned long)f->same_dispatch,
           (unsigned long)f->send_only, (unsigned long)f->cross_upcall, f->late);
}

static bool switch_to_fifo(bool two_vcpus)
{
    uint64_t gfn = (uintptr_t)control_page >> PAGE_SHIFT;
    struct evtchn_init_control init = { .control_gfn = gfn, .offset = 0, .vcpu = 0 };
    struct evtchn_expand_array expand = { .array_gfn = (uintptr_t)array_page >> PAGE_SHIFT };

    if (HYPERVISOR_event_channel_op(EVTCHNOP_init_control, &init))
        return false;
    init.offset = 2048;
    init.vcpu = 1;
    if (two_vcpus && HYPERVISOR_event_channel_op(EVTCHNOP_init_control, &init))
        return false;
    fifo = true;
    return HYPERVISOR_event_channel_op(EVTCHNOP_expand_array, &expand) == 0;
}

void test_main(const struct hvm_start_info *si)
{
    evtchn_port_t same = 0, masked = 0, cross = 0;
    struct figures f;
    bool two_vcpus;
    long rc;

    (void)si;
    if (evtchn_init(UPCALL_PER_VCPU)) {
        xtf_skip("no per-vCPU upcall vector");
        return;
    }
    traps_set_gate(UPCALL_VECTOR, upcall0_entry);
    if (evtchn_bind_ipi(0, &same) || evtchn_bind_ipi(0, &masked)) {
        xtf_error("bind_ipi");
        return;
    }
    rc = HYPERVISOR_vcpu_op(VCPUOP_is_up, 1, NULL);
    two_vcpus = rc == 0 && start_vcpu1() && evtchn_bind_ipi(1, &cross) == 0;
    if (!two_vcpus)
        cross = 0;
    printk("bench: vcpu1 %s\n", two_vcpus ? "up" : "absent (no cross-vCPU figures)");

    measure(same, masked, cross, &f);
    report("2l", &f);
    if (!switch_to_fifo(two_vcpus)) {
        xtf_error("cannot switch to FIFO");
        return;
    }
    measure(same, masked, cross, &f);
    report("fifo", &f);
    xtf_success(NULL);
}
