/*
 * A minimal PV network front-end (netif, one queue: one tx ring page and
 * one rx ring page, one event channel, request-rx-copy and
 * feature-rx-notify, no scatter-gather, GSO or checksum offload): enough
 * for a test guest to send and receive Ethernet frames through a real
 * xenolith-netback and its TAP, as Linux's xen-netfront does, and to
 * connect again after a resume. Polled: nothing is taken as an upcall.
 */
#ifndef KIT_NETFRONT_H
#define KIT_NETFRONT_H

#include <kit/types.h>

/* Pages posted on the rx ring for the back-end to copy frames into. */
#define NETFRONT_RX_BUFFERS 8
/* The largest frame either way: one page (no feature-sg). */
#define NETFRONT_MAX_FRAME PAGE_SIZE

/*
 * Connects device/vif/<vif> (the kit's xenstore client must be connected):
 * reads the MAC, waits for the back-end's InitWait, posts the rx buffers,
 * publishes ring refs, event channel and features, goes Connected and
 * waits for the back-end's Connected. 0 or a negative Xen errno. Call it
 * again after a resume into a new domain (grant table and ports are new).
 */
long netfront_connect(unsigned int vif);

/* The vif's MAC (valid after netfront_connect): 6 bytes. */
const uint8_t *netfront_mac(void);

/* Sends one Ethernet frame (14 to NETFRONT_MAX_FRAME bytes) and waits for
 * the back-end's answer. 0 (NETIF_RSP_OKAY) or a negative value. */
long netfront_send(const void *frame, size_t len);

/* Takes the next frame the back-end delivered, at most `cap` bytes of it,
 * and posts its buffer again: its length (truncated to `cap`), 0 when none
 * is waiting. Slots the back-end answered with an error are skipped. */
size_t netfront_poll_receive(void *buf, size_t cap);

#endif /* KIT_NETFRONT_H */
