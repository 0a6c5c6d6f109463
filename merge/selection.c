/* oneway-merge: which changes a commit takes, and which conflicts the
 * user accepts.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "change-paths.h"
#include "oneway/error.h"
#include "oneway/escape.h"
#include "oneway/util.h"
#include "selection.h"

int
selection_add (struct path_list *l, const char *arg, const char *option)
{
  struct path p;

  if (path_from_user (arg, strlen (arg), option, &p) == -1)
    return -1;
  return path_list_push (l, p);
}

int
selection_from (struct selection *s, const char *file, bool nul)
{
  FILE *f = strcmp (file, "-") == 0 ? stdin : fopen (file, "r");
  char *e = ow_escape (file, strlen (file)), *line = NULL, where[512];
  size_t cap = 0;
  ssize_t len;
  unsigned lineno = 0, paths = 0;
  int r = 0;

  if (!f) {
    ow_error ("--from %s: %m", e ? e : "?");
    free (e);
    return -1;
  }
  while (r == 0 && (len = getdelim (&line, &cap, nul ? '\0' : '\n', f)) != -1) {
    struct path p;
    lineno++;
    if (len > 0 && line[len - 1] == (nul ? '\0' : '\n'))
      len--;
    if (len == 0)
      continue;
    snprintf (where, sizeof where, "--from %s, %s %u:", e ? e : "?",
              nul ? "path" : "line", lineno);
    if (path_from_user (line, len, where, &p) == -1 || path_list_push (&s->only, p) == -1)
      r = -1;
    paths++;
  }
  if (r == 0 && ferror (f)) {
    ow_error ("--from %s: %m", e ? e : "?");
    r = -1;
  }
  if (r == 0 && paths == 0) {
    /* An empty list would otherwise mean "everything". */
    errno = EINVAL;
    ow_error ("--from %s names no path: an empty selection takes nothing; leave --from "
              "out to take every change", e ? e : "?");
    r = -1;
  }
  free (line);
  free (e);
  if (f != stdin)
    fclose (f);
  return r;
}

void
selection_free (struct selection *s)
{
  path_list_free (&s->only);
  path_list_free (&s->exclude);
  path_list_free (&s->accept);
}

static bool
in_list (const struct path_list *l, const struct path *p)
{
  for (size_t i = 0; i < l->n; i++)
    if (path_within (p->s, p->len, l->p[i].s, l->p[i].len))
      return true;
  return false;
}

bool
selection_accepts (const struct selection *s, const struct path *path)
{
  return in_list (&s->accept, path);
}

static bool
touches (const struct path_list *l, const struct change *c)
{
  return in_list (l, &c->path) || (c->kind == CHANGE_RENAMED && in_list (l, &c->from));
}

/* The closure: chosen changes pull in what they need. */
struct resolve {
  const struct selection *s;
  const struct changes *cs;
  bool *chosen;
  size_t *work, nwork;
  struct selection_problem *probs;
  size_t nprobs, capprobs;
  size_t *by_from;              /* renames, sorted by old path */
  size_t nfrom;
};

/* "A mid B end", the paths escaped. */
static int
problem (struct resolve *r, size_t i, const struct path *a, const char *mid,
         const struct path *b, const char *end)
{
  char *ea = ow_escape (a->s, a->len), *eb = ow_escape (b->s, b->len), *d = NULL;
  int ret = -1;

  if (ea && eb && asprintf (&d, "%s%s%s%s", ea, mid, eb, end) >= 0
      && ow_grow_array (&r->probs, &r->capprobs, r->nprobs + 1, sizeof *r->probs) == 0) {
    r->probs[r->nprobs++] = (struct selection_problem) { i, d };
    d = NULL;
    ret = 0;
  }
  free (d);
  free (ea);
  free (eb);
  return ret;
}

/* Change i needs change j. */
static int
need (struct resolve *r, size_t i, size_t j, const char *why)
{
  const struct change *c = &r->cs->c[i], *n = &r->cs->c[j];
  char end[256];

  if (r->chosen[j])
    return 0;
  if (touches (&r->s->exclude, n)) {
    snprintf (end, sizeof end, " (%s), which --exclude leaves out", why);
    return problem (r, i, &c->path, " needs ", &n->path, end);
  }
  r->chosen[j] = true;
  r->work[r->nwork++] = j;
  return 0;
}

