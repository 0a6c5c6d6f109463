/* oneway: read-only access to the base disk.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * A base is a regular file, a block device, or an NBD URI read with
 * libnbd.  There is no write function: promise 1 of DESIGN.md is kept
 * by construction, and files are opened O_RDONLY.
 */
#ifndef ONEWAY_BASE_H
#define ONEWAY_BASE_H

#include <stdbool.h>
#include <stdint.h>

struct ow_base;

/* True if name is an NBD URI rather than a path. */
bool ow_base_is_uri (const char *name);

/* Open the base.  A relative path is made absolute so that the name
 * recorded in the overlay header still means something elsewhere. */
int ow_base_open (const char *name, struct ow_base **out);
void ow_base_close (struct ow_base *b);

uint64_t ow_base_size (const struct ow_base *b);
const char *ow_base_name (const struct ow_base *b);

/* Read exactly count bytes at offset, which must lie inside the base.
 * Thread-safe. */
int ow_base_pread (struct ow_base *b, void *buf, uint64_t count, uint64_t offset);

/* A hint that [offset, offset + len) will be read soon: the kernel
 * starts reading it in the background.  Nothing for NBD bases. */
void ow_base_prefetch (struct ow_base *b, uint64_t offset, uint64_t len);

/* How far from offset (at most len bytes) the base is uniformly data
 * or uniformly a hole that reads as zeroes; sets *hole accordingly.
 * Bases that cannot tell report data.  Returns the length (> 0) or -1. */
int64_t ow_base_extent (struct ow_base *b, uint64_t offset, uint64_t len, bool *hole);

#endif
