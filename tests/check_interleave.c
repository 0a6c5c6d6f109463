/* oneway: writers and flushes in parallel, interleaved on purpose and
 * at random, each run followed by crashes at every point after it.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * check_crash crashes a single thread's operations.  The races between
 * writers and a flush need threads: the first two tests build the two
 * interleavings that once lost data (a writer paused at a hook while a
 * flush runs, actors.h), the third runs writers and a flusher with
 * random delays at every hook over thousands of seeds.  Each run is
 * then crashed after every prefix of its file operations (or a sample
 * of them), by power cut and by kill, and recovered, and the result is
 * held to the promises (model.h).
 */
#include <config.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "actors.h"
#include "model.h"
#include "testlib.h"

#define DISK (256 * 1024)
#define POWER_CUTS 12           /* random power cuts per crash point */

struct job {
  struct model *m;
  struct ow_overlay *ov;
  uint64_t block;
  uint32_t value;
};

static int
act_write (struct actor *a)
{
  struct job *j = a->arg;
  return model_write (j->m, j->ov, j->block, 1, j->value);
}

static int
act_zero (struct actor *a)
{
  struct job *j = a->arg;
  return model_zero (j->m, j->ov, j->block, 1);
}

static int
act_flush (struct actor *a)
{
  struct job *j = a->arg;
  return model_flush (j->m, j->ov);
}

/* Crash after every prefix of the history from 'from' on: a process
 * kill and POWER_CUTS power cuts each.  Returns the recoveries made. */
static long
crash_everywhere (struct model *m, size_t from, const char *what)
{
  size_t end = mf_mark (m->file);
  unsigned rng = 1;
  char label[128];
  long n = 0;

  for (size_t k = from; k <= end; k++) {
    snprintf (label, sizeof label, "%s, crash after operation %zu of %zu", what, k, end);
    model_check (m, k, false, &rng, label);
    for (int i = 0; i < POWER_CUTS; i++, n++)
      model_check (m, k, true, &rng, label);
    n++;
  }
  return n;
}

struct setup {
  const char *base;
  struct memfile file;
  struct model m;
  struct ow_overlay *ov;
};

static void
setup_overlay (struct setup *s, uint64_t disk, uint32_t bs, int compress)
{
  s->base = tl_path ("base.img");
  tl_make_base (s->base, disk, MODEL_BASE_SEED);
  mf_init (&s->file, -1, 1);
  model_init (&s->m, &s->file, s->base, bs, disk / bs);
  s->ov = model_open (&s->m, compress);
}

static void
teardown_overlay (struct setup *s)
{
  model_free (&s->m);
  mf_free (&s->file);
  tl_cleanup ();
}

/* A record's slot was reused at once although a flush had made the
 * record durable: the writer read the epoch that tags its slot after
 * its append, by which time a flush could have started and finished.
 * Then the next rewrite of the block freed the slot at once, another
 * block took it, and a power cut before the next flush brought the
 * durable record back pointing at another block's bytes. */
START_TEST (test_slot_tag_after_flush)
{
  struct setup s;
  struct job w;
  struct actor writer = { .name = "writer", .fn = act_write, .arg = &w,
                          .pause = HOOK_BIT (OW_HOOK_APPENDED) };
  size_t from;

  tl_capture_errors ();
  setup_overlay (&s, DISK, 4096, OW_COMPRESS_NONE);
  from = mf_mark (&s.file);
  w = (struct job) { &s.m, s.ov, 0, 2 };
  actor_start (&writer);
  ck_assert_int_eq (actor_wait (&writer), ACTOR_PAUSED);
  /* The writer's record is complete: this flush makes it durable. */
  ck_assert_int_eq (model_flush (&s.m, s.ov), 0);
  ck_assert_int_eq (actor_finish (&writer), 0);
  /* Rewrite the block, and write another that may take its old slot. */
  ck_assert_int_eq (model_write (&s.m, s.ov, 0, 1, 4), 0);
  ck_assert_int_eq (model_write (&s.m, s.ov, 1, 1, 6), 0);
  ck_assert_int_eq (model_write (&s.m, s.ov, 2, 1, 8), 0);
  ck_assert_int_eq (ow_close (s.ov), 0);
  printf ("slot tag: %ld recoveries checked\n",
          crash_everywhere (&s.m, from, "slot tag after a flush"));
  teardown_overlay (&s);
}
END_TEST

/* A flush missed a read-set record that a writer reserved after the
 * flush took its point: the writer had taken the pending reads before
 * the flush looked, so the flush found none to log, and set
 * durable_end below that record.  A record between the point and it
 * that was still being written then ended recovery before it, and the
 * read, served before the flush returned, was lost. */
