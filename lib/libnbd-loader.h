/* oneway: libnbd, loaded only when a base is an NBD URI.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * libnbd brings GnuTLS, libxml2 and ICU with it: two dozen libraries
 * that every oneway-merge run would load from disk, and that only a
 * base read over NBD uses.  So they are loaded on first use.
 */
#ifndef ONEWAY_LIBNBD_LOADER_H
#define ONEWAY_LIBNBD_LOADER_H

#include <libnbd.h>

/* The functions base.c calls, with libnbd's own prototypes. */
struct ow_libnbd {
#define OW_LIBNBD_FUNCTIONS(F) \
  F (create) F (close) F (shutdown) F (connect_uri) F (aio_connect_uri) \
  F (aio_is_ready) F (aio_is_dead) F (aio_is_closed) F (poll) \
  F (add_meta_context) F (can_meta_context) F (can_multi_conn) \
  F (get_size) F (pread) F (block_status) F (get_error) F (get_errno)
#define OW_LIBNBD_FIELD(name) __typeof__ (nbd_##name) *name;
  OW_LIBNBD_FUNCTIONS (OW_LIBNBD_FIELD)
#undef OW_LIBNBD_FIELD
};

extern struct ow_libnbd ow_libnbd;

/* Load libnbd (once; thread-safe).  -1 with a message naming the
 * package if it is not installed. */
int ow_libnbd_load (void);

#endif
