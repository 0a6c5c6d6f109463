/* oneway-merge: carrying out a commit's plan on the host tree.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * The phases of commit-plan.h.  Every lookup goes through the host
 * tree's confined openat2 (host-tree.h); every new name is made in, or
 * moved with renameat2 from, the staging directory; nothing is ever
 * opened through a path a second time, and no symlink is followed.
 */
#ifndef ONEWAY_MERGE_COMMIT_APPLY_H
#define ONEWAY_MERGE_COMMIT_APPLY_H

#include <stdbool.h>

#include "commit-plan.h"

struct committing {
  struct plan *p;
  struct host_tree *host;
  struct extfs *see;            /* the SEE view, where new objects come from */
  const char *journal;
  int stg;                      /* the staging directory, or -1 */
  bool progress;                /* a progress bar on stderr */
  bool resuming;                /* after a crash: some steps may be done */
  char *refused;                /* a path changed since the check: why, for people */
};

/* Each 0, or -1 with a message; commit_switch 1 when a host object
 * changed since the check (c->refused says which). */
int commit_write (struct committing *c);
int commit_switch (struct committing *c);
int commit_finish (struct committing *c);
/* Undo what the switch did, in reverse, then remove staging.  0, or
 * -1 naming what could not be undone. */
int commit_undo (struct committing *c);
void committing_close (struct committing *c);

#endif