START_TEST (test_readset_after_point)
{
  struct setup s;
  struct job zj, fj, wj;
  struct actor zeroer = { .name = "zeroer", .fn = act_zero, .arg = &zj,
                          .pause = HOOK_BIT (OW_HOOK_READS_TAKEN) };
  struct actor flusher = { .name = "flusher", .fn = act_flush, .arg = &fj,
                           .pause = HOOK_BIT (OW_HOOK_FLUSH_POINT) };
  struct actor writer = { .name = "writer", .fn = act_write, .arg = &wj,
                          .pause = HOOK_BIT (OW_HOOK_RESERVED) };
  size_t from;

  tl_capture_errors ();
  setup_overlay (&s, DISK, 4096, OW_COMPRESS_NONE);
  from = mf_mark (&s.file);
  /* Blocks of different stripes (overlay-internal.h), so that the
   * paused actors do not hold each other up. */
  zj = (struct job) { &s.m, s.ov, 0, 0 };
  fj = (struct job) { &s.m, s.ov, 0, 0 };
  wj = (struct job) { &s.m, s.ov, 32, 2 };
  /* A base read, pending in memory. */
  ck_assert_int_eq (model_read (&s.m, s.ov, 48, 1), 0);
  /* The zeroer takes it to log it... */
  actor_start (&zeroer);
  ck_assert_int_eq (actor_wait (&zeroer), ACTOR_PAUSED);
  /* ...a flush takes its point... */
  actor_start (&flusher);
  ck_assert_int_eq (actor_wait (&flusher), ACTOR_PAUSED);
  /* ...a writer reserves a slot extent after the point, writes nothing yet... */
  actor_start (&writer);
  ck_assert_int_eq (actor_wait (&writer), ACTOR_PAUSED);
  /* ...the zeroer logs the read after that extent and finishes. */
  ck_assert_int_eq (actor_finish (&zeroer), 0);
  /* The flush must cover the read-set record, so it waits for the
   * extent below it (or, as before the fix, syncs without it; then
   * its header, written after the extent, says durable_end = point). */
  actor_release (&flusher, HOOK_BIT (OW_HOOK_FLUSH_WAITING) | HOOK_BIT (OW_HOOK_FLUSH_SYNCED));
  ck_assert_int_eq (actor_wait (&flusher), ACTOR_PAUSED);
  ck_assert_int_eq (actor_finish (&writer), 0);
  ck_assert_int_eq (actor_finish (&flusher), 0);
  ck_assert_int_eq (ow_close (s.ov), 0);
  printf ("read set: %ld recoveries checked\n",
          crash_everywhere (&s.m, from, "read set behind the flush point"));
  teardown_overlay (&s);
}
END_TEST

static int
act_read (struct actor *a)
{
  struct job *j = a->arg;
  return model_read (j->m, j->ov, j->block, 1);
}

/* A read returned before the block it read was where flushes look:
 * another reader had set it in the read set but not yet among the
 * reads to log, and the second reader, finding it set, returned.  A
 * flush that started then did not log it. */
START_TEST (test_read_seen_before_noted)
{
  struct setup s;
  struct job rj;
  struct actor reader = { .name = "reader", .fn = act_read, .arg = &rj,
                          .pause = HOOK_BIT (OW_HOOK_READ_NOTED) };
  size_t from;

  tl_capture_errors ();
  setup_overlay (&s, DISK, 4096, OW_COMPRESS_LZ4);
  from = mf_mark (&s.file);
  rj = (struct job) { &s.m, s.ov, 20, 0 };
  actor_start (&reader);
  ck_assert_int_eq (actor_wait (&reader), ACTOR_PAUSED);
  /* The same block, read again while the first reader is noting it;
   * then a flush, which must have it logged. */
  ck_assert_int_eq (model_read (&s.m, s.ov, 20, 1), 0);
  ck_assert_int_eq (model_flush (&s.m, s.ov), 0);
  ck_assert_int_eq (actor_finish (&reader), 0);
  ck_assert_int_eq (model_write (&s.m, s.ov, 3, 1, 2), 0);
  ck_assert_int_eq (ow_close (s.ov), 0);
  printf ("read noted: %ld recoveries checked\n",
          crash_everywhere (&s.m, from, "a read seen before it was noted"));
  teardown_overlay (&s);
}
END_TEST

/* ---- writers and a flusher at random ---- */

#define THREADS_DISK (128 * 1024)
#define WRITERS 3
#define WRITER_OPS 24
#define SEEDS 1000              /* per configuration */
#define CRASH_POINTS 4          /* per seed, besides the end */

struct worker {
  struct model *m;
  struct ow_overlay *ov;
  unsigned rng;
  uint64_t first, nblocks;      /* its own blocks */
  uint64_t shared, nshared;     /* blocks no one writes, to read */
  uint32_t value;               /* unique among all writers */
  bool *stop;
};

static uint32_t
rnd_below (unsigned *rng, uint32_t n)
{
  return mf_rand (rng) % n;
}

