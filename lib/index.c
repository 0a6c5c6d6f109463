/* oneway: the in-memory index of the overlay.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * Locking: the shard locks and the interval list's lock keep the
 * structures whole; which update of a block comes last is the callers'
 * business (they hold the block's stripe lock across logging a record
 * and applying it here, so updates apply in log order).  A range update
 * publishes the range, then removes the single entries it hides, one
 * shard at a time; a lookup in between may still see such an entry,
 * which is the older value of a block whose update is in progress.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "oneway/index.h"
#include "oneway/util.h"

/* Hash table slot: key is block + 1 so that 0 means empty. */
struct slot {
  uint64_t key;
  uint64_t val;
};

struct ow_index_shard {
  pthread_mutex_t lock;
  struct slot *slots;
  size_t cap, count;
} __attribute__((aligned (64)));

/* Grow at 80% full by half again: the table then stays between 53% and
 * 80% full, 20 to 30 bytes per entry, and probes stay short. */
#define MAX_LOAD_NUM 4
#define MAX_LOAD_DEN 5
#define MIN_CAP 64

uint64_t
ow_loc_pack (const struct ow_loc *loc)
{
  return loc->offset << 18 | (uint64_t) (loc->kind == OW_LOC_DATA ? loc->length : 0) << 1
    | (loc->lz4 ? 1 : 0);
}

void
ow_loc_unpack (uint64_t v, struct ow_loc *loc)
{
  loc->offset = v >> 18;
  loc->length = (v >> 1) & 0x1ffff;
  loc->lz4 = v & 1;
  loc->kind = loc->length ? OW_LOC_DATA : OW_LOC_ZERO;
}

static inline uint64_t
loc_length (uint64_t v)
{
  return (v >> 1) & 0x1ffff;
}

/* splitmix64's finaliser: consecutive blocks spread over all shards. */
static inline uint64_t
mix (uint64_t x)
{
  x ^= x >> 30;
  x *= UINT64_C (0xbf58476d1ce4e5b9);
  x ^= x >> 27;
  x *= UINT64_C (0x94d049bb133111eb);
  x ^= x >> 31;
  return x;
}

static inline struct ow_index_shard *
shard_of (struct ow_index *ix, uint64_t h)
{
  return &ix->shards[h % OW_INDEX_SHARDS];
}

static inline size_t
home (uint64_t h, size_t cap)
{
  return (size_t) (((unsigned __int128) h * cap) >> 64);
}

int
ow_index_init (struct ow_index *ix, uint64_t nblocks)
{
  memset (ix, 0, sizeof *ix);
  ix->nblocks = nblocks;
  if (ow_sbitmap_init (&ix->has_entry, nblocks, false) == -1)
    return -1;
  ix->shards = aligned_alloc (64, OW_INDEX_SHARDS * sizeof *ix->shards);
  if (!ix->shards) {
    ow_sbitmap_free (&ix->has_entry);
    return -1;
  }
  memset (ix->shards, 0, OW_INDEX_SHARDS * sizeof *ix->shards);
  for (int i = 0; i < OW_INDEX_SHARDS; i++)
    pthread_mutex_init (&ix->shards[i].lock, NULL);
  pthread_rwlock_init (&ix->zlock, NULL);
  return 0;
}

void
ow_index_free (struct ow_index *ix)
{
  if (ix->shards) {
    for (int i = 0; i < OW_INDEX_SHARDS; i++) {
      pthread_mutex_destroy (&ix->shards[i].lock);
      free (ix->shards[i].slots);
    }
    free (ix->shards);
    pthread_rwlock_destroy (&ix->zlock);
  }
  ow_sbitmap_free (&ix->has_entry);
  free (ix->zranges);
  memset (ix, 0, sizeof *ix);
}

/* Position of key in the shard's table, or of the empty slot where it
 * would go.  The table is never full. */
static size_t
probe (const struct ow_index_shard *s, uint64_t key, uint64_t h)
{
  size_t i = home (h, s->cap);

  while (s->slots[i].key && s->slots[i].key != key)
    if (++i == s->cap)
      i = 0;
  return i;
}

