/* oneway: sparse, thread-safe bitmap of blocks.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "oneway/sbitmap.h"
#include "oneway/util.h"

int
ow_sbitmap_init (struct ow_sbitmap *sb, uint64_t nbits, bool track_dirty)
{
  memset (sb, 0, sizeof *sb);
  sb->nbits = nbits;
  sb->nleaves = (nbits + OW_SB_LEAF_BITS - 1) / OW_SB_LEAF_BITS;
  /* calloc'ed pointer pages that are never touched cost no memory, so
   * even a huge, barely used disk is cheap here. */
  sb->leaves = calloc (sb->nleaves ? sb->nleaves : 1, sizeof *sb->leaves);
  if (!sb->leaves)
    return -1;
  if (track_dirty) {
    sb->dirty = calloc ((sb->nleaves + 63) / 64 + 1, sizeof *sb->dirty);
    if (!sb->dirty) {
      free (sb->leaves);
      return -1;
    }
  }
  return 0;
}

void
ow_sbitmap_free (struct ow_sbitmap *sb)
{
  if (sb->leaves)
    for (size_t i = 0; i < sb->nleaves; i++)
      free ((void *) atomic_load_explicit (&sb->leaves[i], memory_order_relaxed));
  free (sb->leaves);
  free (sb->dirty);
  memset (sb, 0, sizeof *sb);
}

static _Atomic uint64_t *
get_leaf (struct ow_sbitmap *sb, size_t leaf)
{
  _Atomic uint64_t *p = atomic_load_explicit (&sb->leaves[leaf], memory_order_acquire);
  _Atomic uint64_t *expected = NULL;

  if (p)
    return p;
  p = calloc (OW_SB_LEAF_WORDS, sizeof *p);
  if (!p)
    return NULL;
  if (!atomic_compare_exchange_strong_explicit (&sb->leaves[leaf], &expected, p,
                                                memory_order_acq_rel,
                                                memory_order_acquire)) {
    free ((void *) p);          /* another thread won */
    p = expected;
  }
  return p;
}

bool
ow_sbitmap_test (const struct ow_sbitmap *sb, uint64_t bit)
{
  _Atomic uint64_t *leaf;

  if (bit >= sb->nbits)
    return false;
  leaf = atomic_load_explicit (&sb->leaves[bit / OW_SB_LEAF_BITS], memory_order_acquire);
  if (!leaf)
    return false;
  bit %= OW_SB_LEAF_BITS;
  return atomic_load_explicit (&leaf[bit / 64], memory_order_relaxed) >> (bit % 64) & 1;
}

void
ow_sbitmap_mark_dirty (struct ow_sbitmap *sb, size_t leaf)
{
  if (sb->dirty)
    atomic_fetch_or (&sb->dirty[leaf / 64], UINT64_C (1) << (leaf % 64));
}

/* Call fn for each word that [first, first + count) touches, with its
 * leaf, its index in the leaf and the mask of the range's bits in it;
 * add up what fn returns, or stop at -1. */
static int64_t
walk_range (uint64_t nbits, uint64_t first, uint64_t count,
            int64_t (*fn) (void *opaque, size_t leaf, size_t word, uint64_t mask),
            void *opaque)
{
  int64_t total = 0;
  uint64_t end;

  if (first >= nbits)
    return 0;
  end = count > nbits - first ? nbits : first + count;
  while (first < end) {
    uint64_t off = first % OW_SB_LEAF_BITS;
    unsigned shift = off % 64;
    uint64_t n = ow_min64 (64 - shift, end - first);
    uint64_t mask = (n == 64 ? ~UINT64_C (0) : ((UINT64_C (1) << n) - 1)) << shift;
    int64_t r = fn (opaque, first / OW_SB_LEAF_BITS, off / 64, mask);

    if (r == -1)
      return -1;
    total += r;
    first += n;
  }
  return total;
}

