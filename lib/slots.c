/* oneway: slots, where raw blocks are stored, and when they are reused.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * Raw blocks are not appended to the log with their record: they go to
 * slots, page-aligned places in extents that SLOTS records reserve in
 * the log, and the DATA record only points at them.  Whole, aligned
 * pages are cheap to write, and a slot whose block was written again
 * can be used again, so an overlay that sees the same blocks rewritten
 * stays the size of what it holds.
 *
 * When a slot may be reused.  Recovery replays the log and checks the
 * data of the records that end up current; a record whose slot was
 * reused fails that check, and is taken for the torn tail of a crash.
 * That is only right if no crash can make that record current again
 * after a flush made it durable.  So a superseded slot is reused:
 *  - at once, if its record cannot have been made durable by any flush:
 *    no flush started since the record was logged;
 *  - else once a flush has made the superseding record durable.
 * Flushes count epochs (odd while one runs).  A record's slots are
 * tagged with the epoch read just before its space was reserved: if
 * the epoch is still that, and even, no flush has started since, so
 * none can have made the record durable, and the slot is free at once.
 * (Read after the reservation, the tag could come from a flush that
 * started and finished in between, which did make the record durable.)
 * Otherwise the slot waits for the flush that covers the superseding
 * record, whose epoch is read just after its space was reserved: read
 * as e even, the flush that ends at e + 2 covers it; odd, the one after.
 *
 * Concurrency: a slot changes hands only under the stripe lock of the
 * block that held it, and readers take that lock to read a slot, so no
 * read sees a slot being reused.  Free slots sit in a few pools with a
 * lock each, picked per thread.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "oneway/error.h"
#include "oneway/util.h"
#include "overlay-internal.h"

#define EXTENTS_PER_CHUNK 1024
#define MAX_EXTENT_CHUNKS (1 << 16)   /* 64 Mi extents: 64 TiB of 1 MiB */

static _Thread_local unsigned pool_hint;
static _Atomic unsigned next_pool_hint;

static struct ow_slot_pool *
my_pool (struct ow_overlay *ov)
{
  if (!pool_hint)
    pool_hint = atomic_fetch_add (&next_pool_hint, 1) + 1;
  return &ov->pools[pool_hint % OW_SLOT_POOLS];
}

int
ow_slots_init (struct ow_overlay *ov)
{
  ov->pools = aligned_alloc (64, OW_SLOT_POOLS * sizeof *ov->pools);
  ov->extent_chunks = calloc (MAX_EXTENT_CHUNKS, sizeof *ov->extent_chunks);
  if (!ov->pools || !ov->extent_chunks)
    return -1;
  memset (ov->pools, 0, OW_SLOT_POOLS * sizeof *ov->pools);
  for (int i = 0; i < OW_SLOT_POOLS; i++)
    pthread_mutex_init (&ov->pools[i].lock, NULL);
  pthread_mutex_init (&ov->extent_lock, NULL);
  atomic_init (&ov->nextents, 0);
  return 0;
}

void
ow_slots_free (struct ow_overlay *ov)
{
  size_t n = atomic_load (&ov->nextents);

  if (ov->pools) {
    for (int i = 0; i < OW_SLOT_POOLS; i++) {
      pthread_mutex_destroy (&ov->pools[i].lock);
      free (ov->pools[i].fifo);
      free (ov->pools[i].pending);
    }
    free (ov->pools);
    ov->pools = NULL;
  }
  if (ov->extent_chunks) {
    for (size_t i = 0; i < n; i++) {
      struct ow_extent *e = &ov->extent_chunks[i / EXTENTS_PER_CHUNK][i % EXTENTS_PER_CHUNK];
      free ((void *) e->tag);
      free (e->check);
    }
    for (size_t c = 0; c < MAX_EXTENT_CHUNKS && ov->extent_chunks[c]; c++)
      free (ov->extent_chunks[c]);
    free (ov->extent_chunks);
    ov->extent_chunks = NULL;
    pthread_mutex_destroy (&ov->extent_lock);
  }
  atomic_store (&ov->nextents, 0);
}

static struct ow_extent *
extent_at (struct ow_overlay *ov, size_t i)
{
  return &ov->extent_chunks[i / EXTENTS_PER_CHUNK][i % EXTENTS_PER_CHUNK];
}

/* Extents are added in increasing offsets (they come from the log's
 * tail), so they are found by binary search. */
struct ow_extent *
ow_slots_find (struct ow_overlay *ov, uint64_t slot, uint32_t *index)
{
  size_t lo = 0, hi = atomic_load_explicit (&ov->nextents, memory_order_acquire);

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    struct ow_extent *e = extent_at (ov, mid);
    if (slot < e->offset)
      hi = mid;
    else if (slot >= e->offset + (uint64_t) e->nslots * ov->block_size)
      lo = mid + 1;
    else {
      if ((slot - e->offset) % ov->block_size)
        return NULL;
      if (index)
        *index = (slot - e->offset) / ov->block_size;
      return e;
    }
  }
  return NULL;
}

