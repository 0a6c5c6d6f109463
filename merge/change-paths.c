/* oneway-merge: the change list, looked at by path.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "change-paths.h"

size_t
changes_at (const struct changes *cs, const char *s, size_t len, size_t *first)
{
  struct path key = { (char *) s, len };
  size_t lo = 0, hi = cs->n, n = 0;

  /* The first change whose path is not below key. */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (path_compare (&cs->c[mid].path, &key) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *first = lo;
  while (lo + n < cs->n && path_compare (&cs->c[lo + n].path, &key) == 0)
    n++;
  return n;
}

int64_t
changes_new_at (const struct changes *cs, const char *s, size_t len)
{
  size_t first, n = changes_at (cs, s, len, &first);

  for (size_t i = first; i < first + n; i++) {
    const struct change *c = &cs->c[i];
    if (c->kind == CHANGE_ADDED || c->kind == CHANGE_RENAMED
        || (c->kind == CHANGE_MODIFIED && c->ino[S0] != c->ino[S1]))
      return i;
  }
  return -1;
}

static int
join (const char *a, size_t alen, const char *b, size_t blen, struct path *out)
{
  /* The root is "/", whose children are "/" + name. */
  if (alen == 1 && a[0] == '/')
    alen = 0;
  out->len = alen + blen;
  if (!(out->s = malloc (out->len ? out->len : 1)))
    return -1;
  memcpy (out->s, a, alen);
  memcpy (out->s + alen, b, blen);
  return 0;
}

int
changes_base_path (const struct changes *cs, const struct path *p, bool self,
                   struct path *out)
{
  size_t end = p->len;

  out->s = NULL;
  out->len = 0;
  /* From p (or its parent) up: the first that is new at its place
   * decides; the root never is. */
  if (!self)
    while (end > 0 && p->s[--end] != '/')
      ;
  while (end > 0) {
    int64_t i = changes_new_at (cs, p->s, end);
    if (i >= 0) {
      const struct change *c = &cs->c[i];
      if (c->kind != CHANGE_RENAMED)
        return 1;
      return join (c->from.s, c->from.len, p->s + end, p->len - end, out);
    }
    while (end > 0 && p->s[--end] != '/')
      ;
  }
  return join ("", 0, p->s, p->len, out);
}

static int
compare_path_ptrs (const void *a, const void *b)
{
  return path_compare (*(const struct path *const *) a, *(const struct path *const *) b);
}

int
leaving_init (struct leaving *l, const struct changes *cs, const bool *chosen)
{
  l->n = 0;
  if (!(l->p = malloc ((cs->n ? cs->n : 1) * sizeof *l->p)))
    return -1;
  for (size_t i = 0; i < cs->n; i++)
    if (chosen[i] && cs->c[i].kind == CHANGE_DELETED)
      l->p[l->n++] = &cs->c[i].path;
    else if (chosen[i] && cs->c[i].kind == CHANGE_RENAMED)
      l->p[l->n++] = &cs->c[i].from;
  if (l->n > 1)
    qsort (l->p, l->n, sizeof *l->p, compare_path_ptrs);
  return 0;
}

bool
leaving_has (const struct leaving *l, const struct path *base_path)
{
  return l->n && bsearch (&base_path, l->p, l->n, sizeof *l->p, compare_path_ptrs);
}

void
leaving_free (struct leaving *l)
{
  free (l->p);
  l->p = NULL;
  l->n = 0;
}
