/* oneway: sparse, thread-safe bitmap of blocks.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * Leaves of 32768 bits (4 KiB) are allocated the first time a bit in
 * them is set, so memory follows the set, not the disk: promise 8.
 * Setting and testing are lock-free; leaves are never freed while the
 * bitmap lives.  With dirty tracking on, each leaf in which a bit was
 * newly set is marked, and ow_sbitmap_take drains the marked leaves:
 * that is how new reads reach the log.
 */
#ifndef ONEWAY_SBITMAP_H
#define ONEWAY_SBITMAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OW_SB_LEAF_BITS 32768
#define OW_SB_LEAF_WORDS (OW_SB_LEAF_BITS / 64)

struct ow_sbitmap {
  uint64_t nbits;
  size_t nleaves;
  _Atomic (_Atomic uint64_t *) *leaves;
  _Atomic uint64_t *dirty;      /* one bit per leaf, or NULL */
};

int ow_sbitmap_init (struct ow_sbitmap *sb, uint64_t nbits, bool track_dirty);
void ow_sbitmap_free (struct ow_sbitmap *sb);

bool ow_sbitmap_test (const struct ow_sbitmap *sb, uint64_t bit);

/* Set [first, first + count).  Returns the number of bits that were
 * newly set, or -1 (ENOMEM). */
int64_t ow_sbitmap_set_range (struct ow_sbitmap *sb, uint64_t first, uint64_t count);

/* Set in news (same size) the bits of [first, first + count) that are
 * clear in sb, which is left as it is.  Returns how many, or -1
 * (ENOMEM).  The read set notes new reads so, then sets them in sb:
 * see note_base_read in lib/overlay-io.c for why in that order. */
int64_t ow_sbitmap_note_missing (const struct ow_sbitmap *sb, uint64_t first,
                                 uint64_t count, struct ow_sbitmap *news);

/* OR a whole leaf in (loading a checkpoint or a READSET record). */
int ow_sbitmap_or_leaf (struct ow_sbitmap *sb, size_t leaf, const uint64_t *words);

/* Call fn for each leaf that has bits set, with a snapshot of its
 * words.  Stops at the first non-zero return and returns it. */
int ow_sbitmap_for_each_leaf (struct ow_sbitmap *sb,
                              int (*fn) (void *opaque, size_t leaf,
                                         const uint64_t *words),
                              void *opaque);

/* Take the bits of every marked leaf (they are cleared as they are
 * read, atomically per word, so a bit set meanwhile is either taken
 * now or left for the next call) and hand them to fn.  If fn fails,
 * that leaf's bits and all untaken marks are put back. */
int ow_sbitmap_take (struct ow_sbitmap *sb,
                     int (*fn) (void *opaque, size_t leaf, const uint64_t *words),
                     void *opaque);

/* Return taken bits (a caller that failed after fn succeeded). */
void ow_sbitmap_give_back (struct ow_sbitmap *sb, size_t leaf, const uint64_t *words);

/* Mark a leaf (used when giving back). */
void ow_sbitmap_mark_dirty (struct ow_sbitmap *sb, size_t leaf);

uint64_t ow_sbitmap_count (const struct ow_sbitmap *sb);

/* The first set bit at or after from, or nbits if none; likewise the
 * first clear bit. */
uint64_t ow_sbitmap_next_set (const struct ow_sbitmap *sb, uint64_t from);
uint64_t ow_sbitmap_next_clear (const struct ow_sbitmap *sb, uint64_t from);

#endif