static int
grow (struct ow_index_shard *s)
{
  size_t cap = s->cap < MIN_CAP ? MIN_CAP : s->cap + s->cap / 2;
  struct slot *old = s->slots, *slots = calloc (cap, sizeof *slots);
  size_t oldcap = s->cap;

  if (!slots)
    return -1;
  s->slots = slots;
  s->cap = cap;
  for (size_t i = 0; i < oldcap; i++)
    if (old[i].key)
      s->slots[probe (s, old[i].key, mix (old[i].key - 1))] = old[i];
  free (old);
  return 0;
}

/* Linear-probing deletion without tombstones: pull later members of
 * the cluster back over the hole if their home allows it. */
static void
delete_at (struct ow_index_shard *s, size_t i)
{
  size_t j = i;

  for (;;) {
    if (++j == s->cap)
      j = 0;
    if (!s->slots[j].key)
      break;
    size_t k = home (mix (s->slots[j].key - 1), s->cap);
    /* Move j to i unless its home lies cyclically in (i, j]. */
    bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
    if (!stays) {
      s->slots[i] = s->slots[j];
      i = j;
    }
  }
  s->slots[i].key = 0;
  s->slots[i].val = 0;
  s->count--;
}

/* Index of the first range that ends after block (nzranges if none).
 * Caller holds zlock. */
