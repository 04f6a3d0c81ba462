/*
 * A small xenstore client over the guest's own ring (io/xs_wire.h framing
 * on the page at HVM_PARAM_STORE_PFN, notifications on
 * HVM_PARAM_STORE_EVTCHN; docs/misc/xenstore-ring.txt). The store channel
 * is masked and waited on with SCHEDOP_poll, so no upcall is needed.
 * Relative paths are relative to the domain's home, /local/domain/<domid>.
 * 64-bit guests only (it uses the kit's event-channel helpers).
 *
 * Every call returns 0 (or a length) on success, a negative XEN errno when
 * xenstored answered XS_ERROR, or -XEN_EIO when the ring broke or stayed
 * silent for too long. Watch events that arrive while a reply is awaited
 * are queued (a few) and returned by xs_wait_watch().
 */
#ifndef KIT_XENSTORE_H
#define KIT_XENSTORE_H

#include <kit/xen.h>

/* Finds the ring and channel from the HVM params. */
long xs_connect(void);

/* Reads `path` into buf (NUL-terminated, truncated to size); returns the
 * value's length. */
long xs_read(const char *path, char *buf, size_t size);
/* xs_read of a decimal number. */
long xs_read_u64(const char *path, uint64_t *value);
long xs_write(const char *path, const char *value);
/* xs_write within transaction `tx`. */
long xs_write_in(uint32_t tx, const char *path, const char *value);
long xs_rm(const char *path);
long xs_watch(const char *path, const char *token);
long xs_unwatch(const char *path, const char *token);

/* Any request, in transaction `tx` (0: none): the reply's payload stays
 * readable through xs_reply() until the next request. */
long xs_request(uint32_t type, uint32_t tx, const void *payload, uint32_t len);
/* A request whose arguments are NUL-terminated strings (b may be NULL). */
long xs_request_strings(uint32_t type, uint32_t tx, const char *a, const char *b);
/* The last reply's payload (NUL-terminated) and its length. */
const char *xs_reply(uint32_t *len);

/* One SCHEDOP_poll on the store channel, for at most slice_ns. */
void xs_poll(uint64_t slice_ns);

/* Waits up to timeout_ns (0: forever) for a watch event; 1 with the
 * event's path and token copied out (either may be NULL), 0 on timeout. */
long xs_wait_watch(char *path, size_t path_size, char *token, size_t token_size,
                   uint64_t timeout_ns);

#endif /* KIT_XENSTORE_H */
