/*
 * A minimal PV block front-end (blkif, one ring page, one request at a
 * time, one 4 KiB segment): enough for a test guest to drive a real
 * xenolith-blkback through xenstore, grants and an event channel, as
 * Linux's xen-blkfront does, and to connect again after a resume.
 */
#ifndef KIT_BLKFRONT_H
#define KIT_BLKFRONT_H

#include <kit/types.h>

/*
 * Connects device/vbd/<vdev> (the kit's xenstore client must be connected):
 * waits for the back-end's InitWait, publishes ring-ref, event-channel and
 * protocol, and waits for Connected. 0 or a negative Xen errno. Call it
 * again after a resume into a new domain (grant table and ports are new).
 */
long blkfront_connect(unsigned int vdev);

/* Sectors the back-end reported (valid after blkfront_connect). */
uint64_t blkfront_sectors(void);

/* One 4 KiB read or write at a 512-byte sector; waits for the response.
 * 0 (BLKIF_RSP_OKAY) or a negative value. */
long blkfront_write(uint64_t sector, const void *data);
long blkfront_read(uint64_t sector, void *data);

#endif /* KIT_BLKFRONT_H */
