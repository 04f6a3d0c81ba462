/*
 * xenstore over the guest's own ring: io/xs_wire.h framing on the page at
 * HVM_PARAM_STORE_PFN, notifications on HVM_PARAM_STORE_EVTCHN
 * (docs/misc/xenstore-ring.txt), the nodes libxl writes for a domU
 * (docs/misc/xenstore-paths.pandoc, libxl__domain_make/build_post) and
 * xenstored's semantics (docs/misc/xenstore.txt): read own name, write and
 * read back, a watch firing, a transaction conflict (EAGAIN), EACCES on
 * dom0's nodes and on privileged requests, then a lying ring index and an
 * oversized header (the server sets the error field and stops) each undone
 * by a ring reconnection.
 *
 * Config: extra="name=<the domain's name>". With "host-test" in the command
 * line the guest then plays with the harness (tests/integration/xenstore.sh):
 * it writes data/ready, waits for dom0 to write data/host, then waits for
 * control/shutdown and acknowledges it as a PV driver would.
 *
 * Requests go through the kit's client (kit/xenstore.h); the ring checks
 * (features, reconnection, hostile indexes) touch the page directly.
 */
#include <kit/test.h>
#include <kit/xenstore.h>
#include <xen/io/xs_wire.h>

const char test_title[] = "xenstore: ring protocol, libxl nodes, watches, transactions, perms";

#define POLL_SLICE_NS 20000000ull    /* one SCHEDOP_poll */
#define MAX_POLLS     500u           /* 10 s of slices */
#define HOST_WAIT_NS  30000000000ull /* waiting for the harness: 30 s */

/* The ring itself, for the checks the kit's client never does. */
static struct xenstore_domain_interface *ring;
static evtchn_port_t store_port;
static char cmdline[256];

/* The last reply, and the last watch event drained. */
static const char *reply = "";
static uint32_t reply_len;
static char last_event_path[128];
static char last_event_token[32];

/* Requests through the kit's client (kit/xenstore.h), in transaction tx. */
static long tx_talk(uint32_t type, uint32_t tx, const void *payload, uint32_t len)
{
    long rc = xs_request(type, tx, payload, len);

    reply = xs_reply(&reply_len);
    return rc;
}

static long tx_args(uint32_t type, uint32_t tx, const char *a, const char *b)
{
    long rc = xs_request_strings(type, tx, a, b);

    reply = xs_reply(&reply_len);
    return rc;
}

static long tx_read(uint32_t tx, const char *path)
{
    return tx_args(XS_READ, tx, path, NULL);
}

static long tx_write(uint32_t tx, const char *path, const char *value)
{
    long rc = xs_write_in(tx, path, value);

    reply = xs_reply(&reply_len);
    return rc;
}

/* Counts the watch events that arrived (queued by the kit), keeping the last. */
static unsigned int drain_events(void)
{
    unsigned int n = 0;

    while (xs_wait_watch(last_event_path, sizeof(last_event_path), last_event_token,
                         sizeof(last_event_token), 1) == 1)
        n++;
    return n;
}

static bool reply_is(const char *want)
{
    return reply_len == strlen(want) && !memcmp(reply, want, reply_len);
}

/* Whether a DIRECTORY reply lists `name`. */
static bool reply_lists(const char *name)
{
    for (uint32_t off = 0; off < reply_len; off += strnlen(reply + off, reply_len - off) + 1)
        if (!strcmp(reply + off, name))
            return true;
    return false;
}

static const char *cmdline_value(const char *key)
{
    const char *p = strstr(cmdline, key);

    return p ? p + strlen(key) : NULL;
}

