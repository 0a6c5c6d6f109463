/* oneway-merge: inode number → index, for the inodes a change touches.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#ifndef ONEWAY_MERGE_INOMAP_H
#define ONEWAY_MERGE_INOMAP_H

#include <stddef.h>
#include <stdint.h>

struct inomap {
  uint32_t *key;                /* 0: empty (inode 0 does not exist) */
  uint32_t *val;
  size_t cap, n;
};

void inomap_init (struct inomap *m);
void inomap_free (struct inomap *m);
/* The value for ino, or -1. */
int64_t inomap_get (const struct inomap *m, uint32_t ino);
/* Insert or replace; -1 on out of memory. */
int inomap_put (struct inomap *m, uint32_t ino, uint32_t val);

#endif