/* The directory above the object is new at its place: it comes. */
static int
need_parent (struct resolve *r, size_t i)
{
  const struct path *p = &r->cs->c[i].path;
  size_t end = p->len;

  while (end > 0 && p->s[--end] != '/')
    ;
  for (; end > 0; ) {
    int64_t j = changes_new_at (r->cs, p->s, end);
    if (j >= 0)
      return need (r, i, j, r->cs->c[j].kind == CHANGE_RENAMED
                   ? "the directory it is in, renamed by the SEE"
                   : "the directory it is in, new in the SEE");
    while (end > 0 && p->s[--end] != '/')
      ;
  }
  return 0;
}

static int
compare_from (const void *a, const void *b, void *cs)
{
  const struct change *c = ((const struct changes *) cs)->c;
  return path_compare (&c[*(const size_t *) a].from, &c[*(const size_t *) b].from);
}

/* A directory is deleted: what was in it goes first. */
static int
need_contents (struct resolve *r, size_t i)
{
  const struct changes *cs = r->cs;
  const struct path *d = &cs->c[i].path;
  size_t first, k;

  changes_at (cs, d->s, d->len, &first);
  for (k = first; k < cs->n && path_within (cs->c[k].path.s, cs->c[k].path.len, d->s, d->len); k++)
    if (k != i && cs->c[k].kind == CHANGE_DELETED
        && need (r, i, k, "deleted from it by the SEE") == -1)
      return -1;
  for (k = 0; k < r->nfrom; k++) {
    const struct change *c = &cs->c[r->by_from[k]];
    if (path_within (c->from.s, c->from.len, d->s, d->len)
        && need (r, i, r->by_from[k], "renamed out of it by the SEE") == -1)
      return -1;
  }
  return 0;
}

/* The names of one new object go together: each name after the first
 * is added as a link of the first. */
static int
check_links (struct resolve *r)
{
  const struct changes *cs = r->cs;

  for (size_t i = 0; i < cs->n; i++) {
    const struct change *a = &cs->c[i];
    size_t first, n;
    if (a->kind != CHANGE_ADDED || a->ino[S0] || !a->link_of.s)
      continue;
    n = changes_at (cs, a->link_of.s, a->link_of.len, &first);
    for (size_t j = first; j < first + n; j++) {
      const struct change *b = &cs->c[j];
      if (b->kind != CHANGE_ADDED || b->ino[S1] != a->ino[S1] || r->chosen[i] == r->chosen[j])
        continue;
      size_t in = r->chosen[i] ? i : j, out = r->chosen[i] ? j : i;
      if (problem (r, in, &cs->c[in].path, " and ", &cs->c[out].path,
                   " are names of one new file: select both or neither") == -1)
        return -1;
    }
  }
  return 0;
}

int
selection_resolve (const struct selection *s, const struct changes *cs, bool *chosen,
                   struct selection_problem **probs, size_t *nprobs)
{
  struct resolve r = { s, cs, chosen, NULL, 0, NULL, 0, 0, NULL, 0 };
  int ret = -1;

  *probs = NULL;
  *nprobs = 0;
  if (!(r.work = malloc ((cs->n ? cs->n : 1) * sizeof *r.work))
      || !(r.by_from = malloc ((cs->n ? cs->n : 1) * sizeof *r.by_from)))
    goto out;
  for (size_t i = 0; i < cs->n; i++) {
    const struct change *c = &cs->c[i];
    chosen[i] = (s->only.n == 0 || touches (&s->only, c)) && !touches (&s->exclude, c);
    if (chosen[i])
      r.work[r.nwork++] = i;
    if (c->kind == CHANGE_RENAMED)
      r.by_from[r.nfrom++] = i;
  }
  qsort_r (r.by_from, r.nfrom, sizeof *r.by_from, compare_from, (void *) cs);
  while (r.nwork) {
    size_t i = r.work[--r.nwork];
    const struct change *c = &cs->c[i];
    if (c->kind != CHANGE_DELETED && need_parent (&r, i) == -1)
      goto out;
    if (c->kind == CHANGE_DELETED && strcmp (c->type, "dir") == 0 && need_contents (&r, i) == -1)
      goto out;
  }
  if (check_links (&r) == -1)
    goto out;
  ret = 0;
 out:
  free (r.work);
  free (r.by_from);
  *probs = r.probs;
  *nprobs = r.nprobs;
  return ret;
}
