/*
 * PV console flow control (public/io/console.h): write three times the
 * 2 KiB output ring through it. The harness checks the console log holds
 * every line, in order:
 *   "console: line NNN of 096 <40 chars of the alphabet from offset NNN % 26>"
 * followed by "console: wrote 096 lines".
 */
#include <kit/test.h>

const char test_title[] = "console: more than the ring size through the PV console";

#define LINES      96u
#define FILL_CHARS 40u

static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz";

void test_main(const struct hvm_start_info *si)
{
    struct xencons_interface *ring = console_ring();
    char fill[FILL_CHARS + 1];

    (void)si;
    if (!ring) {
        xtf_error("no PV console ring (HVM_PARAM_CONSOLE_PFN/EVTCHN)");
        return;
    }

    XENCONS_RING_IDX start = ring->out_prod;
    size_t bytes = 0;

    for (unsigned int n = 1; n <= LINES; n++) {
        for (unsigned int i = 0; i < FILL_CHARS; i++)
            fill[i] = alphabet[(n + i) % 26];
        fill[FILL_CHARS] = '\0';
        /* 25 + 40 characters, then "\r\n" on the ring. */
        printk("console: line %03u of %03u %s\n", n, LINES, fill);
        bytes += 25 + FILL_CHARS + 2;
    }
    printk("console: wrote %03u lines\n", LINES);

    if (!check(console_ring() != NULL, "the ring was not abandoned (backend kept up)"))
        return;
    XENCONS_RING_IDX written = ring->out_prod - start;
    check(written >= bytes && bytes > 3 * sizeof(ring->out),
          "%u bytes went through the %zu-byte ring", written, sizeof(ring->out));

    console_flush();
    check(READ_ONCE(ring->out_cons) == ring->out_prod,
          "backend consumed everything (cons %u prod %u)", READ_ONCE(ring->out_cons),
          ring->out_prod);
    if (!xtf_failures())
        xtf_success(NULL);
}
