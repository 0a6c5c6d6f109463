/* oneway-merge: a sorted set of block ranges with ranks.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * The written set, in filesystem blocks.  Each member block has a rank
 * (its index among the members), so that per-block facts such as the
 * owner can live in a plain array as long as the set.
 */
#ifndef ONEWAY_MERGE_RANGESET_H
#define ONEWAY_MERGE_RANGESET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct range {
  uint64_t start, count;
  uint64_t rank;                /* members before this range */
};

struct rangeset {
  struct range *r;
  size_t n, cap;
  uint64_t total;               /* member blocks */
};

void rangeset_init (struct rangeset *s);
void rangeset_free (struct rangeset *s);
/* Ranges must come in ascending order; they may touch or overlap the
 * last one.  -1 on out of memory. */
int rangeset_add (struct rangeset *s, uint64_t start, uint64_t count);
/* The rank of block, or -1 if it is not a member.  O(log n). */
int64_t rangeset_rank (const struct rangeset *s, uint64_t block);
/* Whether any member lies in [start, start + count).  O(log n). */
bool rangeset_intersects (const struct rangeset *s, uint64_t start, uint64_t count);
/* fn for each run of members inside [start, start + count), in order:
 * (first block, count, rank of first).  Stops at fn's nonzero return
 * and passes it on.  O(log n + runs). */
int rangeset_each_in (const struct rangeset *s, uint64_t start, uint64_t count,
                      int (*fn) (void *opaque, uint64_t first, uint64_t n, uint64_t rank),
                      void *opaque);

#endif
