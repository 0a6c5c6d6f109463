/* oneway-merge commit: apply the SEE's changes to the live host tree.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * The rules are DESIGN.md's "Commit rules": check's verdict first (a
 * refusal changes nothing), then the plan and its journal
 * (commit-plan.h), then the phases (commit-apply.h), each host object
 * compared once more with what the check saw just before it is
 * replaced.  --resume finishes a commit a crash interrupted, --abort
 * undoes one.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "commit-apply.h"
#include "commit-plan.h"
#include "json.h"
#include "oneway/error.h"
#include "oneway/escape.h"
#include "oneway/util.h"
#include "review.h"

/* What a commit applied (or, dry, would apply), from its record. */
static int
report (const struct merge_opts *o, const struct plan *p, const char *verb)
{
  struct applied a = { 0 };
  char id[2 * COMMIT_ID_SIZE + 1], size[32], data[32];
  size_t n = 0;

  if (commit_record_decode (&a, p->record, strlen (p->record), o->overlay, a.ncommits + 1) == -1)
    return -1;
  for (int k = 0; k < COMMIT_ID_SIZE; k++)
    snprintf (id + 2 * k, 3, "%02x", p->id[k]);
  if (o->json) {
    struct json j;
    json_init (&j, stdout);
    json_object_begin (&j);
    json_key (&j, "host"); json_bytes (&j, a.commit[0].host.s, a.commit[0].host.len);
    json_key (&j, "commit"); json_string (&j, id);
    json_key (&j, "dry_run"); json_bool (&j, o->dry_run);
    json_key (&j, "applied");
    json_array_begin (&j);
    for (size_t i = 0; i < a.n; i++) {
      json_object_begin (&j);
      json_key (&j, "kind"); json_string (&j, change_kind_names[a.c[i].kind]);
      json_key (&j, "path"); json_bytes (&j, a.c[i].path.s, a.c[i].path.len);
      if (a.c[i].kind == CHANGE_RENAMED) {
        json_key (&j, "from"); json_bytes (&j, a.c[i].from.s, a.c[i].from.len);
      }
      json_object_end (&j);
    }
    json_array_end (&j);
    json_key (&j, "summary");
    json_object_begin (&j);
    json_key (&j, "changes"); json_u64 (&j, a.n);
    for (int k = 0; k < CHANGE_KINDS; k++) {
      json_key (&j, change_kind_names[k]); json_u64 (&j, a.commit[0].count[k]);
    }
    json_key (&j, "objects_written"); json_u64 (&j, p->nm);
    json_key (&j, "file_bytes"); json_u64 (&j, p->bytes);
    json_key (&j, "bytes_written"); json_u64 (&j, p->data_written);
    json_object_end (&j);
    json_object_end (&j);
    json_finish (&j);
  }
  else {
    char *host = ow_escape (p->host, strlen (p->host));
    for (size_t i = 0; i < a.n; i++) {
      char *e = ow_escape (a.c[i].path.s, a.c[i].path.len);
      printf ("%-9s %s", change_kind_names[a.c[i].kind], e ? e : "?");
      free (e);
      if (a.c[i].kind == CHANGE_RENAMED) {
        e = ow_escape (a.c[i].from.s, a.c[i].from.len);
        printf (" (from %s)", e ? e : "?");
        free (e);
      }
      putchar ('\n');
    }
    for (int k = 0; k < CHANGE_KINDS; k++)
      n += a.commit[0].count[k];
    printf ("%s %zu change%s into %s (%zu added, %zu modified, %zu deleted, %zu renamed; "
            "%zu objects, files of %s, %s of data written); commit %s\n", verb, n,
            n == 1 ? "" : "s", host ? host : "?", a.commit[0].count[CHANGE_ADDED],
            a.commit[0].count[CHANGE_MODIFIED], a.commit[0].count[CHANGE_DELETED],
            a.commit[0].count[CHANGE_RENAMED], p->nm, ow_human_size (p->bytes, size, sizeof size),
            ow_human_size (p->data_written, data, sizeof data), id);
    free (host);
  }
  applied_free (&a);
  return 0;
}

static void
say_refused (const struct merge_opts *o, struct review *rv, const char *why)
{
  if (why) {
    char *e = ow_escape (why, strlen (why));
    fprintf (stderr, "oneway-merge: commit refused: %s\n", e ? e : why);
    free (e);
  }
  else {
    review_print (o, rv);
    merge_print_findings (&rv->an);
  }
  fprintf (stderr, "oneway-merge: commit refused; the host tree is as it was\n");
}