static bool connect_ring(void)
{
    uint64_t pfn = 0, port = 0;

    if (!check_rc(hvm_get_param(HVM_PARAM_STORE_PFN, &pfn), 0, "get STORE_PFN") ||
        !check_rc(hvm_get_param(HVM_PARAM_STORE_EVTCHN, &port), 0, "get STORE_EVTCHN"))
        return false;
    if (!check(pfn && pfn < (1ul << 20) && port, "store pfn %#llx port %llu",
               (unsigned long long)pfn, (unsigned long long)port))
        return false;
    ring = (struct xenstore_domain_interface *)(uintptr_t)(pfn << PAGE_SHIFT);
    store_port = (evtchn_port_t)port;
    if (!check_rc(xs_connect(), 0, "xs_connect"))
        return false;

    struct evtchn_status st;

    if (check_rc(evtchn_status(DOMID_SELF, store_port, &st), 0, "status(store port)"))
        check(st.status == EVTCHNSTAT_interdomain && st.u.interdomain.dom == 0,
              "store port %u: status %u, want interdomain with dom0", store_port, st.status);
    uint32_t features = READ_ONCE(ring->server_features);

    check((features & XENSTORE_SERVER_FEATURE_RECONNECTION) &&
              (features & XENSTORE_SERVER_FEATURE_ERROR),
          "server features %#x advertise reconnection and the error field", features);
    check(READ_ONCE(ring->connection) == XENSTORE_CONNECTED && READ_ONCE(ring->error) == 0,
          "ring connected (%u), no error (%u)", ring->connection, ring->error);
    return true;
}

static void test_own_nodes(void)
{
    char home[48], vm[96];
    const char *want_name = cmdline_value("name=");
    unsigned long domid = 0;

    if (!check_rc(tx_read(0, "domid"), 0, "read domid"))
        return;
    for (uint32_t i = 0; i < reply_len && reply[i] >= '0' && reply[i] <= '9'; i++)
        domid = domid * 10 + (unsigned long)(reply[i] - '0');
    if (xen_cpuid.hvm_features & XEN_HVM_CPUID_DOMID_PRESENT)
        check(domid == xen_cpuid.domid, "domid node %lu, CPUID %u", domid, xen_cpuid.domid);
    snprintf(home, sizeof(home), "%lu", domid);
    if (check_rc(tx_args(XS_GET_DOMAIN_PATH, 0, home, NULL), 0, "GET_DOMAIN_PATH")) {
        snprintf(home, sizeof(home), "/local/domain/%lu", domid);
        check(reply_is(home) || (reply_len == strlen(home) + 1 && !strcmp(reply, home)),
              "domain path \"%s\", want %s", reply, home);
    }

    if (check_rc(tx_read(0, "name"), 0, "read name")) {
        printk("name \"%s\", domid %lu\n", reply, domid);
        if (want_name) {
            size_t n = 0;

            while (want_name[n] && want_name[n] != ' ')
                n++;
            check(reply_len == n && !memcmp(reply, want_name, n), "name \"%s\"", reply);
        }
    }
    /* ~/vm -> /vm/<uuid>, readable by the domain, with the same name. */
    if (check_rc(tx_read(0, "vm"), 0, "read vm") &&
        check(reply_len > 4 && !memcmp(reply, "/vm/", 4) && reply_len < sizeof(vm) - 8,
              "vm \"%s\"", reply)) {
        char name[64] = "";

        snprintf(vm, sizeof(vm), "%s/name", reply);
        if (check_rc(tx_read(0, "name"), 0, "read name"))
            snprintf(name, sizeof(name), "%s", reply);
        if (check_rc(tx_read(0, vm), 0, "read %s", vm))
            check(reply_is(name), "%s = \"%s\", want \"%s\"", vm, reply, name);
    }
    if (check_rc(tx_read(0, "control/platform-feature-xs_reset_watches"), 0,
                 "read platform-feature-xs_reset_watches"))
        check(reply_is("1"), "platform-feature-xs_reset_watches \"%s\"", reply);
    if (check_rc(tx_read(0, "memory/target"), 0, "read memory/target"))
        check(reply_len > 0 && reply[0] >= '1' && reply[0] <= '9', "memory/target \"%s\"",
              reply);
    if (check_rc(tx_read(0, "cpu/0/availability"), 0, "read cpu/0/availability"))
        check(reply_is("online"), "cpu/0/availability \"%s\"", reply);
    if (check_rc(tx_args(XS_DIRECTORY, 0, "control", NULL), 0, "DIRECTORY control"))
        check(reply_lists("shutdown") && reply_lists("feature-poweroff"),
              "control lists shutdown and feature-poweroff");
}

