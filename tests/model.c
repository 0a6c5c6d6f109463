/* oneway: what a workload did to an overlay, and what a crash may leave.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "testlib.h"

void
model_init (struct model *m, struct memfile *file, const char *base,
            uint32_t bs, uint64_t nblocks)
{
  memset (m, 0, sizeof *m);
  m->file = file;
  m->base = base;
  m->bs = bs;
  m->nblocks = nblocks;
  pthread_mutex_init (&m->lock, NULL);
}

void
model_free (struct model *m)
{
  free (m->ops);
  pthread_mutex_destroy (&m->lock);
}

static void
add_op (struct model *m, struct model_op op)
{
  pthread_mutex_lock (&m->lock);
  if (m->nops == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 64;
    m->ops = realloc (m->ops, m->cap * sizeof *m->ops);
    ck_assert_ptr_nonnull (m->ops);
  }
  m->ops[m->nops++] = op;
  pthread_mutex_unlock (&m->lock);
}

/* The content of block b as op left it (NULL op: the base).  Odd
 * values are made to compress well, so that lz4 overlays store both
 * kinds of block. */
static void
content (const struct model *m, const struct model_op *op, uint64_t b, uint8_t *out)
{
  if (op && op->kind == 'z')
    memset (out, 0, m->bs);
  else if (op && op->value % 2) {
    tl_fill (out, 64, b * m->bs, op->value);
    for (uint32_t i = 64; i < m->bs; i += 64)
      memcpy (out + i, out, 64);
  }
  else
    tl_fill (out, m->bs, b * m->bs, op ? op->value : MODEL_BASE_SEED);
}

static size_t
finish (struct model *m, int r)
{
  return r == 0 ? mf_mark (m->file) : MODEL_NOT_DONE;
}

int
model_write (struct model *m, struct ow_overlay *ov, uint64_t first, uint32_t count,
             uint32_t value)
{
  struct model_op op = { 'w', first, count, value, mf_mark (m->file), 0 };
  uint8_t *buf = malloc ((size_t) count * m->bs);
  int r;

  ck_assert_ptr_nonnull (buf);
  for (uint32_t i = 0; i < count; i++)
    content (m, &op, first + i, buf + (size_t) i * m->bs);
  r = ow_pwrite (ov, buf, (uint64_t) count * m->bs, first * m->bs, false);
  op.done = finish (m, r);
  add_op (m, op);
  free (buf);
  return r;
}

int
model_zero (struct model *m, struct ow_overlay *ov, uint64_t first, uint32_t count)
{
  struct model_op op = { 'z', first, count, 0, mf_mark (m->file), 0 };
  int r = ow_zero (ov, (uint64_t) count * m->bs, first * m->bs, false);

  op.done = finish (m, r);
  add_op (m, op);
  return r;
}

/* Only of blocks no one writes: they must read as the base. */
int
model_read (struct model *m, struct ow_overlay *ov, uint64_t first, uint32_t count)
{
  struct model_op op = { 'r', first, count, 0, mf_mark (m->file), 0 };
  uint8_t *buf = malloc ((size_t) count * m->bs), *want = malloc (m->bs);
  int r;

  ck_assert_ptr_nonnull (buf);
  ck_assert_ptr_nonnull (want);
  r = ow_pread (ov, buf, (uint64_t) count * m->bs, first * m->bs);
  op.done = finish (m, r);
  for (uint32_t i = 0; r == 0 && i < count; i++) {
    content (m, NULL, first + i, want);
    ck_assert_msg (memcmp (buf + (size_t) i * m->bs, want, m->bs) == 0,
                   "block %lu does not read as the base", (unsigned long) (first + i));
  }
  add_op (m, op);
  free (buf);
  free (want);
  return r;
}

int
model_flush (struct model *m, struct ow_overlay *ov)
{
  struct model_op op = { 'f', 0, 0, 0, mf_mark (m->file), 0 };
  int r = ow_flush (ov);

  op.done = finish (m, r);
  add_op (m, op);
  return r;
}

struct ow_overlay *
model_open (struct model *m, int compress)
{
  struct ow_open_params p = { .overlay = "sim.ow", .base = m->base, .writable = true,
                              .block_size = m->bs, .compress = compress,
                              .track_reads = 1, .ops = &mf_ops, .ops_handle = m->file };
  struct ow_overlay *ov;

  ck_assert_msg (ow_open (&p, &ov) == 0, "cannot create the overlay: %s", tl_last_error ());
  return ov;
}

