/* oneway-merge fuzzing: one SEE image through audit, diff and cat.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * Shared by the libFuzzer target (fuzz/fuzz-diff.c) and the regression
 * driver that runs in make check (tests/check_fuzz_regress.c), so that
 * an input found by the fuzzer is replayed exactly as it was found.
 */
#ifndef ONEWAY_FUZZ_ONE_H
#define ONEWAY_FUZZ_ONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "changes.h"
#include "findings.h"

/* Read a whole file, gzip'ed or not, into *buf (malloc'ed).  -1 with
 * a message on stderr. */
int fuzz_read_file (const char *path, uint8_t **buf, size_t *len);

/* The base view S0 for every later input: a copy of len bytes. */
int fuzz_set_base (const uint8_t *buf, size_t len);
void fuzz_free_base (void);

/* How far one input got: the first stage that failed, or "diffed". */
enum fuzz_outcome {
  FUZZ_OPEN_FAILED,             /* analysis_open refused the views */
  FUZZ_NOT_EXT,                 /* the SEE view holds no ext filesystem */
  FUZZ_ATTRIBUTE_FAILED,        /* the written set or analysis_attribute */
  FUZZ_DIFF_FAILED,             /* analysis_diff */
  FUZZ_DIFFED,
  FUZZ_OUTCOMES
};
extern const char *const fuzz_outcome_names[FUZZ_OUTCOMES];

/* What one input did, for the regression test to hold it to what it
 * was added for: a crash or a leak shows by itself, but an input that
 * no longer reaches its code (a finding, a failure) shows only here. */
struct fuzz_report {
  uint64_t bytes_read;          /* from both views: the work it cost */
  enum fuzz_outcome outcome;
  struct findings findings;     /* the analysis's */
  struct findings errors;       /* what was passed to ow_error */
  struct changes changes;       /* the change list, if diffed */
  uint64_t classes[OWNER_CLASSES]; /* the written blocks by owner, as audit counts */
  bool walk_budget_spent;       /* the SEE view's bounds on extent walks, */
  bool dir_budget_spent;        /* and on directory blocks read, were reached */
  size_t named_dirs;            /* directories given a path in the SEE view */
};
void fuzz_report_free (struct fuzz_report *r);

/* A fault to run an input with.  Some failure paths are reached by
 * no image, only by a device that fails (an I/O error of the overlay
 * or of the base): a regression input reaches them with a read of
 * the SEE view that fails (EIO) when it covers byte see_read_at. */
struct fuzz_fault {
  bool see_read;
  uint64_t see_read_at;
};

/* Run one SEE image (S1): padded with the base's bytes or truncated
 * to the base's size, compared with the base block by block for the
 * written set, then analysed as audit, diff and cat would.  Errors
 * and findings are expected results, not failures: only a crash, a
 * leak, a sanitizer report or a slow input is a bug.  Returns the
 * bytes read from both views: the work the input cost.  With fault
 * (may be NULL), reads fail as it says; with report (may be NULL),
 * says what happened there: free it with fuzz_report_free. */
uint64_t fuzz_one (const uint8_t *data, size_t size, const struct fuzz_fault *fault,
                   struct fuzz_report *report);

#endif