/* Caller holds extent_lock (or is alone: loading). */
static int
add_extent (struct ow_overlay *ov, uint64_t offset, uint32_t nslots)
{
  size_t n;
  struct ow_extent *e;
  int r = -1;

  n = atomic_load (&ov->nextents);
  if (n && offset < extent_at (ov, n - 1)->offset) {
    errno = EINVAL;             /* out of order: a damaged log */
    goto out;
  }
  if (n / EXTENTS_PER_CHUNK >= MAX_EXTENT_CHUNKS) {
    errno = ENOSPC;
    goto out;
  }
  if (!ov->extent_chunks[n / EXTENTS_PER_CHUNK]) {
    ov->extent_chunks[n / EXTENTS_PER_CHUNK] =
      calloc (EXTENTS_PER_CHUNK, sizeof (struct ow_extent));
    if (!ov->extent_chunks[n / EXTENTS_PER_CHUNK])
      goto out;
  }
  e = extent_at (ov, n);
  e->offset = offset;
  e->nslots = nslots;
  e->tag = calloc (nslots, sizeof *e->tag);
  if (!e->tag)
    goto out;
  atomic_store_explicit (&ov->nextents, n + 1, memory_order_release);
  r = 0;
 out:
  return r;
}

int
ow_slots_add_extent (struct ow_overlay *ov, uint64_t offset, uint32_t nslots)
{
  int r;

  pthread_mutex_lock (&ov->extent_lock);
  r = add_extent (ov, offset, nslots);
  pthread_mutex_unlock (&ov->extent_lock);
  return r;
}

static int
fifo_push (struct ow_slot_pool *p, uint64_t slot)
{
  if (p->count == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 256;
    uint64_t *f = malloc (cap * sizeof *f);
    if (!f)
      return -1;
    for (size_t i = 0; i < p->count; i++)
      f[i] = p->fifo[(p->head + i) % p->cap];
    free (p->fifo);
    p->fifo = f;
    p->head = 0;
    p->cap = cap;
  }
  p->fifo[(p->head + p->count) % p->cap] = slot;
  p->count++;
  return 0;
}

static uint64_t
fifo_pop (struct ow_slot_pool *p)
{
  uint64_t slot = p->fifo[p->head];
  p->head = (p->head + 1) % p->cap;
  p->count--;
  return slot;
}

/* A new extent for pool p, which is locked.  A pool's extents start
 * small and double up to OW_EXTENT_BYTES, so a small overlay stays
 * small; they are smaller when max-overlay-size leaves no room for
 * that much.  Extents are reserved and registered under one lock, so
 * the table stays in file order. */
static int
grow_pool (struct ow_overlay *ov, struct ow_slot_pool *p)
{
  uint64_t bytes = p->next_extent ? p->next_extent : 64 * 1024;
  uint32_t n;
  uint64_t off;
  int r;

  n = bytes / ov->block_size ? bytes / ov->block_size : 1;
  pthread_mutex_lock (&ov->extent_lock);
  while ((r = ow_log_append_extent (ov, n, &off)) == -1 && errno == ENOSPC && n > 1)
    n /= 2;
  if (r == 0 && add_extent (ov, off, n) == -1) {
    ow_error ("overlay %s: out of memory for its slot table", ov->path);
    r = -1;
  }
  pthread_mutex_unlock (&ov->extent_lock);
  if (r == -1)
    return -1;
  p->fresh = off;
  p->fresh_end = off + (uint64_t) n * ov->block_size;
  p->next_extent = bytes * 2 < OW_EXTENT_BYTES ? bytes * 2 : OW_EXTENT_BYTES;
  return 0;
}

/* Free or never used slots of another pool, before the file grows. */
static uint32_t
steal (struct ow_overlay *ov, struct ow_slot_pool *mine, uint32_t n, uint64_t *slots)
{
  uint32_t got = 0;

  for (int i = 0; i < OW_SLOT_POOLS && got < n; i++) {
    struct ow_slot_pool *p = &ov->pools[i];
    if (p == mine)
      continue;
    pthread_mutex_lock (&p->lock);
    while (got < n && p->count)
      slots[got++] = fifo_pop (p);
    while (got < n && p->fresh < p->fresh_end) {
      slots[got++] = p->fresh;
      p->fresh += ov->block_size;
    }
    pthread_mutex_unlock (&p->lock);
  }
  return got;
}

int
ow_slots_take (struct ow_overlay *ov, uint32_t n, uint64_t *slots)
{
  struct ow_slot_pool *p = my_pool (ov);
  uint32_t i = 0;

  pthread_mutex_lock (&p->lock);
  /* Reused slots first: they cost no file space. */
  while (i < n && p->count)
    slots[i++] = fifo_pop (p);
  while (i < n && p->fresh < p->fresh_end) {
    slots[i++] = p->fresh;
    p->fresh += ov->block_size;
  }
  pthread_mutex_unlock (&p->lock);
  if (i < n)
    i += steal (ov, p, n - i, slots + i);
  if (i == n)
    return 0;
  pthread_mutex_lock (&p->lock);
  while (i < n) {
    if (p->fresh == p->fresh_end && grow_pool (ov, p) == -1) {
      for (uint32_t k = 0; k < i; k++)
        fifo_push (p, slots[k]);
      pthread_mutex_unlock (&p->lock);
      return -1;
    }
    slots[i++] = p->fresh;
    p->fresh += ov->block_size;
  }
  pthread_mutex_unlock (&p->lock);
  return 0;
}

