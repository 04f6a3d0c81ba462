/*
 * PV console flow control (public/io/console.h): write three times the
 * 2 KiB output ring through it. The harness checks the console log holds
 * every line, in order:
 *   "console: line NNN of 096 <40 chars of the alphabet from offset NNN % 26>"
 * (NNN from 001, lines end in "\r\n") followed by "console: wrote 096 lines".
 */
#include <kit/test.h>

const char test_title[] = "console: more than the ring size through the PV console";

#define LINES      96u
#define LINES_STR  "096"
#define FILL_CHARS 40u
#define LINE_LEN   (25 + FILL_CHARS + 2) /* ends in "\r\n" */

/* Three times, so that any 40-character window is one pointer. */
static const char alphabet3[] =
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz";

void test_main(const struct hvm_start_info *si)
{
    struct xencons_interface *ring = console_ring();

    (void)si;
    if (!ring) {
        xtf_error("no PV console ring (HVM_PARAM_CONSOLE_PFN/EVTCHN)");
        return;
    }

    XENCONS_RING_IDX start = ring->out_prod;
    size_t bytes = 0;

    /*
     * Lines are assembled by hand rather than with printk(): formatting costs
     * milliseconds per line under an instruction emulator, and this test is
     * about the ring, not printf.
     */
    for (unsigned int n = 1; n <= LINES; n++) {
        char line[LINE_LEN];

        memcpy(line, "console: line ", 14);
        line[14] = (char)('0' + n / 100);
        line[15] = (char)('0' + n / 10 % 10);
        line[16] = (char)('0' + n % 10);
        memcpy(line + 17, " of ", 4);
        memcpy(line + 21, LINES_STR " ", 4);
        memcpy(line + 25, alphabet3 + n % 26, FILL_CHARS);
        memcpy(line + 25 + FILL_CHARS, "\r\n", 2);
        console_write(line, sizeof(line));
        bytes += sizeof(line);
    }
    printk("console: wrote %s lines\n", LINES_STR);

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
