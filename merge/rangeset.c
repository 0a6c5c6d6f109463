/* oneway-merge: a sorted set of block ranges with ranks.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <stdlib.h>

#include "oneway/util.h"
#include "rangeset.h"

void
rangeset_init (struct rangeset *s)
{
  *s = (struct rangeset) { 0 };
}

void
rangeset_free (struct rangeset *s)
{
  free (s->r);
  rangeset_init (s);
}

int
rangeset_add (struct rangeset *s, uint64_t start, uint64_t count)
{
  if (count == 0)
    return 0;
  if (s->n) {
    struct range *last = &s->r[s->n - 1];
    uint64_t end = last->start + last->count;
    if (start <= end) {
      if (start + count > end) {
        s->total += start + count - end;
        last->count = start + count - last->start;
      }
      return 0;
    }
  }
  if (ow_grow_array (&s->r, &s->cap, s->n + 1, sizeof *s->r) == -1)
    return -1;
  s->r[s->n++] = (struct range) { start, count, s->total };
  s->total += count;
  return 0;
}

/* Index of the last range starting at or before block, or -1. */
static int64_t
find (const struct rangeset *s, uint64_t block)
{
  size_t lo = 0, hi = s->n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s->r[mid].start <= block)
      lo = mid + 1;
    else
      hi = mid;
  }
  return (int64_t) lo - 1;
}

int64_t
rangeset_rank (const struct rangeset *s, uint64_t block)
{
  int64_t i = find (s, block);

  if (i < 0 || block - s->r[i].start >= s->r[i].count)
    return -1;
  return s->r[i].rank + (block - s->r[i].start);
}

int
rangeset_each_in (const struct rangeset *s, uint64_t start, uint64_t count,
                  int (*fn) (void *, uint64_t, uint64_t, uint64_t), void *opaque)
{
  uint64_t end = start + count < start ? UINT64_MAX : start + count;
  int64_t i = find (s, start);

  if (i < 0)
    i = 0;
  for (size_t k = i; k < s->n && s->r[k].start < end; k++) {
    const struct range *r = &s->r[k];
    uint64_t a = r->start > start ? r->start : start;
    uint64_t b = r->start + r->count < end ? r->start + r->count : end;
    if (a < b) {
      int ret = fn (opaque, a, b - a, r->rank + (a - r->start));
      if (ret)
        return ret;
    }
  }
  return 0;
}

static int
stop_at_first (void *opaque, uint64_t first, uint64_t n, uint64_t rank)
{
  (void) opaque; (void) first; (void) n; (void) rank;
  return 1;
}

bool
rangeset_intersects (const struct rangeset *s, uint64_t start, uint64_t count)
{
  return rangeset_each_in (s, start, count, stop_at_first, NULL) != 0;
}
