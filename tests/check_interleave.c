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

static void
add_tests (TCase *tc)
{
  actors_install ();
  tcase_set_timeout (tc, 600);
  tcase_add_test (tc, test_slot_tag_after_flush);
}

int
main (void)
{
  return tl_run ("interleave", add_tests);
}
