/* oneway: points in the overlay engine where a test can step in.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * Races between writers and a flush happen in windows of a few
 * instructions; a test can only make them happen on purpose by pausing
 * a thread inside such a window while others run.  The engine calls
 * ow_test_hook at the points below.  The hooks exist only in the build
 * of the engine made for the tests (tests/libonewayhooks.la, compiled
 * with OW_TEST_HOOKS); the plugin and the tool have none.
 */
#ifndef ONEWAY_TEST_HOOKS_H
#define ONEWAY_TEST_HOOKS_H

enum ow_hook_point {
  OW_HOOK_READ_NOTED,           /* a new base read is pending, not yet in the read set */
  OW_HOOK_RESERVED,             /* an appender reserved log space, wrote nothing yet */
  OW_HOOK_APPENDED,             /* a DATA record is written, not yet in the index */
  OW_HOOK_READS_TAKEN,          /* read-set bits taken, their record not reserved */
  OW_HOOK_FLUSH_POINT,          /* a flush took its point, before logging reads */
  OW_HOOK_FLUSH_WAITING,        /* a flush waits for an append below its point */
  OW_HOOK_FLUSH_SYNCED,         /* a flush synced, before its header */
  /* The plain-file backend (lib/overlay.c) is about to: */
  OW_HOOK_FILE_WRITE,           /* pwritev */
  OW_HOOK_FILE_TRUNCATE,        /* ftruncate */
  OW_HOOK_FILE_SYNC,            /* fdatasync */
  OW_HOOK_DIR_SYNC,             /* fsync the directory of a new overlay */
  OW_HOOK_N
};

/* Returns 0 to go on, or, at the OW_HOOK_FILE_* and OW_HOOK_DIR_SYNC
 * points, an errno with which that call fails instead of being made.
 * ov is the overlay (struct ow_overlay *). */
extern int (*ow_test_hook) (enum ow_hook_point where, void *ov);

#ifdef OW_TEST_HOOKS
#define OW_HOOK_RESULT(where, ov) (ow_test_hook ? ow_test_hook ((where), (ov)) : 0)
#else
#define OW_HOOK_RESULT(where, ov) 0
#endif
#define OW_HOOK(where, ov) ((void) OW_HOOK_RESULT (where, ov))

#endif
