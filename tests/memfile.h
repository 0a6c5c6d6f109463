/* oneway: a simulated overlay file that can crash and lose power.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * The engine reaches its file through struct ow_file_ops; the tests
 * substitute this one, which keeps every operation in a history.  From
 * the history, the file as it would be after a crash at any point can
 * be made again:
 *  - the process dies: what it wrote stays, the write in progress is
 *    torn (a random prefix of it lands);
 *  - the power goes: what was synced stays; each later write lands
 *    whole, not at all, or as a random subset of its 512-byte sectors.
 * A sync may also be made to fail, as Linux's fdatasync does after a
 * write-back error: the writes it should have made durable are then
 * dropped from the disk (they never become durable, whatever syncs
 * follow), although reads still see them until the "cache" goes.
 * Thread-safe: the engine's writers call it in parallel.
 */
#ifndef ONEWAY_MEMFILE_H
#define ONEWAY_MEMFILE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "oneway/overlay.h"

enum mf_kind { MF_WRITE, MF_TRUNCATE, MF_SYNC, MF_SYNC_FAILED, MF_MARK };

struct mf_op {
  enum mf_kind kind;
  uint64_t off, len;            /* a truncate's size is off */
  uint8_t *data;
};

struct memfile {
  pthread_mutex_t lock;
  uint8_t *vol;                 /* what reads see */
  uint64_t size, cap;
  struct mf_op *hist;           /* every operation, in order */
  size_t nhist, hcap;
  long ops, crash_at;           /* fail the crash_at-th operation and all after */
  bool crashed;
  long fail_sync;               /* fail the fail_sync-th sync (once), 0: none */
  long syncs;
  unsigned rng;
};

extern const struct ow_file_ops mf_ops;

/* An empty file; crash_at -1 never crashes. */
void mf_init (struct memfile *m, long crash_at, unsigned rng);
void mf_free (struct memfile *m);

/* Put a mark in the history and return its position: what the test
 * did just before (an operation it saw return) happened before every
 * operation after the mark, and before every later mark. */
size_t mf_mark (struct memfile *m);

/* In out (initialised here), the file as a crash just after the first
 * upto operations leaves it: power (a power cut) or the process's
 * death, which tears operation upto, if it is a write, at random.
 * Its history starts with all of that written and synced, so that it
 * can crash in turn (a recovery that crashes). */
void mf_survivor (struct memfile *m, size_t upto, bool power, unsigned *rng,
                  struct memfile *out);

unsigned mf_rand (unsigned *state);

#endif
