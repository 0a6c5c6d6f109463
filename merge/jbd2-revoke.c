/* oneway-merge: the revoke table of a journal replay.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * An open-addressing hash table.  It only grows with distinct revoked
 * blocks, which the caller bounds twice over: each comes from a
 * revoke record read from the journal, and each is a block of the
 * filesystem.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>

#include "jbd2-format.h"
#include "jbd2-revoke.h"

void
jbd2_revoke_init (struct jbd2_revoke_table *t)
{
  t->slots = NULL;
  t->nslots = t->count = 0;
}

void
jbd2_revoke_free (struct jbd2_revoke_table *t)
{
  free (t->slots);
  jbd2_revoke_init (t);
}

static size_t
hash_block (uint64_t block, size_t nslots)
{
  block *= 0x9e3779b97f4a7c15ULL;
  return (block ^ block >> 29) & (nslots - 1);
}

static struct jbd2_revoke_entry *
find_slot (struct jbd2_revoke_entry *slots, size_t nslots, uint64_t block)
{
  size_t i = hash_block (block, nslots);

  /* The table is never more than half full: this ends. */
  while (slots[i].block != 0 && slots[i].block != block + 1)
    i = (i + 1) & (nslots - 1);
  return &slots[i];
}

static int
grow (struct jbd2_revoke_table *t)
{
  size_t nslots = t->nslots ? t->nslots * 2 : 1024;
  struct jbd2_revoke_entry *slots;

  if (nslots > SIZE_MAX / sizeof *slots) {
    errno = ENOMEM;
    return -1;
  }
  slots = calloc (nslots, sizeof *slots);
  if (!slots)
    return -1;
  for (size_t i = 0; i < t->nslots; i++)
    if (t->slots[i].block)
      *find_slot (slots, nslots, t->slots[i].block - 1) = t->slots[i];
  free (t->slots);
  t->slots = slots;
  t->nslots = nslots;
  return 0;
}

int
jbd2_revoke_add (struct jbd2_revoke_table *t, uint64_t block, uint32_t tid)
{
  struct jbd2_revoke_entry *e;

  if ((t->count + 1) * 2 > t->nslots && grow (t) == -1)
    return -1;
  e = find_slot (t->slots, t->nslots, block);
  if (e->block == 0) {
    e->block = block + 1;
    e->tid = tid;
    t->count++;
  }
  else if (jbd2_tid_gt (tid, e->tid))
    e->tid = tid;
  return 0;
}

bool
jbd2_revoked (const struct jbd2_revoke_table *t, uint64_t block, uint32_t tid)
{
  const struct jbd2_revoke_entry *e;

  if (t->count == 0)
    return false;
  e = find_slot (t->slots, t->nslots, block);
  return e->block != 0 && !jbd2_tid_gt (tid, e->tid);
}