static void test_write_read(void)
{
    char owner[16];

    check_rc(tx_write(0, "data/greeting", "hello"), 0, "write data/greeting");
    if (check_rc(tx_read(0, "data/greeting"), 0, "read data/greeting"))
        check(reply_is("hello"), "data/greeting = \"%s\"", reply);
    /* data/ is the domain's (libxl's rwperm): new nodes are owned by it. */
    if (check_rc(tx_read(0, "domid"), 0, "read domid")) {
        snprintf(owner, sizeof(owner), "n%s", reply);
        if (check_rc(tx_args(XS_GET_PERMS, 0, "data/greeting", NULL), 0, "GET_PERMS"))
            check(!strcmp(reply, owner), "data/greeting perms \"%s\", want %s", reply, owner);
    }
    check_rc(tx_args(XS_MKDIR, 0, "data/sub/dir", NULL), 0, "mkdir data/sub/dir");
    check_rc(tx_args(XS_RM, 0, "data/sub", NULL), 0, "rm data/sub");
    check_rc(tx_read(0, "data/sub/dir"), -XEN_ENOENT, "read removed node");
    /* The guest acknowledges shutdown requests by clearing this node. */
    check_rc(tx_write(0, "control/shutdown", ""), 0, "write own control/shutdown");
}

static void test_watch(void)
{
    unsigned int n;

    /* The reply comes first, then the initial event ("fires once at once"). */
    check_rc(tx_args(XS_WATCH, 0, "data/watched", "tok1"), 0, "WATCH data/watched");
    check_rc(tx_args(XS_WATCH, 0, "data/watched", "tok1"), -XEN_EEXIST, "WATCH again");
    n = drain_events();
    check(n == 1, "initial watch event (%u events)", n);
    check_rc(tx_write(0, "data/watched/leaf", "x"), 0, "write under the watch");
    /* The write's event follows its reply: a round trip collects it. */
    check_rc(tx_read(0, "data/watched/leaf"), 0, "read data/watched/leaf");
    n = drain_events();
    check(n == 1, "event after write (%u events)", n);
    check(!strcmp(last_event_path, "data/watched/leaf") && !strcmp(last_event_token, "tok1"),
          "event \"%s\" \"%s\"", last_event_path, last_event_token);
    check_rc(tx_args(XS_UNWATCH, 0, "data/watched", "tok1"), 0, "UNWATCH");

    /* Special watches: allowed, and they fire once at registration. */
    check_rc(tx_args(XS_WATCH, 0, "@introduceDomain", "intro"), 0, "WATCH @introduceDomain");
    check_rc(tx_read(0, "domid"), 0, "round trip");
    n = drain_events();
    check(n == 1 && !strcmp(last_event_path, "@introduceDomain"),
          "initial @introduceDomain event (%u, \"%s\")", n, last_event_path);
    check_rc(tx_args(XS_UNWATCH, 0, "@introduceDomain", "intro"), 0, "UNWATCH special");
}

static uint32_t tx_start(void)
{
    uint32_t id = 0;

    if (!check_rc(tx_talk(XS_TRANSACTION_START, 0, "", 1), 0, "TRANSACTION_START"))
        return 0;
    for (uint32_t i = 0; i < reply_len && reply[i] >= '0' && reply[i] <= '9'; i++)
        id = id * 10 + (uint32_t)(reply[i] - '0');
    check(id != 0, "transaction id \"%s\"", reply);
    return id;
}

