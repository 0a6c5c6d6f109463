/* oneway: writers and flushes in parallel, interleaved on purpose and
 * at random, each run followed by crashes at every point after it.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * check_crash crashes a single thread's operations.  The races between
 * writers and a flush need threads: each test builds an interleaving
 * that once lost data (a writer paused at a hook while a flush runs,
 * actors.h).  Each run is
 * then crashed after every prefix of its file operations (or a sample
 * of them), by power cut and by kill, and recovered, and the result is
 * held to the promises (model.h).
 */
#include <config.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

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

static void
add_tests (TCase *tc)
{
  actors_install ();
  tcase_set_timeout (tc, 600);
  tcase_add_test (tc, test_slot_tag_after_flush);
  tcase_add_test (tc, test_readset_after_point);
  tcase_add_test (tc, test_read_seen_before_noted);
}

int
main (void)
{
  return tl_run ("interleave", add_tests);
}
