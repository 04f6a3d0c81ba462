/*
 * FIFO event channels, per xen/common/event_fifo.c and event_channel.c
 * (Xen 4.17): EVTCHNOP_init_control, expand_array, set_priority and the
 * reset errnos; a pending 2-level event carried over by the switch;
 * delivery by priority, then in send order; mask/unmask. This guest
 * consumes its queues itself, as the public event_channel.h "FIFO ABI"
 * describes (the kit's handler is 2-level only), and waits with
 * upcall_window() (SCHEDOP_poll is not used once FIFO is on).
 */
#include <kit/test.h>
#include <kit/traps.h>

const char test_title[] = "evtchn_fifo: init_control, expand_array, priorities, mask, errnos";

#define CONTROL_OFFSET 64u
#define WORDS_PER_PAGE (PAGE_SIZE / sizeof(event_word_t))
#define BAD_GFN        (1ull << 30) /* 4 TiB: far beyond memory=32 */
#define BAD_PORT       4096u        /* beyond max_event_channels (1023) */
#define MAX_LOG        16u
#define MAX_STEPS      64u
#define EVTCHNOP_reset_cont 14      /* Xen-internal, yet reachable by guests */

#define W_PENDING (1u << EVTCHN_FIFO_PENDING)
#define W_MASKED  (1u << EVTCHN_FIFO_MASKED)
#define W_LINKED  (1u << EVTCHN_FIFO_LINKED)

static uint8_t control_page[PAGE_SIZE] __page_aligned;
static uint8_t array_page[PAGE_SIZE] __page_aligned;

static evtchn_fifo_control_block_t *const control =
    (evtchn_fifo_control_block_t *)(control_page + CONTROL_OFFSET);
static event_word_t *const words = (event_word_t *)array_page;
static evtchn_port_t local_head[EVTCHN_FIFO_MAX_QUEUES];

/* Ports this test watches (others, e.g. the console's, are only counted). */
static bool tracked[64];
static evtchn_port_t delivered[MAX_LOG];
static volatile unsigned int n_delivered;
static volatile unsigned int n_other;

extern void fifo_upcall_entry(void);
void fifo_upcall(void);

/* Same frame as the kit's upcall_entry, around our FIFO consumer. */
__asm__(".pushsection .text\n"
        ".globl fifo_upcall_entry\n"
        "fifo_upcall_entry:\n"
        "  push %rax\n push %rcx\n push %rdx\n push %rsi\n push %rdi\n"
        "  push %r8\n push %r9\n push %r10\n push %r11\n"
        "  cld\n"
        "  call fifo_upcall\n"
        "  pop %r11\n pop %r10\n pop %r9\n pop %r8\n"
        "  pop %rdi\n pop %rsi\n pop %rdx\n pop %rcx\n pop %rax\n"
        "  iretq\n"
        ".popsection\n");

static void record(evtchn_port_t port)
{
    if (port < 64 && tracked[port]) {
        if (n_delivered < MAX_LOG)
            delivered[n_delivered] = port;
        n_delivered++;
    } else {
        n_other++;
    }
}