static void test_transactions(void)
{
    uint32_t t = tx_start();

    if (!t)
        return;
    /* The transaction reads the node, someone else changes it, the commit fails. */
    check_rc(tx_read(t, "data/greeting"), 0, "read in transaction");
    check_rc(tx_write(0, "data/greeting", "changed"), 0, "write outside");
    check_rc(tx_write(t, "data/greeting", "mine"), 0, "write in transaction");
    if (check_rc(tx_read(t, "data/greeting"), 0, "read own write"))
        check(reply_is("mine"), "transaction sees \"%s\"", reply);
    check_rc(tx_args(XS_TRANSACTION_END, t, "T", NULL), -XEN_EAGAIN, "commit after conflict");
    if (check_rc(tx_read(0, "data/greeting"), 0, "read after failed commit"))
        check(reply_is("changed"), "value \"%s\" after the failed commit", reply);
    check_rc(tx_read(t, "data/greeting"), -XEN_ENOENT, "ended transaction id");

    t = tx_start();
    if (!t)
        return;
    check_rc(tx_write(t, "data/tx", "committed"), 0, "write in transaction");
    check_rc(tx_read(0, "data/tx"), -XEN_ENOENT, "not visible before commit");
    check_rc(tx_args(XS_TRANSACTION_END, t, "T", NULL), 0, "commit");
    if (check_rc(tx_read(0, "data/tx"), 0, "read committed"))
        check(reply_is("committed"), "committed value \"%s\"", reply);
}

static void test_permissions(void)
{
    /* dom0's nodes are "n0": no access for a domU, and no hint of existence. */
    check_rc(tx_read(0, "/local/domain/0/name"), -XEN_EACCES, "read dom0's name");
    check_rc(tx_write(0, "/local/domain/0/data/x", "1"), -XEN_EACCES, "write under dom0");
    check_rc(tx_read(0, "/local/domain/0/nosuch"), -XEN_EACCES, "missing node under dom0");
    check_rc(tx_read(0, "/tool/xenstored"), -XEN_EACCES, "read /tool/xenstored");
    /* ~/control is read-only for the domain; control/shutdown is its own. */
    check_rc(tx_write(0, "control/other", "1"), -XEN_EACCES, "create under control");
    check_rc(tx_write(0, "name", "renamed"), -XEN_EACCES, "write own name");
    check_rc(tx_read(0, "data/nosuch"), -XEN_ENOENT, "missing own node");
    /* Privileged and unknown requests. */
    check_rc(tx_args(XS_INTRODUCE, 0, "5", "1"), -XEN_EACCES, "INTRODUCE from a domU");
    check_rc(tx_args(XS_SET_TARGET, 0, "5", "0"), -XEN_EACCES, "SET_TARGET from a domU");
    check_rc(tx_args(99, 0, "x", NULL), -XEN_ENOSYS, "unknown request type");
    check_rc(tx_read(0, "data//x"), -XEN_EINVAL, "path with //");
}

/* Sets connection = RECONNECT and waits for the server to reset the ring. */
static bool reconnect(void)
{
    unsigned int polls = 0;

    WRITE_ONCE(ring->connection, XENSTORE_RECONNECT);
    evtchn_send(store_port);
    while (READ_ONCE(ring->connection) != XENSTORE_CONNECTED) {
        evtchn_clear_pending(store_port);
        if (READ_ONCE(ring->connection) == XENSTORE_CONNECTED)
            break;
        if (++polls > MAX_POLLS)
            return false;
        xs_poll(POLL_SLICE_NS);
    }
    return check(ring->req_prod == ring->req_cons && ring->rsp_prod == ring->rsp_cons &&
                     READ_ONCE(ring->error) == XENSTORE_ERROR_NONE,
                 "ring reset: req %u/%u rsp %u/%u error %u", ring->req_prod, ring->req_cons,
                 ring->rsp_prod, ring->rsp_cons, ring->error);
}

static uint32_t wait_error(void)
{
    unsigned int polls = 0;

    for (;;) {
        evtchn_clear_pending(store_port);
        uint32_t e = READ_ONCE(ring->error);

        if (e || ++polls > MAX_POLLS)
            return e;
        xs_poll(POLL_SLICE_NS);
    }
}