/* Whether the overlay records commit id already (a crash came between
 * recording it and removing the journal). */
static int
recorded (struct ow_overlay *ov, const struct merge_opts *o, const struct plan *p)
{
  struct applied a;
  int r = 0;

  if (applied_load (ov, o->overlay, &a) == -1)
    return -1;
  for (size_t i = 0; i < a.ncommits; i++)
    if (memcmp (a.commit[i].id, p->id, COMMIT_ID_SIZE) == 0)
      r = 1;
  applied_free (&a);
  return r;
}

/* The phases from where the plan stands: 0 done, 1 refused (a host
 * object changed since the check), -1 error (printed). */
static int
carry_out (const struct merge_opts *o, struct ow_overlay *ov, struct committing *c)
{
  int r, rec;

  if (!c->p->written && commit_write (c) == -1)
    return -1;
  if (!c->p->switched && (r = commit_switch (c)) != 0)
    return r;
  if (commit_finish (c) == -1 || (rec = recorded (ov, o, c->p)) == -1)
    return -1;
  commit_point ();
  if (!rec && ow_append_commit_record (ov, c->p->record, strlen (c->p->record)) == -1) {
    ow_error ("commit: the host tree holds the commit, but recording it in overlay %s "
              "failed: %m; commit --resume records it", o->overlay);
    return -1;
  }
  return journal_remove (c->journal);
}

static int
commit_new (const struct merge_opts *o, const char *journal)
{
  struct review rv;
  struct plan plan = { 0 };
  struct committing c = { .stg = -1 };
  struct selection_problem *probs = NULL;
  size_t nprobs = 0;
  bool *chosen = NULL, planned;
  struct stat st;
  int r = EXIT_ERROR, w;

  if (lstat (journal, &st) == 0) {
    char *e = ow_escape (journal, strlen (journal));
    fprintf (stderr, "oneway-merge: commit journal %s exists: a commit of this overlay was "
             "interrupted; finish it with commit --resume, or undo it with commit --abort\n",
             e ? e : "?");
    free (e);
    return EXIT_ERROR;
  }
  if (review_open (o, !o->dry_run, &rv) == -1)
    goto out;
  /* What each host object is now, before the check looks at it: an
   * object that changes after the check is then caught when it is
   * replaced.  (The selection does not depend on the host.)  A plan
   * that cannot be made is an error only if the check lets the commit
   * through. */
  if (!(chosen = calloc (rv.cs.n ? rv.cs.n : 1, sizeof *chosen))
      || selection_resolve (&rv.sel, &rv.cs, chosen, &probs, &nprobs) == -1) {
    perror ("oneway-merge");
    goto out;
  }
  planned = plan_build (&rv, chosen, o->host, &plan) == 0;
  if (review_judge (o, &rv) == -1)
    goto out;
  if (rv.v.nchosen == 0) {
    if (rv.skipped && rv.cs.n == 0)
      fprintf (stderr, "oneway-merge: nothing left to commit: earlier commits applied all %zu "
               "changes of the SEE (oneway-merge info lists them)\n", rv.skipped);
    else
      fprintf (stderr, "oneway-merge: nothing to commit: %s\n", rv.cs.n ? "the selection takes "
               "none of the changes" : "the SEE changed no file");
    r = EXIT_NO;
    goto out;
  }
  if (rv.v.blocking) {
    say_refused (o, &rv, NULL);
    r = EXIT_NO;
    goto out;
  }
  if (!planned)
    goto out;
  if (o->dry_run) {
    r = report (o, &plan, "would commit") == 0 ? EXIT_YES : EXIT_ERROR;
    goto out;
  }
  c = (struct committing) { &plan, &rv.host, &rv.an.v[S1], journal, -1,
                            isatty (STDERR_FILENO) && !o->json, false, NULL };
  if (journal_create (journal, &plan) == -1)
    goto out;
  w = carry_out (o, rv.ov, &c);
  if (w == 1) {
    /* Refused as a conflict: what was done is undone. */
    char *why = c.refused;
    c.refused = NULL;
    if (commit_undo (&c) == 0 && journal_remove (journal) == 0) {
      say_refused (o, &rv, why);
      r = EXIT_NO;
    }
    else
      fprintf (stderr, "oneway-merge: commit stopped: %s; and undoing it failed (see above): "
               "commit --abort tries again\n", why ? why : "a host object changed");
    free (why);
  }
  else if (w == 0)
    r = report (o, &plan, "committed") == 0 ? EXIT_YES : EXIT_ERROR;
  else
    fprintf (stderr, "oneway-merge: commit stopped (see above); commit --resume finishes it, "
             "commit --abort undoes it\n");
 out:
  for (size_t k = 0; k < nprobs; k++)
    free (probs[k].detail);
  free (probs);
  free (chosen);
  committing_close (&c);
  plan_free (&plan);
  review_close (&rv);
  return r;
}