void
ow_slots_put_back (struct ow_overlay *ov, uint32_t n, const uint64_t *slots)
{
  struct ow_slot_pool *p = my_pool (ov);

  pthread_mutex_lock (&p->lock);
  for (uint32_t i = 0; i < n; i++)
    fifo_push (p, slots[i]);    /* on ENOMEM the slot is only lost */
  pthread_mutex_unlock (&p->lock);
}

void
ow_slots_written (struct ow_overlay *ov, uint32_t n, const uint64_t *slots, uint32_t tag)
{
  for (uint32_t i = 0; i < n; i++) {
    uint32_t k;
    struct ow_extent *e = ow_slots_find (ov, slots[i], &k);
    if (e)
      atomic_store_explicit (&e->tag[k], tag, memory_order_relaxed);
  }
}

void
ow_slots_superseded (struct ow_overlay *ov, uint64_t slot, uint32_t new_tag)
{
  struct ow_slot_pool *p = my_pool (ov);
  uint32_t k, tag, now = atomic_load (&ov->epoch);
  struct ow_extent *e = ow_slots_find (ov, slot, &k);

  if (!e)
    return;
  tag = atomic_load_explicit (&e->tag[k], memory_order_relaxed);
  pthread_mutex_lock (&p->lock);
  if (tag == now && !(now & 1))
    fifo_push (p, slot);
  else {
    if (ow_grow_array (&p->pending, &p->pcap, p->npending + 1, sizeof *p->pending) == -1) {
      pthread_mutex_unlock (&p->lock);
      return;                   /* the slot is only lost */
    }
    /* Free after the flush that covers the superseding record. */
    p->pending[p->npending++] = (struct ow_pending_slot) { slot, (new_tag + 3) & ~1u };
  }
  pthread_mutex_unlock (&p->lock);
}

void
ow_slots_flush_done (struct ow_overlay *ov, uint32_t durable_epoch)
{
  for (int i = 0; i < OW_SLOT_POOLS; i++) {
    struct ow_slot_pool *p = &ov->pools[i];
    size_t keep = 0;

    pthread_mutex_lock (&p->lock);
    for (size_t j = 0; j < p->npending; j++) {
      /* Epochs only grow; compare as a difference to survive the wrap. */
      if ((int32_t) (durable_epoch - p->pending[j].free_at) >= 0)
        fifo_push (p, p->pending[j].slot);
      else
        p->pending[keep++] = p->pending[j];
    }
    p->npending = keep;
    pthread_mutex_unlock (&p->lock);
  }
}

/* After loading: every slot the index does not use is free. */
static int
mark_live (void *opaque, uint64_t block, const struct ow_loc *loc)
{
  struct ow_overlay *ov = opaque;
  uint32_t k;
  struct ow_extent *e;

  if (loc->kind != OW_LOC_DATA || loc->lz4)
    return 0;
  e = ow_slots_find (ov, loc->offset, &k);
  if (!e) {
    errno = EBADMSG;
    return -1;
  }
  e->tag[k] = 1;                /* in use */
  return 0;
}

int
ow_slots_rebuild_free (struct ow_overlay *ov)
{
  size_t n = atomic_load (&ov->nextents);
  unsigned pool = 0;

  if (ow_index_for_each_block (&ov->index, mark_live, ov) != 0)
    return -1;
  for (size_t i = 0; i < n; i++) {
    struct ow_extent *e = extent_at (ov, i);
    for (uint32_t k = 0; k < e->nslots; k++) {
      if (e->tag[k]) {
        e->tag[k] = 0;          /* durable: written before this open */
        continue;
      }
      if (fifo_push (&ov->pools[pool++ % OW_SLOT_POOLS],
                     e->offset + (uint64_t) k * ov->block_size) == -1)
        return -1;
    }
  }
  return 0;
}

uint64_t
ow_slots_count (struct ow_overlay *ov, uint64_t *free_slots)
{
  size_t n = atomic_load (&ov->nextents);
  uint64_t total = 0, nfree = 0;

  for (size_t i = 0; i < n; i++)
    total += extent_at (ov, i)->nslots;
  for (int i = 0; i < OW_SLOT_POOLS; i++) {
    struct ow_slot_pool *p = &ov->pools[i];
    pthread_mutex_lock (&p->lock);
    nfree += p->count + p->npending + (p->fresh_end - p->fresh) / ov->block_size;
    pthread_mutex_unlock (&p->lock);
  }
  if (free_slots)
    *free_slots = nfree;
  return total;
}

int
ow_slots_for_each_extent (struct ow_overlay *ov,
                          int (*fn) (void *opaque, struct ow_extent *e),
                          void *opaque)
{
  size_t n = atomic_load (&ov->nextents);

  for (size_t i = 0; i < n; i++) {
    int r = fn (opaque, extent_at (ov, i));
    if (r)
      return r;
  }
  return 0;
}
