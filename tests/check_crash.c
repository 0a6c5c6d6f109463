/* oneway: crash-point test of the overlay engine.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * An overlay's whole life is crashed at every file operation in turn:
 * its creation, a workload, the clean close that writes the
 * checkpoint, the reopening that loads it and drops it, a second
 * workload and close.  The file is simulated in memory (memfile.h) and
 * fails at its Nth write, sync or truncate; both kinds of crash are
 * replayed from it, the process's death and a power cut.  The engine
 * recovers each survivor, and must show a view where every block holds
 * a value it had at some point since the last completed flush (never
 * older, never a mix, never garbage), and a read set holding every
 * base read made before that flush.  Recovery itself is crashed too,
 * at each of its operations, and the survivor recovered again.  A real
 * file is crashed the same way at each call of the plain-file backend
 * (pwritev, ftruncate, fdatasync, the directory's fsync), by failing
 * it and everything after, as a killed process leaves it.
 */
#include <config.h>

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memfile.h"
#include "oneway/overlay.h"
#include "oneway/test-hooks.h"
#include "testlib.h"

/* ---- the workload and its model ---- */

#define DISK (2 * 1024 * 1024)

struct run {
  uint32_t bs;
  int compress;
  unsigned seed;
  bool created;                 /* the overlay was made: it holds the promises */
  const char *base;
  /* images[k][b]: block b of the disk after k operations (image 0 is
   * the base).  Blocks an operation leaves alone are shared with the
   * image before; every block buffer is also in blocks, to be freed. */
  uint8_t ***images;
  int nimages;
  uint8_t **blocks;
  size_t nblocks_alloc;
  int flushed;                  /* image index as of the last completed flush */
  int completed;                /* image index after the last completed op */
  int attempted;                /* image index if the failing op had completed */
  uint8_t *touched;             /* per block: written since the start */
  uint8_t *base_read;           /* per block: read from the base */
  uint8_t *read_at_flush;       /* base_read as of the last completed flush */
  uint8_t *read_at_write;       /* base_read as of the last completed write */
};

static uint8_t *
new_block (struct run *r, const uint8_t *from)
{
  uint8_t *p = malloc (r->bs);
  memcpy (p, from, r->bs);
  r->blocks = realloc (r->blocks, (r->nblocks_alloc + 1) * sizeof *r->blocks);
  r->blocks[r->nblocks_alloc++] = p;
  return p;
}

/* A new image: the last one with src (or zeroes) at [off, off + len). */
static void
push_image (struct run *r, uint64_t off, uint64_t len, const uint8_t *src)
{
  size_t nb = DISK / r->bs;
  uint8_t **img = malloc (nb * sizeof *img);

  memcpy (img, r->images[r->nimages - 1], nb * sizeof *img);
  for (uint64_t b = off / r->bs; b <= (off + len - 1) / r->bs; b++) {
    uint64_t s = b * r->bs > off ? b * r->bs : off;
    uint64_t e = (b + 1) * r->bs < off + len ? (b + 1) * r->bs : off + len;
    img[b] = new_block (r, img[b]);
    if (src)
      memcpy (img[b] + (s - b * r->bs), src + (s - off), e - s);
    else
      memset (img[b] + (s - b * r->bs), 0, e - s);
  }
  r->images = realloc (r->images, (r->nimages + 1) * sizeof *r->images);
  r->images[r->nimages++] = img;
}

static void
note_base_reads (struct run *r, uint64_t off, uint64_t len)
{
  for (uint64_t b = off / r->bs; b <= (off + len - 1) / r->bs; b++)
    if (!r->touched[b])
      r->base_read[b] = 1;
}

/* A write or zero reads the blocks it covers only in part (to keep
 * the rest of them). */
static void
note_partial_blocks (struct run *r, uint64_t off, uint64_t len)
{
  for (uint64_t b = off / r->bs; b <= (off + len - 1) / r->bs; b++)
    if (!(off <= b * r->bs && off + len >= (b + 1) * r->bs))
      note_base_reads (r, b * r->bs, r->bs);
}

static void
mark_flushed (struct run *r)
{
  r->flushed = r->completed;
  memcpy (r->read_at_flush, r->base_read, DISK / r->bs);
}