static int64_t
set_word (void *opaque, size_t li, size_t w, uint64_t mask)
{
  struct ow_sbitmap *sb = opaque;
  _Atomic uint64_t *leaf = get_leaf (sb, li);
  uint64_t fresh;

  if (!leaf) {
    errno = ENOMEM;
    return -1;
  }
  /* A plain load first: the common case (already set) then costs no
   * write to a shared cache line. */
  if ((atomic_load_explicit (&leaf[w], memory_order_relaxed) & mask) == mask)
    return 0;
  fresh = mask & ~atomic_fetch_or (&leaf[w], mask);
  if (fresh)
    ow_sbitmap_mark_dirty (sb, li);
  return __builtin_popcountll (fresh);
}

int64_t
ow_sbitmap_set_range (struct ow_sbitmap *sb, uint64_t first, uint64_t count)
{
  return walk_range (sb->nbits, first, count, set_word, sb);
}

struct note {
  const struct ow_sbitmap *sb;
  struct ow_sbitmap *news;
};

static int64_t
note_word (void *opaque, size_t li, size_t w, uint64_t mask)
{
  struct note *nt = opaque;
  _Atomic uint64_t *leaf = atomic_load_explicit (&nt->sb->leaves[li], memory_order_acquire);
  uint64_t missing = mask & ~(leaf ? atomic_load (&leaf[w]) : 0);
  _Atomic uint64_t *nleaf;

  if (!missing)
    return 0;
  nleaf = get_leaf (nt->news, li);
  if (!nleaf) {
    errno = ENOMEM;
    return -1;
  }
  atomic_fetch_or (&nleaf[w], missing);
  ow_sbitmap_mark_dirty (nt->news, li);
  return __builtin_popcountll (missing);
}

int64_t
ow_sbitmap_note_missing (const struct ow_sbitmap *sb, uint64_t first, uint64_t count,
                         struct ow_sbitmap *news)
{
  struct note nt = { sb, news };

  return walk_range (sb->nbits, first, count, note_word, &nt);
}

int
ow_sbitmap_or_leaf (struct ow_sbitmap *sb, size_t li, const uint64_t *words)
{
  _Atomic uint64_t *leaf;

  if (li >= sb->nleaves) {
    errno = ERANGE;
    return -1;
  }
  leaf = get_leaf (sb, li);
  if (!leaf) {
    errno = ENOMEM;
    return -1;
  }
  for (size_t i = 0; i < OW_SB_LEAF_WORDS; i++)
    if (words[i])
      atomic_fetch_or (&leaf[i], words[i]);
  /* Bits past nbits in the last leaf are not ours to keep. */
  if ((li + 1) * (uint64_t) OW_SB_LEAF_BITS > sb->nbits) {
    uint64_t valid = sb->nbits - li * (uint64_t) OW_SB_LEAF_BITS;
    for (size_t i = valid / 64; i < OW_SB_LEAF_WORDS; i++) {
      uint64_t keep = i == valid / 64 && valid % 64
        ? (UINT64_C (1) << (valid % 64)) - 1 : 0;
      atomic_fetch_and (&leaf[i], keep);
    }
  }
  return 0;
}

int
ow_sbitmap_for_each_leaf (struct ow_sbitmap *sb,
                          int (*fn) (void *, size_t, const uint64_t *),
                          void *opaque)
{
  uint64_t words[OW_SB_LEAF_WORDS];

  for (size_t li = 0; li < sb->nleaves; li++) {
    _Atomic uint64_t *leaf = atomic_load_explicit (&sb->leaves[li], memory_order_acquire);
    bool any = false;
    int r;

    if (!leaf)
      continue;
    for (size_t i = 0; i < OW_SB_LEAF_WORDS; i++) {
      words[i] = atomic_load_explicit (&leaf[i], memory_order_relaxed);
      any |= words[i] != 0;
    }
    if (any && (r = fn (opaque, li, words)))
      return r;
  }
  return 0;
}