static int
act_worker (struct actor *a)
{
  struct worker *w = a->arg;

  for (int i = 0; i < WRITER_OPS; i++) {
    uint32_t kind = rnd_below (&w->rng, 100), n = 1 + rnd_below (&w->rng, 4);
    uint64_t at = w->first + rnd_below (&w->rng, w->nblocks);
    if (at + n > w->first + w->nblocks)
      n = w->first + w->nblocks - at;
    /* Odd values compress (model.c), so lz4 overlays get both kinds. */
    if (kind < 55 && model_write (w->m, w->ov, at, n, w->value++ * 2 + rnd_below (&w->rng, 2)))
      return -1;
    if (kind >= 55 && kind < 70 && model_zero (w->m, w->ov, at, n))
      return -1;
    if (kind >= 70 && kind < 92
        && model_read (w->m, w->ov, w->shared + rnd_below (&w->rng, w->nshared - 1), 2))
      return -1;
    if (kind >= 92 && model_flush (w->m, w->ov))
      return -1;
  }
  return 0;
}

static int
act_flusher (struct actor *a)
{
  struct worker *w = a->arg;

  while (!__atomic_load_n (w->stop, __ATOMIC_ACQUIRE)) {
    if (model_flush (w->m, w->ov))
      return -1;
    nanosleep (&(struct timespec) { 0, rnd_below (&w->rng, 300) * 1000 }, NULL);
  }
  return 0;
}

/* One seed: the workload, then crashes at random points of its
 * history and at its end.  Returns the recoveries checked. */
static long
run_threads (uint32_t bs, int compress, unsigned seed, long *points)
{
  struct setup s;
  struct worker w[WRITERS + 1];
  struct actor a[WRITERS + 1];
  bool stop = false;
  uint64_t nblocks = THREADS_DISK / bs, region = nblocks / (WRITERS + 1);
  unsigned rng = seed;
  char label[160];
  size_t from, end;
  long n = 0;

  setup_overlay (&s, THREADS_DISK, bs, compress);
  from = mf_mark (&s.file);
  actors_preempt (true, seed);
  for (int i = 0; i <= WRITERS; i++) {
    w[i] = (struct worker) { &s.m, s.ov, seed * 31 + i, i * region, region,
                             WRITERS * region, nblocks - WRITERS * region,
                             1000 + i * 100000, &stop };
    a[i] = (struct actor) { .name = "worker", .fn = i < WRITERS ? act_worker : act_flusher,
                            .arg = &w[i] };
    actor_start (&a[i]);
  }
  for (int i = 0; i < WRITERS; i++)
    ck_assert_msg (actor_finish (&a[i]) == 0, "seed %u: a writer failed: %s", seed,
                   tl_last_error ());
  __atomic_store_n (&stop, true, __ATOMIC_RELEASE);
  ck_assert_int_eq (actor_finish (&a[WRITERS]), 0);
  actors_preempt (false, 0);
  ck_assert_int_eq (ow_close (s.ov), 0);
  end = mf_mark (&s.file);
  for (int c = 0; c <= CRASH_POINTS; c++, (*points)++) {
    size_t k = c == CRASH_POINTS ? end : from + mf_rand (&rng) % (end - from);
    snprintf (label, sizeof label, "block size %u, %s, seed %u, crash after operation %zu of %zu",
              bs, compress ? "lz4" : "none", seed, k, end);
    model_check (&s.m, k, false, &rng, label);
    model_check (&s.m, k, true, &rng, label);
    n += 2;
  }
  teardown_overlay (&s);
  return n;
}

START_TEST (test_threads)
{
  static const struct { uint32_t bs; int compress; } cfg[] = {
    { 4096, OW_COMPRESS_NONE }, { 4096, OW_COMPRESS_LZ4 }, { 512, OW_COMPRESS_LZ4 },
  };
  /* Under valgrind (make check-valgrind), which runs one thread at a
   * time and each fifty times slower, every (10 N)th seed. */
  const char *sample = getenv ("ONEWAY_CRASH_SAMPLE");
  long step = sample && atol (sample) > 0 ? 10 * atol (sample) : 1, points = 0, checked = 0;
  unsigned seeds = 0, first = 1 + _i * SEEDS, last = (_i + 1) * SEEDS;

  tl_capture_errors ();
  for (unsigned seed = first; seed <= last; seed += step, seeds++)
    checked += run_threads (cfg[_i].bs, cfg[_i].compress, seed, &points);
  printf ("threads, block size %u, %s: seeds %u to %u (%u runs), %ld crash points, "
          "%ld recoveries checked\n", cfg[_i].bs, cfg[_i].compress ? "lz4" : "none",
          first, last, seeds, points, checked);
}
END_TEST

static void
add_tests (TCase *tc)
{
  actors_install ();
  tcase_set_timeout (tc, 900);
  tcase_add_test (tc, test_slot_tag_after_flush);
  tcase_add_test (tc, test_readset_after_point);
  tcase_add_test (tc, test_read_seen_before_noted);
  tcase_add_loop_test (tc, test_threads, 0, 3);
}

int
main (void)
{
  return tl_run ("interleave", add_tests);
}