static size_t
zrange_search (const struct ow_index *ix, uint64_t block)
{
  size_t lo = 0, hi = ix->nzranges;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (ix->zranges[mid].end <= block)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Is block inside a zero range? */
static bool
in_zrange (struct ow_index *ix, uint64_t block)
{
  bool r;
  size_t i;

  if (!atomic_load_explicit (&ix->any_zranges, memory_order_acquire))
    return false;
  pthread_rwlock_rdlock (&ix->zlock);
  i = zrange_search (ix, block);
  r = i < ix->nzranges && ix->zranges[i].start <= block;
  pthread_rwlock_unlock (&ix->zlock);
  return r;
}

void
ow_index_lookup (struct ow_index *ix, uint64_t block, struct ow_loc *loc)
{
  if (ow_sbitmap_test (&ix->has_entry, block)) {
    uint64_t h = mix (block);
    struct ow_index_shard *s = shard_of (ix, h);
    bool found = false;
    uint64_t val = 0;

    pthread_mutex_lock (&s->lock);
    if (s->cap) {
      size_t i = probe (s, block + 1, h);
      found = s->slots[i].key != 0;
      val = s->slots[i].val;
    }
    pthread_mutex_unlock (&s->lock);
    /* An entry is newer than any range covering it. */
    if (found) {
      ow_loc_unpack (val, loc);
      return;
    }
  }
  memset (loc, 0, sizeof *loc);
  loc->kind = in_zrange (ix, block) ? OW_LOC_ZERO : OW_LOC_BASE;
}

int
ow_index_set (struct ow_index *ix, uint64_t block, const struct ow_loc *loc,
              struct ow_loc *old)
{
  uint64_t h = mix (block), val = ow_loc_pack (loc);
  struct ow_index_shard *s = shard_of (ix, h);
  size_t i;

  if (old)
    memset (old, 0, sizeof *old);
  /* The filter bit goes first so that a lookup never misses an entry. */
  if (ow_sbitmap_set_range (&ix->has_entry, block, 1) == -1)
    return -1;
  pthread_mutex_lock (&s->lock);
  if ((s->count + 1) * MAX_LOAD_DEN > s->cap * MAX_LOAD_NUM && grow (s) == -1) {
    pthread_mutex_unlock (&s->lock);
    errno = ENOMEM;
    return -1;
  }
  i = probe (s, block + 1, h);
  if (s->slots[i].key) {
    if (old)
      ow_loc_unpack (s->slots[i].val, old);
    atomic_fetch_sub (&ix->live_bytes, loc_length (s->slots[i].val));
  }
  else {
    s->slots[i].key = block + 1;
    s->count++;
  }
  s->slots[i].val = val;
  pthread_mutex_unlock (&s->lock);
  atomic_fetch_add (&ix->live_bytes, loc_length (val));
  return 0;
}

/* Remove block's single entry, telling fn what it was. */
static void
remove_entry (struct ow_index *ix, uint64_t block,
              void (*fn) (void *, uint64_t, const struct ow_loc *), void *opaque)
{
  uint64_t h = mix (block);
  struct ow_index_shard *s = shard_of (ix, h);
  struct ow_loc old;
  bool found = false;

  pthread_mutex_lock (&s->lock);
  if (s->cap) {
    size_t i = probe (s, block + 1, h);
    if (s->slots[i].key) {
      ow_loc_unpack (s->slots[i].val, &old);
      atomic_fetch_sub (&ix->live_bytes, loc_length (s->slots[i].val));
      delete_at (s, i);
      found = true;
    }
  }
  pthread_mutex_unlock (&s->lock);
  if (found && fn)
    fn (opaque, block, &old);
}

static int
zrange_reserve (struct ow_index *ix, size_t n)
{
  if (ow_grow_array (&ix->zranges, &ix->zcap, n, sizeof *ix->zranges) == -1)
    return -1;
  return 0;
}

/* Add [start, end) to the interval list: parts of ranges it overlaps
 * are cut away and neighbours it touches are joined.  Ranges are few
 * (one per large trim or zero), so one rebuild per insert is fine. */
static int
zrange_insert (struct ow_index *ix, uint64_t start, uint64_t end)
{
  size_t n = 0, i = 0;
  struct ow_zrange *out = malloc ((ix->nzranges + 1) * sizeof *out);

  if (!out)
    return -1;
  for (; i < ix->nzranges && ix->zranges[i].end < start; i++)
    out[n++] = ix->zranges[i];
  /* Ranges that overlap or touch [start, end) merge into it. */
  for (; i < ix->nzranges && ix->zranges[i].start <= end; i++) {
    if (ix->zranges[i].start < start)
      start = ix->zranges[i].start;
    if (ix->zranges[i].end > end)
      end = ix->zranges[i].end;
  }
  out[n++] = (struct ow_zrange) { start, end };
  for (; i < ix->nzranges; i++)
    out[n++] = ix->zranges[i];
  if (zrange_reserve (ix, n) == -1) {
    free (out);
    return -1;
  }
  memcpy (ix->zranges, out, n * sizeof *out);
  ix->nzranges = n;
  free (out);
  return 0;
}

int
ow_index_set_zero_range (struct ow_index *ix, uint64_t first, uint64_t count,
                         void (*fn) (void *, uint64_t, const struct ow_loc *),
                         void *opaque)
{
  struct ow_loc zero = { .kind = OW_LOC_ZERO };
  uint64_t entries;

  if (count < OW_ZERO_RANGE_MIN) {
    for (uint64_t b = first; b < first + count; b++) {
      struct ow_loc old;
      if (ow_index_set (ix, b, &zero, &old) == -1)
        return -1;
      if (old.kind == OW_LOC_DATA && fn)
        fn (opaque, b, &old);
    }
    return 0;
  }

  pthread_rwlock_wrlock (&ix->zlock);
  int r = zrange_insert (ix, first, first + count);
  if (r == 0)
    atomic_store_explicit (&ix->any_zranges, true, memory_order_release);
  pthread_rwlock_unlock (&ix->zlock);
  if (r == -1) {
    errno = ENOMEM;
    return -1;
  }

  /* Drop the single entries the range hides: probe each block, or
   * sweep the tables if they are smaller than the range. */
  entries = ow_index_block_entries (ix);
  if (entries == 0)
    return 0;
  if (count <= entries) {
    for (uint64_t b = first; b < first + count; b++)
      if (ow_sbitmap_test (&ix->has_entry, b))
        remove_entry (ix, b, fn, opaque);
    return 0;
  }
  for (int k = 0; k < OW_INDEX_SHARDS; k++) {
    struct ow_index_shard *s = &ix->shards[k];
    pthread_mutex_lock (&s->lock);
    for (size_t i = 0; i < s->cap; ) {
      uint64_t key = s->slots[i].key;
      if (key && key - 1 >= first && key - 1 < first + count) {
        struct ow_loc old;
        ow_loc_unpack (s->slots[i].val, &old);
        atomic_fetch_sub (&ix->live_bytes, loc_length (s->slots[i].val));
        delete_at (s, i);       /* slot i now holds a moved entry: look again */
        if (fn)
          fn (opaque, key - 1, &old);
        continue;
      }
      i++;
    }
    pthread_mutex_unlock (&s->lock);
  }
  return 0;
}

uint64_t
ow_index_zero_run_end (struct ow_index *ix, uint64_t block)
{
  uint64_t end = block + 1, next;

  if (atomic_load_explicit (&ix->any_zranges, memory_order_acquire)) {
    pthread_rwlock_rdlock (&ix->zlock);
    size_t i = zrange_search (ix, block);
    if (i < ix->nzranges && ix->zranges[i].start <= block)
      end = ix->zranges[i].end;
    pthread_rwlock_unlock (&ix->zlock);
  }
  /* Single entries inside the range may say otherwise. */
  next = ow_sbitmap_next_set (&ix->has_entry, block + 1);
  return next < end ? next : end;
}

uint64_t
ow_index_next_known (struct ow_index *ix, uint64_t block)
{
  uint64_t next = ow_sbitmap_next_set (&ix->has_entry, block);

  if (atomic_load_explicit (&ix->any_zranges, memory_order_acquire)) {
    pthread_rwlock_rdlock (&ix->zlock);
    size_t i = zrange_search (ix, block);
    if (i < ix->nzranges) {
      uint64_t z = ix->zranges[i].start > block ? ix->zranges[i].start : block;
      if (z < next)
        next = z;
    }
    pthread_rwlock_unlock (&ix->zlock);
  }
  return next;
}

int
ow_index_for_each_block (struct ow_index *ix,
                         int (*fn) (void *, uint64_t, const struct ow_loc *),
                         void *opaque)
{
  for (int k = 0; k < OW_INDEX_SHARDS; k++) {
    struct ow_index_shard *s = &ix->shards[k];
    int r = 0;
    pthread_mutex_lock (&s->lock);
    for (size_t i = 0; i < s->cap && r == 0; i++)
      if (s->slots[i].key) {
        struct ow_loc loc;
        ow_loc_unpack (s->slots[i].val, &loc);
        r = fn (opaque, s->slots[i].key - 1, &loc);
      }
    pthread_mutex_unlock (&s->lock);
    if (r)
      return r;
  }
  return 0;
}

int
ow_index_for_each_zrange (struct ow_index *ix,
                          int (*fn) (void *, uint64_t, uint64_t),
                          void *opaque)
{
  int r = 0;

  pthread_rwlock_rdlock (&ix->zlock);
  for (size_t i = 0; i < ix->nzranges && r == 0; i++)
    r = fn (opaque, ix->zranges[i].start, ix->zranges[i].end - ix->zranges[i].start);
  pthread_rwlock_unlock (&ix->zlock);
  return r;
}

uint64_t
ow_index_block_entries (struct ow_index *ix)
{
  uint64_t n = 0;

  /* Unlocked reads of counters: an estimate is all callers need. */
  for (int k = 0; k < OW_INDEX_SHARDS; k++)
    n += __atomic_load_n (&ix->shards[k].count, __ATOMIC_RELAXED);
  return n;
}

uint64_t
ow_index_memory (struct ow_index *ix)
{
  uint64_t bytes = OW_INDEX_SHARDS * sizeof *ix->shards
    + ix->zcap * sizeof *ix->zranges
    + ix->has_entry.nleaves * sizeof *ix->has_entry.leaves;

  for (int k = 0; k < OW_INDEX_SHARDS; k++)
    bytes += __atomic_load_n (&ix->shards[k].cap, __ATOMIC_RELAXED) * sizeof (struct slot);
  for (size_t i = 0; i < ix->has_entry.nleaves; i++)
    if (atomic_load (&ix->has_entry.leaves[i]))
      bytes += OW_SB_LEAF_WORDS * 8;
  return bytes;
}