static void test_hostile_ring(void)
{
    /* A producer index further ahead than the ring is long. */
    WRITE_ONCE(ring->req_prod, ring->req_cons + XENSTORE_RING_SIZE + 7);
    evtchn_send(store_port);
    check(wait_error() == XENSTORE_ERROR_RINGIDX, "lying req_prod: error %u, want %u",
          ring->error, XENSTORE_ERROR_RINGIDX);
    if (check(reconnect(), "reconnect after a lying index") &&
        check_rc(tx_read(0, "data/greeting"), 0, "read after reconnect"))
        check(reply_is("changed"), "nodes survive a reconnection (\"%s\")", reply);

    /* A header announcing more than XENSTORE_PAYLOAD_MAX bytes. */
    struct xsd_sockmsg hdr = { .type = XS_READ, .req_id = 1, .len = XENSTORE_PAYLOAD_MAX + 1 };

    const XENSTORE_RING_IDX prod = ring->req_prod;

    for (size_t i = 0; i < sizeof(hdr); i++)
        ring->req[MASK_XENSTORE_IDX(prod + i)] = ((const char *)&hdr)[i];
    __atomic_thread_fence(__ATOMIC_RELEASE);
    WRITE_ONCE(ring->req_prod, prod + (XENSTORE_RING_IDX)sizeof(hdr));
    evtchn_send(store_port);
    check(wait_error() == XENSTORE_ERROR_PROTO, "oversized header: error %u, want %u",
          ring->error, XENSTORE_ERROR_PROTO);
    if (check(reconnect(), "reconnect after an oversized header"))
        check_rc(tx_read(0, "domid"), 0, "read after second reconnect");
}

/* With the harness: dom0 writes data/host, then asks for a shutdown. */
static void host_test(void)
{
    check_rc(tx_args(XS_WATCH, 0, "data/host", "host"), 0, "WATCH data/host");
    check_rc(tx_args(XS_WATCH, 0, "control/shutdown", "ctl"), 0, "WATCH control/shutdown");
    check_rc(tx_write(0, "data/ready", "1"), 0, "write data/ready");
    printk("waiting for dom0 to write data/host\n");
    for (;;) {
        if (tx_read(0, "data/host") == 0 && reply_is("from-dom0"))
            break;
        /* Sleep until the next watch event. */
        if (xs_wait_watch(NULL, 0, NULL, 0, HOST_WAIT_NS) != 1) {
            xtf_failure("no write to data/host from dom0\n");
            return;
        }
    }
    printk("dom0 wrote data/host\n");
    check_rc(tx_write(0, "data/ack", "1"), 0, "write data/ack");

    char cmd[16] = "";

    printk("waiting for control/shutdown\n");
    for (;;) {
        if (tx_read(0, "control/shutdown") == 0 && reply_len > 0) {
            snprintf(cmd, sizeof(cmd), "%s", reply);
            break;
        }
        if (xs_wait_watch(NULL, 0, NULL, 0, HOST_WAIT_NS) != 1) {
            xtf_failure("no shutdown request\n");
            return;
        }
    }
    /* Acknowledge as Linux's xenbus shutdown handler does: clear the node. */
    check_rc(tx_write(0, "control/shutdown", ""), 0, "acknowledge %s", cmd);
    printk("xenstore: control/shutdown = %s\n", cmd);
    if (!strcmp(cmd, "reboot"))
        sched_shutdown(SHUTDOWN_reboot);
    check(!strcmp(cmd, "poweroff"), "shutdown command \"%s\"", cmd);
}

void test_main(const struct hvm_start_info *si)
{
    if (si->cmdline_paddr)
        snprintf(cmdline, sizeof(cmdline), "%s", (const char *)(uintptr_t)si->cmdline_paddr);
    if (evtchn_init(UPCALL_AUTO)) {
        xtf_error("evtchn_init failed\n");
        return;
    }
    if (!connect_ring())
        return;
    test_own_nodes();
    test_write_read();
    test_watch();
    test_transactions();
    test_permissions();
    test_hostile_ring();
    if (strstr(cmdline, "host-test"))
        host_test();
    if (!xtf_failures())
        xtf_success(NULL);
}
