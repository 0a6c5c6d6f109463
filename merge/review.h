/* oneway-merge: what check and commit both look at.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * The options (policy, selection, overrides), the host tree, both
 * views, the read set and the change list, and the verdict of
 * consistency.h on them: check prints it, commit acts on it.  One
 * implementation, so that check's "ok" is exactly what commit does.
 * The change list here leaves out the changes that earlier commits
 * applied (commit-record.h): they are neither checked again nor
 * applied twice.
 */
#ifndef ONEWAY_MERGE_REVIEW_H
#define ONEWAY_MERGE_REVIEW_H

#include <stdbool.h>

#include "analysis.h"
#include "changes.h"
#include "commands.h"
#include "commit-record.h"
#include "consistency.h"

struct review {
  struct policy policy;
  struct selection sel;
  struct host_tree host;
  struct ow_overlay *ov;
  struct analysis an;
  bool opened;
  struct changes cs;            /* what is left to apply */
  struct applied applied;       /* what earlier commits applied */
  size_t skipped;               /* changes of the diff left out as applied */
  struct reads reads;
  bool tracked;                 /* the read set was recorded */
  struct verdict v;
};

/* Options, host tree, views (the overlay opened for writing when
 * writable: commit records what it applied), read set and change list;
 * then the verdict.  0, or -1 with the reason printed. */
int review_open (const struct merge_opts *o, bool writable, struct review *rv);
int review_judge (const struct merge_opts *o, struct review *rv);
void review_close (struct review *rv);

/* check's report of the verdict, for people or (json) programs. */
void review_print (const struct merge_opts *o, const struct review *rv);

#endif