/* Unlink the head event: clear LINKED and the link, return the old word. */
static event_word_t unlink_word(event_word_t *w)
{
    event_word_t old = READ_ONCE(*w);

    while (!__atomic_compare_exchange_n(w, &old,
                                        old & ~(W_LINKED | EVTCHN_FIFO_LINK_MASK), false,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        ;
    return old;
}

/* Called from fifo_upcall_entry with IF=0: highest-priority ready queue first. */
void fifo_upcall(void)
{
    vcpu_info_t *vi = evtchn_vcpu_info();
    uint32_t ready;

    WRITE_ONCE(vi->evtchn_upcall_pending, 0);
    ready = __atomic_exchange_n(&control->ready, 0, __ATOMIC_SEQ_CST);
    for (unsigned int steps = 0; ready && steps < MAX_STEPS; steps++) {
        unsigned int q = (unsigned int)__builtin_ctz(ready);
        evtchn_port_t port = local_head[q] ? local_head[q] : READ_ONCE(control->head[q]);
        evtchn_port_t next = 0;

        if (port && port < WORDS_PER_PAGE) {
            event_word_t old = unlink_word(&words[port]);

            next = old & EVTCHN_FIFO_LINK_MASK;
            if (next >= WORDS_PER_PAGE)
                next = 0;
            if ((old & W_PENDING) && !(old & W_MASKED)) {
                __atomic_fetch_and(&words[port], ~W_PENDING, __ATOMIC_SEQ_CST);
                record(port);
            }
        }
        local_head[q] = next;
        if (!next)
            ready &= ~(1u << q);
        ready |= __atomic_exchange_n(&control->ready, 0, __ATOMIC_SEQ_CST);
    }
    *(volatile uint32_t *)(APIC_MMIO_BASE + APIC_REG_EOI) = 0;
}

static bool wait_delivered(unsigned int n)
{
    for (unsigned int i = 0; i < 20 && n_delivered < n; i++)
        upcall_window();
    return n_delivered >= n;
}

static long init_control(uint64_t gfn, uint32_t offset, uint32_t vcpu, uint8_t *link_bits)
{
    struct evtchn_init_control op = { .control_gfn = gfn, .offset = offset, .vcpu = vcpu };
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_init_control, &op);

    if (rc == 0 && link_bits)
        *link_bits = op.link_bits;
    return rc;
}

static long expand_array(uint64_t gfn)
{
    struct evtchn_expand_array op = { .array_gfn = gfn };

    return HYPERVISOR_event_channel_op(EVTCHNOP_expand_array, &op);
}

static long set_priority(evtchn_port_t port, uint32_t priority)
{
    struct evtchn_set_priority op = { .port = port, .priority = priority };

    return HYPERVISOR_event_channel_op(EVTCHNOP_set_priority, &op);
}

static long reset(unsigned int cmd, domid_t dom)
{
    struct evtchn_reset op = { .dom = dom };

    return HYPERVISOR_event_channel_op(cmd, &op);
}

static evtchn_port_t bind_tracked_ipi(void)
{
    evtchn_port_t port = 0;

    if (!check_rc(evtchn_bind_ipi(0, &port), 0, "bind_ipi(0)") || port >= 64)
        return 0;
    tracked[port] = true;
    return port;
}

static void forget_delivered(void)
{
    n_delivered = 0;
    for (unsigned int i = 0; i < MAX_LOG; i++)
        delivered[i] = 0;
}

static void check_order(const char *what, const evtchn_port_t *want, unsigned int n)
{
    if (!check(wait_delivered(n), "%s: %u of %u events delivered", what, n_delivered, n))
        return;
    check(n_delivered == n, "%s: %u events delivered, want %u", what, n_delivered, n);
    for (unsigned int i = 0; i < n; i++)
        check(delivered[i] == want[i], "%s: event %u is port %u, want %u", what, i,
              delivered[i], want[i]);
}

/* 2-level still: no FIFO ops yet. */
static void test_before_init_control(evtchn_port_t port)
{
    /* evtchn_fifo_expand_array: no FIFO state -> -EOPNOTSUPP. */
    check_rc(expand_array((uintptr_t)array_page >> PAGE_SHIFT), -XEN_EOPNOTSUPP,
             "expand_array before init_control");
    /* evtchn_port_set_priority: the 2-level ops have none -> -ENOSYS. */
    check_rc(set_priority(port, 3), -XEN_ENOSYS, "set_priority on 2-level");
    check_rc(set_priority(BAD_PORT, 3), -XEN_EINVAL, "set_priority(%u) on 2-level", BAD_PORT);
}

static bool test_init_control(void)
{
    uint64_t gfn = (uintptr_t)control_page >> PAGE_SHIFT;
    uint32_t last_ok = PAGE_SIZE - sizeof(evtchn_fifo_control_block_t);
    uint8_t bits = 0;

    /* evtchn_fifo_init_control: vCPU, then range, then alignment, then the frame. */
    check_rc(init_control(gfn, 4, 1, NULL), -XEN_ENOENT, "init_control on vCPU 1 of 1");
    check_rc(init_control(gfn, last_ok + 8, 0, NULL), -XEN_EINVAL,
             "control block crossing the page end");
    check_rc(init_control(gfn, 4, 0, NULL), -XEN_EINVAL, "misaligned control block");
    check_rc(init_control(BAD_GFN, 0, 0, NULL), -XEN_EINVAL, "control block at gfn %#llx",
             (unsigned long long)BAD_GFN);
    check_rc(HYPERVISOR_event_channel_op(EVTCHNOP_init_control, BAD_PTR_UNMAPPED), -XEN_EFAULT,
             "init_control from a bad pointer");

    /* Our upcall handler goes in before FIFO can raise anything. */
    traps_set_gate(UPCALL_VECTOR, fifo_upcall_entry);
    if (!check_rc(init_control(gfn, CONTROL_OFFSET, 0, &bits), 0, "init_control(vCPU 0)"))
        return false;
    check(bits == EVTCHN_FIFO_LINK_BITS, "link_bits %u, want %u", bits, EVTCHN_FIFO_LINK_BITS);
    check_rc(init_control(gfn, CONTROL_OFFSET, 0, NULL), -XEN_EINVAL, "init_control again");

    /* add_page_to_event_array: a frame that is not RAM -> -EINVAL. */
    check_rc(expand_array(BAD_GFN), -XEN_EINVAL, "expand_array at gfn %#llx",
             (unsigned long long)BAD_GFN);
    check_rc(HYPERVISOR_event_channel_op(EVTCHNOP_expand_array, BAD_PTR_UNMAPPED), -XEN_EFAULT,
             "expand_array from a bad pointer");
    return check_rc(expand_array((uintptr_t)array_page >> PAGE_SHIFT), 0, "expand_array");
}

static void test_priorities(void)
{
    evtchn_port_t low = bind_tracked_ipi(), high = bind_tracked_ipi(), mid = bind_tracked_ipi();

    if (!low || !high || !mid)
        return;
    check_rc(set_priority(low, 10), 0, "set_priority(%u, 10)", low);
    check_rc(set_priority(high, EVTCHN_FIFO_PRIORITY_MAX), 0, "set_priority(%u, 0)", high);
    /* mid keeps EVTCHN_FIFO_PRIORITY_DEFAULT (7). */
    forget_delivered();
    evtchn_send(low);
    evtchn_send(mid);
    evtchn_send(high);
    check(READ_ONCE(control->ready) == ((1u << 0) | (1u << 7) | (1u << 10)),
          "ready %#x, want queues 0, 7 and 10", READ_ONCE(control->ready));
    {
        const evtchn_port_t want[] = { high, mid, low };

        check_order("by priority", want, 3);
    }

    /* Same priority: in send order. */
    evtchn_port_t d = bind_tracked_ipi(), e = bind_tracked_ipi(), f = bind_tracked_ipi();

    if (!d || !e || !f)
        return;
    forget_delivered();
    evtchn_send(e);
    evtchn_send(f);
    evtchn_send(d);
    {
        const evtchn_port_t want[] = { e, f, d };

        check_order("same priority", want, 3);
    }
    /* The queue emptied: the next event starts it again at its head. */
    forget_delivered();
    evtchn_send(d);
    {
        const evtchn_port_t want[] = { d };

        check_order("after the queue emptied", want, 1);
    }
}

static void test_mask(void)
{
    evtchn_port_t port = bind_tracked_ipi();

    if (!port)
        return;
    forget_delivered();
    __atomic_fetch_or(&words[port], W_MASKED, __ATOMIC_SEQ_CST);
    evtchn_send(port);
    check((READ_ONCE(words[port]) & (W_PENDING | W_LINKED)) == W_PENDING,
          "masked event word %#x: pending, not linked", READ_ONCE(words[port]));
    upcall_window();
    upcall_window();
    check(n_delivered == 0, "masked event delivered");
    /* evtchn_fifo_unmask: clears MASKED and links the pending event. */
    check_rc(evtchn_unmask(port), 0, "unmask(%u)", port);
    {
        const evtchn_port_t want[] = { port };

        check_order("after unmask", want, 1);
    }
    check((READ_ONCE(words[port]) & (W_MASKED | W_PENDING | W_LINKED)) == 0,
          "word %#x after delivery", READ_ONCE(words[port]));
}

static void test_priority_errnos(void)
{
    evtchn_port_t port = bind_tracked_ipi();

    if (!port)
        return;
    /* evtchn_set_priority / evtchn_port_set_priority / evtchn_fifo_set_priority. */
    check_rc(set_priority(BAD_PORT, 3), -XEN_EINVAL, "set_priority(%u)", BAD_PORT);
    check_rc(set_priority(port, EVTCHN_FIFO_PRIORITY_MIN + 1), -XEN_EINVAL,
             "priority %u", EVTCHN_FIFO_PRIORITY_MIN + 1);
    check_rc(set_priority(port, EVTCHN_FIFO_PRIORITY_MIN), 0, "priority %u",
             EVTCHN_FIFO_PRIORITY_MIN);
    check_rc(set_priority(0, 3), -XEN_EACCES, "set_priority on reserved port 0");
    check_rc(evtchn_close(port), 0, "close(%u)", port);
    check_rc(set_priority(port, 3), -XEN_EACCES, "set_priority on closed port %u", port);
}

static void test_reset_errnos(void)
{
    /* rcu_lock_domain_by_any_id, then XSM: only the domain itself. */
    check_rc(reset(EVTCHNOP_reset, DOMID_UNUSED), -XEN_ESRCH, "reset(unused domain)");
    check_rc(reset(EVTCHNOP_reset, 0), -XEN_EPERM, "reset(dom0)");
    check_rc(HYPERVISOR_event_channel_op(EVTCHNOP_reset, BAD_PTR_UNMAPPED), -XEN_EFAULT,
             "reset from a bad pointer");
    /* evtchn_reset(d, resuming) with no reset under way. */
    check_rc(reset(EVTCHNOP_reset_cont, DOMID_SELF), -XEN_EBUSY, "reset_cont");
    /* A real reset would close the console's channel too; the unit tests cover it. */
}

void test_main(const struct hvm_start_info *si)
{
    evtchn_port_t pre;

    (void)si;
    if (!check_rc(evtchn_init(UPCALL_AUTO), 0, "evtchn_init"))
        return;
    pre = bind_tracked_ipi();
    if (!pre)
        return;
    test_before_init_control(pre);

    /* Left pending (masked) under 2-level: Xen carries it over to FIFO. */
    evtchn_mask(pre);
    evtchn_send(pre);
    check(evtchn_is_pending(pre), "port %u pending in the 2-level bitmap", pre);

    if (!test_init_control())
        return;
    {
        const evtchn_port_t want[] = { pre };

        check_order("carried over from 2-level", want, 1);
    }
    test_priorities();
    test_mask();
    test_priority_errnos();
    test_reset_errnos();
    printk("evtchn_fifo: %u events on other ports\n", n_other);
    if (!xtf_failures())
        xtf_success(NULL);
}
