/* oneway: unit tests of the index and the sparse bitmap.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "oneway/index.h"
#include "oneway/sbitmap.h"
#include "testlib.h"

static struct ow_loc
data_at (uint64_t off, uint32_t len)
{
  return (struct ow_loc) { .kind = OW_LOC_DATA, .offset = off, .length = len, .lz4 = len < 4096 };
}

START_TEST (test_pack)
{
  struct ow_loc a = { OW_LOC_DATA, OW_LOC_MAX_OFFSET, 65536, true }, b;
  ow_loc_unpack (ow_loc_pack (&a), &b);
  ck_assert_int_eq (b.kind, OW_LOC_DATA);
  ck_assert_uint_eq (b.offset, OW_LOC_MAX_OFFSET);
  ck_assert_uint_eq (b.length, 65536);
  ck_assert (b.lz4);
  a = (struct ow_loc) { OW_LOC_ZERO, 0, 0, false };
  ow_loc_unpack (ow_loc_pack (&a), &b);
  ck_assert_int_eq (b.kind, OW_LOC_ZERO);
}
END_TEST

static void
note_removed (void *opaque, uint64_t block, const struct ow_loc *old)
{
  (*(int *) opaque)++;
}

START_TEST (test_replace)
{
  struct ow_index ix;
  struct ow_loc l, old, d1 = data_at (10000, 4096), d2 = data_at (20000, 100);
  int removed = 0;

  ck_assert_int_eq (ow_index_init (&ix, 1000), 0);
  ow_index_lookup (&ix, 5, &l);
  ck_assert_int_eq (l.kind, OW_LOC_BASE);
  ck_assert_int_eq (ow_index_set (&ix, 5, &d1, &old), 0);
  ck_assert_int_eq (old.kind, OW_LOC_BASE);
  ck_assert_int_eq (ow_index_set (&ix, 5, &d2, &old), 0);       /* replaces */
  ck_assert_int_eq (old.kind, OW_LOC_DATA);
  ck_assert_uint_eq (old.offset, 10000);
  ow_index_lookup (&ix, 5, &l);
  ck_assert_uint_eq (l.offset, 20000);
  ck_assert_uint_eq (ix.live_bytes, 100);
  ck_assert_int_eq (ow_index_set (&ix, 6, &d1, NULL), 0);
  /* A large zero range hides the entries and says which it removed. */
  ck_assert_int_eq (ow_index_set_zero_range (&ix, 0, 500, note_removed, &removed), 0);
  ck_assert_int_eq (removed, 2);
  ow_index_lookup (&ix, 5, &l);
  ck_assert_int_eq (l.kind, OW_LOC_ZERO);
  ck_assert_uint_eq (ix.live_bytes, 0);
  ck_assert_uint_eq (ow_index_block_entries (&ix), 0);
  /* A write after it wins inside it. */
  ck_assert_int_eq (ow_index_set (&ix, 7, &d2, NULL), 0);
  ow_index_lookup (&ix, 7, &l);
  ck_assert_int_eq (l.kind, OW_LOC_DATA);
  ow_index_lookup (&ix, 8, &l);
  ck_assert_int_eq (l.kind, OW_LOC_ZERO);
  ow_index_lookup (&ix, 500, &l);
  ck_assert_int_eq (l.kind, OW_LOC_BASE);
  /* Small zero ranges are entries, and report what they replace too. */
  removed = 0;
  ck_assert_int_eq (ow_index_set_zero_range (&ix, 6, 3, note_removed, &removed), 0);
  ck_assert_int_eq (removed, 1);
  ck_assert_uint_eq (ow_index_next_known (&ix, 600), 1000);
  ck_assert_uint_eq (ow_index_zero_run_end (&ix, 100), 500);
  ow_index_free (&ix);
}
END_TEST

/* Model: per block, what the last update made it. */
struct model { uint64_t off; enum ow_loc_kind kind; };

static void
model_check (struct ow_index *ix, const struct model *m, uint64_t n)
{
  for (uint64_t b = 0; b < n; b++) {
    struct ow_loc l;
    ow_index_lookup (ix, b, &l);
    ck_assert_msg (l.kind == m[b].kind && (l.kind != OW_LOC_DATA || l.offset == m[b].off),
                   "block %lu: kind %d off %lu, want kind %d off %lu",
                   (unsigned long) b, l.kind, (unsigned long) l.offset,
                   m[b].kind, (unsigned long) m[b].off);
  }
}