/* Runs nops operations, until one fails. */
static void
workload (struct run *r, struct ow_overlay *ov, unsigned seed, int nops)
{
  unsigned rng = seed;
  uint8_t *buf = malloc (DISK);

  for (int op = 0; op < nops; op++) {
    unsigned kind = mf_rand (&rng) % 100;
    uint64_t off = mf_rand (&rng) % DISK;
    uint64_t len = 1 + mf_rand (&rng) % (kind < 50 ? 12000 : kind < 62 ? 40000 : DISK);
    int ok;

    if (mf_rand (&rng) % 3 == 0)
      off -= off % r->bs;               /* often aligned */
    if (len > DISK - off)
      len = DISK - off;
    bool fua = false;
    if (kind < 55) {
      tl_fill (buf, len, off, mf_rand (&rng));
      note_partial_blocks (r, off, len);
      push_image (r, off, len, buf);
      fua = mf_rand (&rng) % 8 == 0;
      ok = ow_pwrite (ov, buf, len, off, fua) == 0;
    }
    else if (kind < 70) {
      note_partial_blocks (r, off, len);
      push_image (r, off, len, NULL);
      fua = mf_rand (&rng) % 8 == 0;
      ok = ow_zero (ov, len, off, fua) == 0;
    }
    else if (kind < 85) {
      note_base_reads (r, off, len);
      ok = ow_pread (ov, buf, len, off) == 0;
      if (ok)
        for (uint64_t b = off / r->bs; b <= (off + len - 1) / r->bs; b++) {
          uint64_t s = b * r->bs > off ? b * r->bs : off;
          uint64_t e = (b + 1) * r->bs < off + len ? (b + 1) * r->bs : off + len;
          if (memcmp (buf + (s - off), r->images[r->nimages - 1][b] + (s - b * r->bs), e - s))
            ck_abort_msg ("seed %u: a read of block %lu returned the wrong data",
                          r->seed, (unsigned long) b);
        }
    }
    else {
      ok = ow_flush (ov) == 0;
      if (ok)
        mark_flushed (r);
    }
    if (!ok) {
      r->attempted = r->nimages - 1;
      free (buf);
      return;
    }
    r->completed = r->nimages - 1;
    if (kind < 70)
      memcpy (r->read_at_write, r->base_read, DISK / r->bs);
    if (fua)                            /* FUA makes all before it durable */
      mark_flushed (r);
    for (uint64_t b = off / r->bs; kind < 70 && b <= (off + len - 1) / r->bs; b++)
      r->touched[b] = 1;
  }
  r->attempted = r->nimages - 1;
  free (buf);
}

static int
add_read (void *opaque, uint64_t first, uint64_t count)
{
  uint8_t *set = opaque;
  for (uint64_t b = first; b < first + count; b++)
    set[b] = 1;
  return 0;
}

/* Where a run keeps its overlay: the simulated file, or a real one. */
struct where {
  struct memfile *m;            /* NULL: the file at path */
  const char *path;
};

static struct ow_open_params
params (const struct run *r, const struct where *w, bool writable)
{
  return (struct ow_open_params) {
    .overlay = w->m ? "sim.ow" : w->path, .base = r->base, .writable = writable,
    .block_size = r->bs, .compress = r->compress, .track_reads = 1,
    .ops = w->m ? &mf_ops : NULL, .ops_handle = w->m,
  };
}

/* Open a survivor file and check it against the model.  In a process
 * crash every completed operation survives; in a power cut those up to
 * the last completed flush do.  A crash while the overlay was being
 * created loses nothing, nothing having been served: what is left
 * opens as an empty overlay, or is refused as no overlay at all. */
