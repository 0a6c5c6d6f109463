/* oneway: threads that a test stops and starts at the engine's hooks.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <check.h>
#include <sched.h>
#include <time.h>

#include "actors.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static _Thread_local struct actor *self;
static _Thread_local unsigned preempt_rng;
static bool preempting;
static unsigned preempt_seed;

static void
preempt (void)
{
  if (!preempt_rng)
    preempt_rng = __atomic_add_fetch (&preempt_seed, 0x9e3779b9u, __ATOMIC_RELAXED) | 1;
  preempt_rng = preempt_rng * 1103515245 + 12345;
  switch ((preempt_rng >> 8) % 8) {
  case 0: case 1: case 2:
    break;                              /* run on */
  case 3: case 4: case 5:
    sched_yield ();
    break;
  default:                              /* long enough for a flush */
    nanosleep (&(struct timespec) { 0, ((preempt_rng >> 12) % 200) * 1000 }, NULL);
  }
}

static int
hook (enum ow_hook_point where, void *ov)
{
  struct actor *a = self;

  if (a && (__atomic_load_n (&a->pause, __ATOMIC_ACQUIRE) & HOOK_BIT (where))) {
    pthread_mutex_lock (&lock);
    a->state = ACTOR_PAUSED;
    a->at = where;
    pthread_cond_broadcast (&changed);
    while (a->state == ACTOR_PAUSED)
      pthread_cond_wait (&changed, &lock);
    pthread_mutex_unlock (&lock);
  }
  else if (__atomic_load_n (&preempting, __ATOMIC_RELAXED) && where != OW_HOOK_FILE_SYNC)
    preempt ();
  return 0;
}

void
actors_install (void)
{
  ow_test_hook = hook;
}

void
actors_preempt (bool on, unsigned seed)
{
  __atomic_store_n (&preempt_seed, seed, __ATOMIC_RELAXED);
  __atomic_store_n (&preempting, on, __ATOMIC_RELAXED);
}

static void *
run (void *opaque)
{
  struct actor *a = opaque;
  int r;

  self = a;
  preempt_rng = 0;
  r = a->fn (a);
  pthread_mutex_lock (&lock);
  a->result = r;
  a->state = ACTOR_DONE;
  pthread_cond_broadcast (&changed);
  pthread_mutex_unlock (&lock);
  return NULL;
}

void
actor_start (struct actor *a)
{
  a->state = ACTOR_RUNNING;
  ck_assert_int_eq (pthread_create (&a->thread, NULL, run, a), 0);
}

enum actor_state
actor_wait (struct actor *a)
{
  enum actor_state s;

  pthread_mutex_lock (&lock);
  while (a->state == ACTOR_RUNNING)
    pthread_cond_wait (&changed, &lock);
  s = a->state;
  pthread_mutex_unlock (&lock);
  return s;
}

void
actor_release (struct actor *a, unsigned pause)
{
  pthread_mutex_lock (&lock);
  a->pause = pause;
  if (a->state == ACTOR_PAUSED)
    a->state = ACTOR_RUNNING;
  pthread_cond_broadcast (&changed);
  pthread_mutex_unlock (&lock);
}

int
actor_finish (struct actor *a)
{
  actor_release (a, 0);
  ck_assert_int_eq (pthread_join (a->thread, NULL), 0);
  return a->result;
}