START_TEST (test_random_against_model)
{
  const uint64_t n = 50000;
  struct ow_index ix;
  struct model *m = calloc (n, sizeof *m);

  srandom (1234);
  ck_assert_int_eq (ow_index_init (&ix, n), 0);
  for (int round = 0; round < 40; round++) {
    for (int i = 0; i < 2000; i++) {
      int op = random () % 100;
      uint64_t o = 8192 + random () % (1 << 30);
      if (op < 80) {
        uint64_t b = random () % n;
        struct ow_loc l = data_at (o, 1 + random () % 4096);
        ck_assert_int_eq (ow_index_set (&ix, b, &l, NULL), 0);
        m[b] = (struct model) { o, OW_LOC_DATA };
      }
      else {
        uint64_t first = random () % n;
        uint64_t count = op < 95 ? 1 + random () % 300 : 1 + random () % 20000;
        if (count > n - first)
          count = n - first;
        ck_assert_int_eq (ow_index_set_zero_range (&ix, first, count, NULL, NULL), 0);
        for (uint64_t b = first; b < first + count; b++)
          m[b] = (struct model) { 0, OW_LOC_ZERO };
      }
    }
    model_check (&ix, m, n);
  }
  ck_assert_uint_gt (ow_index_block_entries (&ix), 0);
  ow_index_free (&ix);
  free (m);
}
END_TEST

START_TEST (test_memory_per_block)
{
  /* Dense writes: the table costs at most 32 bytes per entry. */
  const uint64_t n = 1 << 18;
  struct ow_index ix;

  ck_assert_int_eq (ow_index_init (&ix, n), 0);
  for (uint64_t b = 0; b < n; b++) {
    struct ow_loc l = data_at (8192 + b * 4136, 4096);
    ck_assert_int_eq (ow_index_set (&ix, b, &l, NULL), 0);
  }
  ck_assert_uint_le (ow_index_memory (&ix), 32 * n);
  ow_index_free (&ix);
}
END_TEST

START_TEST (test_sbitmap)
{
  struct ow_sbitmap sb;
  const uint64_t n = 3 * OW_SB_LEAF_BITS + 100;

  ck_assert_int_eq (ow_sbitmap_init (&sb, n, true), 0);
  ck_assert (!ow_sbitmap_test (&sb, 5));
  ck_assert_int_eq (ow_sbitmap_set_range (&sb, 60, 10), 10);
  ck_assert_int_eq (ow_sbitmap_set_range (&sb, 65, 10), 5);
  ck_assert_int_eq (ow_sbitmap_set_range (&sb, OW_SB_LEAF_BITS - 3, 6), 6);
  ck_assert_int_eq (ow_sbitmap_set_range (&sb, n - 2, 100), 2);   /* clipped */
  ck_assert (ow_sbitmap_test (&sb, 60) && ow_sbitmap_test (&sb, 74));
  ck_assert (!ow_sbitmap_test (&sb, 59) && !ow_sbitmap_test (&sb, 75));
  ck_assert_uint_eq (ow_sbitmap_count (&sb), 15 + 6 + 2);
  ck_assert_uint_eq (ow_sbitmap_next_set (&sb, 0), 60);
  ck_assert_uint_eq (ow_sbitmap_next_clear (&sb, 60), 75);
  ck_assert_uint_eq (ow_sbitmap_next_set (&sb, 75), OW_SB_LEAF_BITS - 3);
  ck_assert_uint_eq (ow_sbitmap_next_clear (&sb, OW_SB_LEAF_BITS - 3), OW_SB_LEAF_BITS + 3);
  ck_assert_uint_eq (ow_sbitmap_next_set (&sb, OW_SB_LEAF_BITS + 3), n - 2);
  ck_assert_uint_eq (ow_sbitmap_next_clear (&sb, n - 2), n);
  ow_sbitmap_free (&sb);
}
END_TEST