static void
verify (struct run *r, const struct where *w, bool process_crash, long crash_at)
{
  struct ow_open_params p;
  struct ow_overlay *ov;
  uint8_t *view = malloc (DISK), *read = calloc (DISK / r->bs, 1);
  int lo = process_crash ? r->completed : r->flushed;

  for (int pass = 0; pass < 2; pass++) {
    /* Pass 0: the plugin's recovery; pass 1: reading the result back. */
    p = params (r, w, pass == 0);
    tl_clear_error ();
    if (ow_open (&p, &ov) == -1) {
      if (!r->created && pass == 0 && errno == EINVAL && tl_last_error ()[0])
        break;
      ck_abort_msg ("seed %u crash at %ld: recovery failed: %s", r->seed, crash_at,
                    tl_last_error ());
    }
    /* The read set first: reading the view adds to it. */
    memset (read, 0, DISK / r->bs);
    ck_assert_int_eq (ow_read_ranges (ov, add_read, read), 0);
    for (uint64_t b = 0; b < DISK / r->bs; b++)
      if (r->read_at_flush[b] && !read[b])
        ck_abort_msg ("seed %u crash at %ld: block %lu was read before the flush "
                     "but is missing from the read set", r->seed, crash_at,
                     (unsigned long) b);
    /* Writes that survive bring the reads before them along, flushed
     * or not: in a process crash, every completed write survives. */
    for (uint64_t b = 0; process_crash && b < DISK / r->bs; b++)
      if (r->read_at_write[b] && !read[b])
        ck_abort_msg ("seed %u crash at %ld: block %lu was read before a write "
                     "that survived, but is missing from the read set",
                     r->seed, crash_at, (unsigned long) b);
    ck_assert_int_eq (ow_pread (ov, view, DISK, 0), 0);
    for (uint64_t b = 0; b < DISK / r->bs; b++) {
      bool ok = false;
      for (int k = lo; k <= r->attempted && !ok; k++)
        ok = (k == lo || r->images[k][b] != r->images[k - 1][b])
          && memcmp (view + b * r->bs, r->images[k][b], r->bs) == 0;
      if (!ok)
        ck_abort_msg ("seed %u, crash at op %ld (%s): block %lu holds no value "
                     "it had between image %d and %d", r->seed, crash_at,
                     process_crash ? "process" : "power", (unsigned long) b, lo,
                     r->attempted);
    }
    ck_assert_int_eq (ow_close (ov), 0);
  }
  free (view);
  free (read);
}

/* Recover the survivor with a crash at each operation of the recovery
 * (the open, and the close that writes a checkpoint), and verify what
 * that leaves, recovered again.  Returns the crash points tried. */
static long
crash_recovery (struct run *r, struct memfile *survivor, bool process_crash, long crash_at)
{
  long j;

  for (j = 1; ; j++) {
    struct memfile attempt, again;
    struct where w = { &attempt, NULL };
    struct ow_open_params p = params (r, &w, true);
    struct ow_overlay *ov;
    unsigned rng = j;
    bool crashed;

    mf_survivor (survivor, survivor->nhist, false, &rng, &attempt);
    attempt.crash_at = j;
    if (ow_open (&p, &ov) == 0)
      ow_close (ov);
    crashed = attempt.crashed;
    for (int power = 0; crashed && power < 2; power++) {
      mf_survivor (&attempt, attempt.nhist, power, &rng, &again);
      w.m = &again;
      verify (r, &w, process_crash, crash_at);
      mf_free (&again);
    }
    mf_free (&attempt);
    if (!crashed)
      break;
  }
  return j - 1;
}

static void
free_run (struct run *r)
{
  for (int i = 0; i < r->nimages; i++)
    free (r->images[i]);
  free (r->images);
  for (size_t i = 0; i < r->nblocks_alloc; i++)
    free (r->blocks[i]);
  free (r->blocks);
  free (r->touched);
  free (r->base_read);
  free (r->read_at_flush);
  free (r->read_at_write);
}

/* The real file's backend fails its calls from the crash_at-th on. */
static long real_calls, real_crash_at;

static int
fail_real_file (enum ow_hook_point where, void *ov)
{
  if (where < OW_HOOK_FILE_WRITE)
    return 0;
  return ++real_calls >= real_crash_at && real_crash_at > 0 ? EIO : 0;
}

#define WORKLOAD_OPS 60         /* before the first close */
#define REOPENED_OPS 30         /* after reopening */
#define RECOVERY_SAMPLE 8       /* crash the recovery at every 8th crash point tried */

struct counts {
  long points, recovery_points;
};

/* One life of an overlay with a crash at its crash_at-th file
 * operation (-1: none), on the simulated file or a real one.  Returns
 * the number of operations made. */
