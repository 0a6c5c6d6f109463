/* oneway-merge: inode number → index, for the inodes a change touches.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * Open addressing with linear probing, kept at most half full.
 */
#include <config.h>

#include <stdlib.h>

#include "inomap.h"

void
inomap_init (struct inomap *m)
{
  *m = (struct inomap) { 0 };
}

void
inomap_free (struct inomap *m)
{
  free (m->key);
  free (m->val);
  inomap_init (m);
}

static size_t
slot_of (uint32_t ino, size_t cap)
{
  return (ino * 2654435761u) & (cap - 1);
}

int64_t
inomap_get (const struct inomap *m, uint32_t ino)
{
  if (!m->cap || ino == 0)
    return -1;
  for (size_t i = slot_of (ino, m->cap);; i = (i + 1) & (m->cap - 1)) {
    if (m->key[i] == ino)
      return m->val[i];
    if (m->key[i] == 0)
      return -1;
  }
}

static int
grow (struct inomap *m)
{
  struct inomap g = { calloc (m->cap ? 2 * m->cap : 64, sizeof *g.key),
                      calloc (m->cap ? 2 * m->cap : 64, sizeof *g.val),
                      m->cap ? 2 * m->cap : 64, 0 };

  if (!g.key || !g.val) {
    inomap_free (&g);
    return -1;
  }
  for (size_t i = 0; i < m->cap; i++)
    if (m->key[i])
      inomap_put (&g, m->key[i], m->val[i]);
  inomap_free (m);
  *m = g;
  return 0;
}

int
inomap_put (struct inomap *m, uint32_t ino, uint32_t val)
{
  if (2 * (m->n + 1) > m->cap && grow (m) == -1)
    return -1;
  for (size_t i = slot_of (ino, m->cap);; i = (i + 1) & (m->cap - 1)) {
    if (m->key[i] == ino) {
      m->val[i] = val;
      return 0;
    }
    if (m->key[i] == 0) {
      m->key[i] = ino;
      m->val[i] = val;
      m->n++;
      return 0;
    }
  }
}
