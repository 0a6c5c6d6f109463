/* oneway-merge: what check and commit both look at.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "review.h"

/* The options, read before anything is opened: bad ones are exit 2. */
static int
load_options (const struct merge_opts *o, struct policy *p, struct selection *s)
{
  if (!o->host) {
    fprintf (stderr, "oneway-merge: %s needs --host DIR, the root of the live tree "
             "a commit goes into\n", o->command);
    return -1;
  }
  if (policy_load (p, o->policy) == -1)
    return -1;
  for (size_t i = 0; i < o->protect.n; i++)
    if (policy_add_protect (p, o->protect.v[i]) == -1)
      return -1;
  for (size_t i = 0; i < o->allow.n; i++)
    if (policy_add_allow (p, o->allow.v[i]) == -1)
      return -1;
  for (size_t i = 0; i < o->only.n; i++)
    if (selection_add (&s->only, o->only.v[i], "--only") == -1)
      return -1;
  for (size_t i = 0; i < o->from.n; i++)
    if (selection_from (s, o->from.v[i], o->nul) == -1)
      return -1;
  for (size_t i = 0; i < o->exclude.n; i++)
    if (selection_add (&s->exclude, o->exclude.v[i], "--exclude") == -1)
      return -1;
  for (size_t i = 0; i < o->accept.n; i++)
    if (selection_add (&s->accept, o->accept.v[i], "--accept") == -1)
      return -1;
  return 0;
}

/* What the SEE read, then the change list less what earlier commits
 * applied; 0, or -1 (printed).  The host's objects at the names of
 * what was read are looked up in the background meanwhile: with a
 * cold cache, the host's disk and the base's then work at the same
 * time. */
static int
load_views (const struct merge_opts *o, struct review *rv)
{
  struct analysis *an = &rv->an;
  struct host_prefetch *early = NULL;
  struct path *names = NULL;
  struct ow_info info;
  size_t n = 0;
  int r = -1;

  if (ow_get_info (rv->ov, &info) == -1) {
    perror ("oneway-merge: reading the overlay's header");
    return -1;
  }
  rv->tracked = info.header.flags & OW_HDR_TRACK_READS;
  if (rv->tracked && reads_load (an, rv->ov, &rv->reads) == -1) {
    fprintf (stderr, "oneway-merge: %s failed: the read set of %s cannot be mapped to "
             "files (see above)\n", o->command, o->overlay);
    return -1;
  }
  if (applied_load (rv->ov, o->overlay, &rv->applied) == -1)
    return -1;
  for (size_t k = 0; k < rv->reads.n; k++)
    n += rv->reads.o[k].nnames;
  if (n && (names = malloc (n * sizeof *names))) {
    n = 0;
    for (size_t k = 0; k < rv->reads.n; k++)
      for (size_t j = 0; j < rv->reads.o[k].nnames; j++)
        names[n++] = rv->reads.o[k].names[j];
    early = host_prefetch_begin (&rv->host, names, n);
  }
  if (analysis_attribute (an) == -1 || analysis_diff (an, &rv->cs) == -1)
    fprintf (stderr, "oneway-merge: %s failed: the change list cannot be made (see above)\n",
             o->command);
  else if (an->v[S0].budget_spent || an->v[S1].budget_spent) {
    merge_print_findings (an);
    fprintf (stderr, "oneway-merge: the %s's extent trees and block maps share or loop so "
             "much that reading them all has no bound (see the warnings above): a change "
             "list now would miss changes, so there is no %s of it\n",
             an->v[S1].budget_spent ? an->v[S1].label : an->v[S0].label, o->command);
  }
  else {
    rv->skipped = applied_filter (&rv->applied, an, &rv->cs);
    r = 0;
  }
  host_prefetch_end (early);
  free (names);
  return r;
}

int
review_open (const struct merge_opts *o, bool writable, struct review *rv)
{
  int views;

  memset (rv, 0, sizeof *rv);
  rv->host.root = -1;
  if (load_options (o, &rv->policy, &rv->sel) == -1 || host_tree_open (&rv->host, o->host) == -1)
    return -1;
  if ((views = merge_open_views_for (o, writable, &rv->ov, &rv->an)) == -1)
    return -1;
  rv->opened = true;
  if (views == 1) {
    fprintf (stderr, "oneway-merge: the SEE view holds %s: %s compares files with the "
             "host's, and there are none to compare here (oneway-merge blocks shows the "
             "written blocks)\n", rv->an.probe.what, o->command);
    return -1;
  }
  return load_views (o, rv);
}

int
review_judge (const struct merge_opts *o, struct review *rv)
{
  struct consistency c = {
    &rv->an, &rv->cs, &rv->applied, rv->tracked ? &rv->reads : NULL, &rv->host, &rv->policy,
    &rv->sel,
  };

  verdict_free (&rv->v);
  if (consistency_check (&c, &rv->v) == -1) {
    fprintf (stderr, "oneway-merge: %s failed (see above); nothing was changed\n", o->command);
    return -1;
  }
  return 0;
}

void
review_close (struct review *rv)
{
  verdict_free (&rv->v);
  reads_free (&rv->reads);
  changes_free (&rv->cs);
  applied_free (&rv->applied);
  if (rv->opened) {
    analysis_close (&rv->an);
    ow_close (rv->ov);
  }
  rv->opened = false;
  host_tree_close (&rv->host);
  selection_free (&rv->sel);
  policy_free (&rv->policy);
}