static int
count_leaf (void *opaque, size_t leaf, const uint64_t *words)
{
  int *n = opaque;
  for (size_t i = 0; i < OW_SB_LEAF_WORDS; i++)
    n[0] += __builtin_popcountll (words[i]);
  n[1]++;
  return 0;
}

static int
fail_leaf (void *opaque, size_t leaf, const uint64_t *words)
{
  return -1;
}

/* As the read set notes a read: the new bits to news, then to sb. */
static int64_t
note_and_set (struct ow_sbitmap *sb, uint64_t first, uint64_t count,
              struct ow_sbitmap *news)
{
  int64_t n = ow_sbitmap_note_missing (sb, first, count, news);

  ck_assert_int_eq (ow_sbitmap_set_range (sb, first, count), n);
  return n;
}

START_TEST (test_sbitmap_take)
{
  struct ow_sbitmap sb, news, copy;
  uint64_t words[OW_SB_LEAF_WORDS];
  int n[2] = { 0, 0 };

  ck_assert_int_eq (ow_sbitmap_init (&sb, 10 * OW_SB_LEAF_BITS, false), 0);
  ck_assert_int_eq (ow_sbitmap_init (&news, 10 * OW_SB_LEAF_BITS, true), 0);
  /* Only newly set bits are noted. */
  ck_assert_int_eq (note_and_set (&sb, 3, 5, &news), 5);
  ck_assert_int_eq (note_and_set (&sb, 5, 5, &news), 2);
  ck_assert_int_eq (note_and_set (&sb, 5 * OW_SB_LEAF_BITS + 9, 1, &news), 1);
  ck_assert_int_eq (ow_sbitmap_take (&news, count_leaf, n), 0);
  ck_assert_int_eq (n[0], 8);
  ck_assert_int_eq (n[1], 2);
  ck_assert_uint_eq (ow_sbitmap_count (&news), 0);      /* taken */
  n[0] = n[1] = 0;
  ck_assert_int_eq (ow_sbitmap_take (&news, count_leaf, n), 0);
  ck_assert_int_eq (n[1], 0);
  /* Already set in sb: nothing new. */
  ck_assert_int_eq (note_and_set (&sb, 3, 7, &news), 0);
  ck_assert_int_eq (ow_sbitmap_take (&news, count_leaf, n), 0);
  ck_assert_int_eq (n[1], 0);
  /* A failing taker loses nothing. */
  ck_assert_int_eq (note_and_set (&sb, 20, 3, &news), 3);
  ck_assert_int_eq (note_and_set (&sb, 7 * OW_SB_LEAF_BITS, 4, &news), 4);
  ck_assert_int_eq (ow_sbitmap_take (&news, fail_leaf, NULL), -1);
  ck_assert_uint_eq (ow_sbitmap_count (&news), 7);
  ck_assert_int_eq (ow_sbitmap_take (&news, count_leaf, n), 0);
  ck_assert_int_eq (n[0], 7);
  /* Snapshots of every leaf with bits. */
  n[0] = n[1] = 0;
  ck_assert_int_eq (ow_sbitmap_for_each_leaf (&sb, count_leaf, n), 0);
  ck_assert_int_eq (n[0], 8 + 3 + 4);
  ck_assert_int_eq (n[1], 3);
  /* OR-ing a leaf in masks bits past the end. */
  ck_assert_int_eq (ow_sbitmap_init (&copy, 100, false), 0);
  memset (words, 0xff, sizeof words);
  ck_assert_int_eq (ow_sbitmap_or_leaf (&copy, 0, words), 0);
  ck_assert_uint_eq (ow_sbitmap_count (&copy), 100);
  ck_assert_int_eq (ow_sbitmap_or_leaf (&copy, 1, words), -1);
  ow_sbitmap_free (&copy);
  ow_sbitmap_free (&news);
  ow_sbitmap_free (&sb);
}
END_TEST

static void
add_tests (TCase *tc)
{
  tcase_set_timeout (tc, 60);
  tcase_add_test (tc, test_pack);
  tcase_add_test (tc, test_replace);
  tcase_add_test (tc, test_random_against_model);
  tcase_add_test (tc, test_memory_per_block);
  tcase_add_test (tc, test_sbitmap);
  tcase_add_test (tc, test_sbitmap_take);
}

int
main (void)
{
  return tl_run ("index", add_tests);
}
