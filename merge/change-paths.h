/* oneway-merge: the change list, looked at by path.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * The list is sorted by path (bytewise), so the changes at a path are
 * found by binary search, and those below a directory follow it.
 * Paths in it are the SEE view's, save a deletion's and a rename's
 * old path, which are the base's; where an object is in the base (and
 * so on the host) follows from the renames of the directories above it.
 */
#ifndef ONEWAY_MERGE_CHANGE_PATHS_H
#define ONEWAY_MERGE_CHANGE_PATHS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "changes.h"

/* The changes whose path is exactly (s, len): *first and the count. */
size_t changes_at (const struct changes *cs, const char *s, size_t len, size_t *first);

/* The change that makes the object at SEE path (s, len) new at that
 * place (added there, renamed there, or put in place of the base's
 * object), or -1 if it was there in the base. */
int64_t changes_new_at (const struct changes *cs, const char *s, size_t len);

/* Where the object at SEE path p is in the base view: p, with the
 * deepest directory above it that the SEE renamed put back at its old
 * path.  0 with *out malloc'ed; 1 if a directory above it (or, with
 * self, p itself) is new in the SEE, so it has no place in the base;
 * -1 on out of memory.  With self false only the directories above p
 * count: the place in the base where p's name goes. */
int changes_base_path (const struct changes *cs, const struct path *p, bool self,
                       struct path *out);

/* The base paths whose objects the chosen changes take away (deleted
 * there, or renamed from there): a name the SEE makes at one of them
 * is free once those changes are applied. */
struct leaving {
  const struct path **p;
  size_t n;
};
int leaving_init (struct leaving *l, const struct changes *cs, const bool *chosen);
bool leaving_has (const struct leaving *l, const struct path *base_path);
void leaving_free (struct leaving *l);

#endif