/* Put taken bits back, and their leaf's mark. */
static void
give_back (struct ow_sbitmap *sb, size_t li, const uint64_t *words)
{
  _Atomic uint64_t *leaf = atomic_load (&sb->leaves[li]);

  for (size_t i = 0; i < OW_SB_LEAF_WORDS; i++)
    if (words[i])
      atomic_fetch_or (&leaf[i], words[i]);
  ow_sbitmap_mark_dirty (sb, li);
}

int
ow_sbitmap_take (struct ow_sbitmap *sb,
                 int (*fn) (void *, size_t, const uint64_t *), void *opaque)
{
  uint64_t words[OW_SB_LEAF_WORDS];

  if (!sb->dirty)
    return 0;
  for (size_t w = 0; w < (sb->nleaves + 63) / 64; w++) {
    uint64_t bits = atomic_exchange (&sb->dirty[w], 0);
    while (bits) {
      size_t li = w * 64 + __builtin_ctzll (bits);
      _Atomic uint64_t *leaf = atomic_load (&sb->leaves[li]);
      bool any = false;
      int r;

      bits &= bits - 1;
      for (size_t i = 0; i < OW_SB_LEAF_WORDS; i++) {
        words[i] = atomic_exchange (&leaf[i], 0);
        any |= words[i] != 0;
      }
      if (!any)
        continue;
      r = fn (opaque, li, words);
      if (r) {
        /* Nothing may be forgotten: this leaf and the rest keep their
         * bits for the next taker. */
        give_back (sb, li, words);
        for (; bits; bits &= bits - 1)
          ow_sbitmap_mark_dirty (sb, w * 64 + __builtin_ctzll (bits));
        return r;
      }
    }
  }
  return 0;
}

void
ow_sbitmap_give_back (struct ow_sbitmap *sb, size_t leaf, const uint64_t *words)
{
  give_back (sb, leaf, words);
}

uint64_t
ow_sbitmap_count (const struct ow_sbitmap *sb)
{
  uint64_t n = 0;

  for (size_t li = 0; li < sb->nleaves; li++) {
    _Atomic uint64_t *leaf = atomic_load_explicit (&sb->leaves[li], memory_order_acquire);
    if (leaf)
      for (size_t i = 0; i < OW_SB_LEAF_WORDS; i++)
        n += __builtin_popcountll (atomic_load_explicit (&leaf[i], memory_order_relaxed));
  }
  return n;
}

/* Shared walk for next_set / next_clear: want is the bit value sought. */
static uint64_t
next_bit (const struct ow_sbitmap *sb, uint64_t from, bool want)
{
  while (from < sb->nbits) {
    size_t li = from / OW_SB_LEAF_BITS;
    _Atomic uint64_t *leaf = atomic_load_explicit (&sb->leaves[li], memory_order_acquire);
    uint64_t leaf_end = ow_min64 (((uint64_t) li + 1) * OW_SB_LEAF_BITS, sb->nbits);

    if (!leaf) {
      if (!want)
        return from;
      from = leaf_end;
      continue;
    }
    while (from < leaf_end) {
      uint64_t off = from % OW_SB_LEAF_BITS;
      uint64_t w = atomic_load_explicit (&leaf[off / 64], memory_order_relaxed);
      if (!want)
        w = ~w;
      w &= ~UINT64_C (0) << (off % 64);
      if (w) {
        uint64_t r = from - off % 64 + __builtin_ctzll (w);
        return r < sb->nbits ? r : sb->nbits;
      }
      from += 64 - off % 64;
    }
  }
  return sb->nbits;
}

uint64_t
ow_sbitmap_next_set (const struct ow_sbitmap *sb, uint64_t from)
{
  return next_bit (sb, from, true);
}

uint64_t
ow_sbitmap_next_clear (const struct ow_sbitmap *sb, uint64_t from)
{
  return next_bit (sb, from, false);
}
