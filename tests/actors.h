/* oneway: threads that a test stops and starts at the engine's hooks.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * An actor runs one operation on a thread of its own.  When it reaches
 * a hook point (include/oneway/test-hooks.h) named in its pause mask it
 * stops there until the test releases it, so that a test can set up
 * an interleaving exactly: "W appended its record; now a flush runs;
 * now W goes on".  Threads that are not actors pass the hooks, or,
 * with preemption on, are delayed at random there, to shake out the
 * interleavings no one thought of.
 */
#ifndef ONEWAY_ACTORS_H
#define ONEWAY_ACTORS_H

#include <pthread.h>
#include <stdbool.h>

#include "oneway/test-hooks.h"

#define HOOK_BIT(p) (1u << (p))

enum actor_state { ACTOR_RUNNING, ACTOR_PAUSED, ACTOR_DONE };

struct actor {
  const char *name;
  int (*fn) (struct actor *a);  /* the operation; its result is kept */
  void *arg;
  unsigned pause;               /* HOOK_BITs where it stops */
  enum actor_state state;
  enum ow_hook_point at;        /* where it stopped */
  int result;
  pthread_t thread;
};

/* Install the hook function (once per process, before any actor). */
void actors_install (void);
/* With preemption on, every thread delays itself at random at each
 * hook it passes: seeded per thread from seed. */
void actors_preempt (bool on, unsigned seed);

void actor_start (struct actor *a);
/* Until a stops at a hook or finishes; returns which. */
enum actor_state actor_wait (struct actor *a);
/* Go on from the hook, stopping next at the points in pause. */
void actor_release (struct actor *a, unsigned pause);
/* Release for good and wait for the end; returns the result. */
int actor_finish (struct actor *a);

#endif
