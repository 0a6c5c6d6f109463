/* oneway: the in-memory index of the overlay: block -> where it lives.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * Two parts.  Single blocks (written data, or zeroes from small zero
 * and trim requests) live in a hash table split into shards, each with
 * its own lock, so parallel requests rarely meet.  Large zeroed or
 * trimmed ranges (mkfs discarding a whole disk) live in an interval
 * list, so that they cost memory per range, not per block.
 *
 * A later update of a block replaces the earlier one; callers apply
 * updates in log order (overlay-io.c: stripe locks), so the index
 * always equals what replaying the log gives, which is what makes a
 * restart show the same view (promise 3).
 */
#ifndef ONEWAY_INDEX_H
#define ONEWAY_INDEX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "oneway/sbitmap.h"

enum ow_loc_kind { OW_LOC_BASE, OW_LOC_ZERO, OW_LOC_DATA };

/* A DATA block is stored raw in a slot (length = block size, not lz4)
 * or compressed inside its record (lz4). */
struct ow_loc {
  enum ow_loc_kind kind;
  uint64_t offset;              /* DATA: of the stored bytes */
  uint32_t length;              /* DATA: stored length */
  bool lz4;
};

/* Ranges at least this long go to the interval list. */
#define OW_ZERO_RANGE_MIN 256

#define OW_INDEX_SHARDS 64

struct ow_index_shard;
struct ow_zrange { uint64_t start, end; };

struct ow_index {
  uint64_t nblocks;
  struct ow_index_shard *shards;
  /* Filter: a block that was never given an entry needs no hash probe;
   * this keeps reads of base data, the most common request, cheap. */
  struct ow_sbitmap has_entry;
  pthread_rwlock_t zlock;
  struct ow_zrange *zranges;    /* sorted, disjoint */
  size_t nzranges, zcap;
  atomic_bool any_zranges;
  _Atomic uint64_t live_bytes;  /* stored bytes still referenced */
};

int ow_index_init (struct ow_index *ix, uint64_t nblocks);
void ow_index_free (struct ow_index *ix);

void ow_index_lookup (struct ow_index *ix, uint64_t block, struct ow_loc *loc);

/* Record that block now lives at loc (DATA or ZERO); *old (if not
 * NULL) gets the single entry this replaces (BASE if none).  -1 on
 * ENOMEM. */
int ow_index_set (struct ow_index *ix, uint64_t block, const struct ow_loc *loc,
                  struct ow_loc *old);

/* count blocks from first now read as zeroes; fn (if not NULL) is told
 * of each DATA entry this replaces. */
int ow_index_set_zero_range (struct ow_index *ix, uint64_t first, uint64_t count,
                             void (*fn) (void *opaque, uint64_t block,
                                         const struct ow_loc *old),
                             void *opaque);

/* The first block at or after block that the index may know about
 * (nblocks or more if none): every block before it reads from the base. */
uint64_t ow_index_next_known (struct ow_index *ix, uint64_t block);

/* For a block that reads as zero: where the run of blocks that
 * certainly read as zero too ends (at least block + 1). */
uint64_t ow_index_zero_run_end (struct ow_index *ix, uint64_t block);

/* Single-block entries, in no particular order; shards are locked one
 * at a time, so run this only when nothing writes (offline, or close). */
int ow_index_for_each_block (struct ow_index *ix,
                             int (*fn) (void *opaque, uint64_t block,
                                        const struct ow_loc *loc),
                             void *opaque);

/* The interval list, sorted (same caveat). */
int ow_index_for_each_zrange (struct ow_index *ix,
                              int (*fn) (void *opaque, uint64_t first, uint64_t count),
                              void *opaque);

uint64_t ow_index_block_entries (struct ow_index *ix);

/* Bytes of memory the index uses, for the benchmark's per-block cost. */
uint64_t ow_index_memory (struct ow_index *ix);

/* Packing of a location into 64 bits, as the hash table and the
 * checkpoint store it: offset 46 bits, length 17 bits, lz4 1 bit. */
#define OW_LOC_MAX_OFFSET ((UINT64_C (1) << 46) - 1)
uint64_t ow_loc_pack (const struct ow_loc *loc);
void ow_loc_unpack (uint64_t v, struct ow_loc *loc);

#endif