/* --resume and --abort: the journal says what to do. */
static int
commit_journaled (const struct merge_opts *o, const char *journal)
{
  struct plan plan;
  struct host_tree host = { -1, NULL };
  struct committing c = { .stg = -1 };
  struct ow_overlay *ov = NULL;
  struct analysis an;
  struct ow_info info;
  struct stat st;
  const char *what = o->resume ? "resume" : "abort";
  int r = EXIT_ERROR, views = -1, w;

  switch (journal_load (journal, &plan)) {
  case 1:
    fprintf (stderr, "oneway-merge: no commit of %s to %s: there is no journal %s\n",
             o->overlay, what, journal);
    return EXIT_NO;
  case 2:
    /* Cut short as it was written: the host was not touched yet. */
    if (journal_remove (journal) == -1)
      return EXIT_ERROR;
    fprintf (stderr, "oneway-merge: the commit stopped before it changed anything; its "
             "journal is removed, and there is nothing to %s\n", what);
    return EXIT_NO;
  case -1:
    return EXIT_ERROR;
  }
  if (o->abort && plan.switched) {
    fprintf (stderr, "oneway-merge: the commit had put every change in place when it stopped: "
             "it cannot be undone now; commit --resume finishes it\n");
    r = EXIT_NO;
    goto out;
  }
  if (host_tree_open (&host, o->host ? o->host : plan.host) == -1)
    goto out;
  if (fstat (host.root, &st) == -1 || st.st_dev != plan.root_dev || st.st_ino != plan.root_ino) {
    fprintf (stderr, "oneway-merge: %s is not the host tree the commit went into (%s)\n",
             host.name, plan.host);
    goto out;
  }
  c = (struct committing) { &plan, &host, NULL, journal, -1,
                            isatty (STDERR_FILENO) && !o->json, true, NULL };
  if (o->abort) {
    if (commit_undo (&c) == 0 && journal_remove (journal) == 0) {
      fprintf (stderr, "oneway-merge: the commit is undone; the host tree is as it was "
               "before it\n");
      r = EXIT_YES;
    }
    goto out;
  }
  if ((views = merge_open_views_for (o, true, &ov, &an)) != 0) {
    if (views == 1)
      fprintf (stderr, "oneway-merge: the SEE view no longer holds a filesystem\n");
    goto out;
  }
  if (ow_get_info (ov, &info) == -1 || memcmp (info.header.uuid, plan.overlay_uuid, 16) != 0) {
    fprintf (stderr, "oneway-merge: overlay %s is not the one the commit came from\n",
             o->overlay);
    goto out;
  }
  c.see = &an.v[S1];
  w = carry_out (o, ov, &c);
  if (w == 0)
    r = report (o, &plan, "committed") == 0 ? EXIT_YES : EXIT_ERROR;
  else if (w == 1) {
    char *e = c.refused ? ow_escape (c.refused, strlen (c.refused)) : NULL;
    fprintf (stderr, "oneway-merge: resume stopped: %s; commit --abort undoes the commit\n",
             e ? e : "?");
    free (e);
    r = EXIT_NO;
  }
 out:
  committing_close (&c);
  if (views >= 0) {
    analysis_close (&an);
    ow_close (ov);
  }
  host_tree_close (&host);
  plan_free (&plan);
  return r;
}

int
cmd_commit (const struct merge_opts *o)
{
  char *journal = journal_name (o->overlay);
  int r;

  if (!journal) {
    perror ("oneway-merge");
    return EXIT_ERROR;
  }
  if (o->resume && o->abort) {
    fprintf (stderr, "oneway-merge: --resume and --abort: one or the other\n");
    r = EXIT_ERROR;
  }
  else if (!o->resume && !o->abort && !o->host) {
    fprintf (stderr, "oneway-merge: commit needs --host DIR, the root of the live tree to "
             "commit into\n");
    r = EXIT_ERROR;
  }
  else
    r = o->resume || o->abort ? commit_journaled (o, journal) : commit_new (o, journal);
  free (journal);
  return r;
}
