/*
 * The kit's grant table, shared by its PV front-ends: frame 0 (512 v1
 * entries) mapped at one page of the guest, and the entries each driver
 * owns. One mapping for all of them: mapping the frame at a second page
 * would move it there (Xen's add_to_physmap), leaving the first driver
 * writing into an ordinary page.
 */
#ifndef KIT_GNTTAB_H
#define KIT_GNTTAB_H

#include <kit/types.h>

/* The entries each front-end grants (the first 8 are the toolstack's). */
#define GREF_BLKFRONT_RING 8
#define GREF_BLKFRONT_DATA 9
#define GREF_NETFRONT_TX_RING 10
#define GREF_NETFRONT_RX_RING 11
#define GREF_NETFRONT_TX_DATA 12
#define GREF_NETFRONT_RX_DATA 13 /* up to 13 + NETFRONT_RX_BUFFERS - 1 */

/* Maps frame 0 (again: after a resume into a new domain the table is new).
 * 0 or a negative Xen errno. */
long gnttab_map(void);

/* Grants `page` to domain 0 (v1: frame and domid before flags). */
void gnttab_grant(unsigned int ref, const void *page, bool readonly);

#endif /* KIT_GNTTAB_H */