static int
add_read (void *opaque, uint64_t first, uint64_t count)
{
  uint8_t *set = opaque;

  memset (set + first, 1, count);
  return 0;
}

/* Does the view hold at block b a value the promises allow? */
static void
check_block (const struct model *m, const uint8_t *view, uint64_t b, size_t upto,
             bool power, size_t flushed_before, const char *what)
{
  const struct model_op *floor = NULL;
  uint8_t *want = malloc (m->bs);
  bool ok = false, past_floor;

  ck_assert_ptr_nonnull (want);
  /* The newest value that must have survived: ops were recorded in
   * the order they returned, but a block's writes never overlap, so
   * that is also their order. */
  for (size_t i = 0; i < m->nops; i++) {
    const struct model_op *op = &m->ops[i];
    if ((op->kind == 'w' || op->kind == 'z') && b >= op->first && b < op->first + op->count
        && op->done < flushed_before)
      floor = op;
  }
  past_floor = floor == NULL;
  if (past_floor) {
    content (m, NULL, b, want);
    ok = memcmp (view, want, m->bs) == 0;
  }
  for (size_t i = 0; i < m->nops && !ok; i++) {
    const struct model_op *op = &m->ops[i];
    if (op == floor)
      past_floor = true;
    if (!past_floor || (op->kind != 'w' && op->kind != 'z') || op->issued >= upto
        || b < op->first || b >= op->first + op->count)
      continue;
    content (m, op, b, want);
    ok = memcmp (view, want, m->bs) == 0;
  }
  free (want);
  if (!ok)
    ck_abort_msg ("%s, %s: block %lu holds no value it may have: lost a durable write, "
                  "or torn, or invented (newest durable value: %s %u)", what,
                  power ? "power cut" : "process killed", (unsigned long) b,
                  floor ? (floor->kind == 'z' ? "zeroes" : "write of seed") : "base",
                  floor ? floor->value : 0);
}

void
model_check (struct model *m, size_t upto, bool power, unsigned *rng, const char *what)
{
  struct memfile surv;
  struct ow_open_params p = { .overlay = "sim.ow", .base = m->base, .writable = true,
                              .compress = -1, .track_reads = 1, .ops = &mf_ops,
                              .ops_handle = &surv };
  struct ow_overlay *ov;
  uint8_t *view = malloc (m->nblocks * m->bs), *read = calloc (m->nblocks, 1);
  size_t flushed_before = 0;    /* writes and reads returned by then are durable */

  ck_assert_ptr_nonnull (view);
  ck_assert_ptr_nonnull (read);
  for (size_t i = 0; i < m->nops; i++)
    if (m->ops[i].kind == 'f' && m->ops[i].done < upto && m->ops[i].issued > flushed_before)
      flushed_before = m->ops[i].issued;
  mf_survivor (m->file, upto, power, rng, &surv);
  /* Pass 0: the plugin's recovery; pass 1: reading its result back. */
  for (int pass = 0; pass < 2; pass++) {
    p.writable = pass == 0;
    if (ow_open (&p, &ov) == -1)
      ck_abort_msg ("%s, %s: recovery failed: %s", what,
                    power ? "power cut" : "process killed", tl_last_error ());
    /* The read set first: reading the view adds to it. */
    memset (read, 0, m->nblocks);
    ck_assert_int_eq (ow_read_ranges (ov, add_read, read), 0);
    for (size_t i = 0; i < m->nops; i++) {
      const struct model_op *op = &m->ops[i];
      if (op->kind != 'r' || op->done >= flushed_before)
        continue;
      for (uint64_t b = op->first; b < op->first + op->count; b++)
        if (!read[b])
          ck_abort_msg ("%s, %s: block %lu was read before a flush that completed, "
                        "but is missing from the read set", what,
                        power ? "power cut" : "process killed", (unsigned long) b);
    }
    ck_assert_int_eq (ow_pread (ov, view, m->nblocks * m->bs, 0), 0);
    for (uint64_t b = 0; b < m->nblocks; b++)
      check_block (m, view + b * m->bs, b, upto, power, flushed_before, what);
    ck_assert_int_eq (ow_close (ov), 0);
  }
  mf_free (&surv);
  free (view);
  free (read);
}