static long
run_once (uint32_t bs, int compress, unsigned seed, const char *base, long crash_at,
          bool real, struct counts *counts)
{
  struct memfile m;
  struct run r = { .bs = bs, .compress = compress, .seed = seed, .base = base };
  char *path = strdup (tl_path ("life.ow"));
  struct where w = { real ? NULL : &m, path };
  struct ow_open_params p = params (&r, &w, true);
  struct ow_overlay *ov;
  long ops;

  mf_init (&m, real ? -1 : crash_at, seed * 7 + crash_at);
  if (real) {
    unlink (w.path);
    real_calls = 0;
    real_crash_at = crash_at;
  }
  r.images = malloc (sizeof *r.images);
  r.images[0] = malloc (DISK / bs * sizeof **r.images);
  for (uint64_t b = 0; b < DISK / bs; b++) {
    uint8_t tmp[65536];
    tl_fill (tmp, bs, b * bs, 42);
    r.images[0][b] = new_block (&r, tmp);
  }
  r.nimages = 1;
  r.touched = calloc (DISK / bs, 1);
  r.base_read = calloc (DISK / bs, 1);
  r.read_at_flush = calloc (DISK / bs, 1);
  r.read_at_write = calloc (DISK / bs, 1);

  /* Made, used, closed cleanly (a checkpoint), reopened, used, closed:
   * the crash ends whichever step it falls in, and every later one
   * fails (a killed process does nothing more either). */
  if (ow_open (&p, &ov) == 0) {
    r.created = true;
    workload (&r, ov, seed, WORKLOAD_OPS);
    if (ow_close (ov) == 0) {
      mark_flushed (&r);
      if (ow_open (&p, &ov) == 0) {
        workload (&r, ov, seed + 1000, REOPENED_OPS);
        if (ow_close (ov) == 0)
          mark_flushed (&r);
      }
    }
  }
  ops = real ? real_calls : m.ops;
  real_crash_at = -1;
  ck_assert_msg (crash_at > 0 || r.flushed == r.completed,
                 "a run without a crash failed: %s", tl_last_error ());

  if (crash_at > 0) {
    counts->points++;
    if (real)
      verify (&r, &w, true, crash_at);
    else {
      struct memfile survivor;
      struct where sw = { &survivor, NULL };
      unsigned rng = seed ^ (unsigned) crash_at;
      for (int i = 0; i < 5; i++) {
        bool power = i > 0;
        mf_survivor (&m, m.nhist, power, &rng, &survivor);
        verify (&r, &sw, !power, crash_at);
        if (i == 1 && counts->points % RECOVERY_SAMPLE == 0)
          counts->recovery_points += crash_recovery (&r, &survivor, false, crash_at);
        mf_free (&survivor);
      }
    }
  }
  mf_free (&m);
  free_run (&r);
  free (path);
  return ops;
}

static void
crash_everywhere (int i, bool real)
{
  static const struct { uint32_t bs; int compress; unsigned seed; } cfg[] = {
    { 4096, 1, 11 }, { 512, 0, 22 }, { 4096, 0, 33 }, { 512, 1, 44 },
  };
  char *base = strdup (tl_path ("base.img"));
  struct counts counts = { 0, 0 };
  long total;

  tl_capture_errors ();
  tl_make_base (base, DISK, 42);
  total = run_once (cfg[i].bs, cfg[i].compress, cfg[i].seed, base, -1, real, &counts);
  ck_assert_int_gt (total, 40);
  /* Every crash point; under valgrind every Nth (ONEWAY_CRASH_SAMPLE). */
  const char *sample = getenv ("ONEWAY_CRASH_SAMPLE");
  long step = sample ? atol (sample) : 1;
  if (step < 1)
    step = 1;
  for (long at = 1; at <= total + 1; at += step)
    run_once (cfg[i].bs, cfg[i].compress, cfg[i].seed, base, at, real, &counts);
  ck_assert_int_eq (counts.points, (total + step) / step);
  printf ("%s, block size %u, %s: %ld crash points in an overlay's life, %ld inside "
          "recovery\n", real ? "real file" : "simulated file", cfg[i].bs,
          cfg[i].compress ? "lz4" : "none", counts.points, counts.recovery_points);
  free (base);
  tl_cleanup ();
}

START_TEST (test_crash_points)
{
  crash_everywhere (_i, false);
}
END_TEST

START_TEST (test_real_file)
{
  ow_test_hook = fail_real_file;
  real_crash_at = -1;
  crash_everywhere (_i, true);
  ow_test_hook = NULL;
}
END_TEST

static void
add_tests (TCase *tc)
{
  tcase_set_timeout (tc, 600);
  tcase_add_loop_test (tc, test_crash_points, 0, 4);
  tcase_add_loop_test (tc, test_real_file, 0, 1);
}

int
main (void)
{
  return tl_run ("crash", add_tests);
}
