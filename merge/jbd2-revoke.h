/* oneway-merge: the revoke table of a journal replay.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * For each revoked filesystem block, the latest transaction that
 * revoked it.  A block logged in transaction T is not replayed when a
 * revoke from T or later covers it.
 */
#ifndef ONEWAY_MERGE_JBD2_REVOKE_H
#define ONEWAY_MERGE_JBD2_REVOKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jbd2_revoke_entry {
  uint64_t block;               /* + 1, so that 0 marks a free slot */
  uint32_t tid;
};

struct jbd2_revoke_table {
  struct jbd2_revoke_entry *slots;
  size_t nslots, count;
};

void jbd2_revoke_init (struct jbd2_revoke_table *t);
void jbd2_revoke_free (struct jbd2_revoke_table *t);
/* Record that tid revokes block.  -1 (errno ENOMEM) on failure. */
int jbd2_revoke_add (struct jbd2_revoke_table *t, uint64_t block, uint32_t tid);
/* Whether a revoke from tid or later covers block. */
bool jbd2_revoked (const struct jbd2_revoke_table *t, uint64_t block, uint32_t tid);

#endif
