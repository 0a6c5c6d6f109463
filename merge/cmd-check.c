/* oneway-merge check: would a commit into the host tree go through?
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * The SEE's changes (the diff), what it read (the read set) and the
 * host tree now, judged by consistency.h's rules with the selection
 * and overrides a commit would be given.  Nothing is written: not the
 * overlay, not the host.
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "changes.h"
#include "commands.h"
#include "review.h"
#include "json.h"
#include "oneway/escape.h"
#include "oneway/overlay.h"

/* The riskiest first: planted privileges, protected paths, other
 * filesystems, then what the SEE may have done on stale data, what a
 * commit would overwrite, what is gone, names made twice, and a
 * selection that cannot stand alone. */
static int
risk (const struct issue *is)
{
  switch (is->kind) {
  case ISSUE_SETUID: return 0;
  case ISSUE_CAPABILITY: return 1;
  case ISSUE_DEVICE: return 2;
  case ISSUE_PROTECTED: return 3;
  case ISSUE_OTHER_FILESYSTEM: return 4;
  case ISSUE_READ_WRITE: return 5;
  case ISSUE_WRITE_WRITE: return is->blind ? 7 : 6;
  case ISSUE_GONE: return 8;
  case ISSUE_NAME: return 9;
  case ISSUE_SELECTION: return 10;
  case ISSUE_STALE_LISTING: default: return 11;
  }
}

/* For people: what blocks first, by risk; then what was overridden;
 * then the notes. */
static int
compare_for_people (const void *a, const void *b)
{
  const struct issue *x = *(const struct issue *const *) a, *y = *(const struct issue *const *) b;
  bool nx = issue_class_of (x->kind) == ISSUE_NOTE, ny = issue_class_of (y->kind) == ISSUE_NOTE;

  if (nx != ny)
    return nx - ny;
  if (x->overridden != y->overridden)
    return x->overridden - y->overridden;
  if (risk (x) != risk (y))
    return risk (x) - risk (y);
  return path_compare (&x->path, &y->path);
}

/* For programs: by kind as DESIGN.md lists them, then by path. */
static int
compare_for_json (const void *a, const void *b)
{
  const struct issue *x = *(const struct issue *const *) a, *y = *(const struct issue *const *) b;

  if (x->kind != y->kind)
    return (int) x->kind - (int) y->kind;
  return path_compare (&x->path, &y->path);
}

static const struct issue **
sorted (const struct verdict *v, int (*cmp) (const void *, const void *))
{
  const struct issue **s = malloc ((v->n ? v->n : 1) * sizeof *s);

  if (s) {
    for (size_t k = 0; k < v->n; k++)
      s[k] = &v->issue[k];
    qsort (s, v->n, sizeof *s, cmp);
  }
  return s;
}

static void
issue_json (struct json *j, const struct issue *is)
{
  json_object_begin (j);
  json_key (j, "kind"); json_string (j, issue_kind_names[is->kind]);
  json_key (j, "path"); json_bytes (j, is->path.s, is->path.len);
  if (is->kind == ISSUE_WRITE_WRITE) {
    json_key (j, "blind"); json_bool (j, is->blind);
  }
  if (is->kind == ISSUE_READ_WRITE || is->kind == ISSUE_WRITE_WRITE)
    merge_aspects_json (j, "host", is->host);
  if (is->kind == ISSUE_WRITE_WRITE)
    merge_aspects_json (j, "see", is->see);
  if (is->rule) {
    json_key (j, "rule"); json_bytes (j, is->rule->s, is->rule->len);
  }
  if (is->detail) {
    /* Already escaped: written as it is, quotes and backslashes aside. */
    json_key (j, "detail"); json_escaped (j, is->detail);
  }
  if (is->overridden) {
    json_key (j, issue_class_of (is->kind) == ISSUE_POLICY ? "allowed" : "accepted");
    json_bool (j, true);
  }
  json_object_end (j);
}

static void
print_json (const struct merge_opts *o, const struct analysis *an, const struct changes *cs,
            const struct verdict *v, const struct issue **s)
{
  static const char *const class_keys[ISSUE_CLASSES] = { "conflicts", "policy", "notes" };
  struct json j;

  json_init (&j, stdout);
  json_object_begin (&j);
  json_key (&j, "host"); json_string (&j, o->host);
  json_key (&j, "ok"); json_bool (&j, v->blocking == 0);
  for (int cls = 0; cls < ISSUE_CLASSES; cls++) {
    json_key (&j, class_keys[cls]);
    json_array_begin (&j);
    for (size_t k = 0; k < v->n; k++)
      if (issue_class_of (s[k]->kind) == (enum issue_class) cls)
        issue_json (&j, s[k]);
    json_array_end (&j);
  }
  json_key (&j, "summary");
  json_object_begin (&j);
  json_key (&j, "changes"); json_u64 (&j, cs->n);
  json_key (&j, "selected"); json_u64 (&j, v->nchosen);
  for (int cls = 0; cls < ISSUE_CLASSES; cls++) {
    json_key (&j, class_keys[cls]); json_u64 (&j, v->count[cls]);
  }
  json_key (&j, "blocking"); json_u64 (&j, v->blocking);
  json_object_end (&j);
  merge_findings_json (&j, an);
  json_object_end (&j);
  json_finish (&j);
}

static void
print_bytes (const char *s, size_t len)
{
  char *e = ow_escape (s, len);
  fputs (e ? e : "?", stdout);
  free (e);
}

static void
print_aspects (const char *label, unsigned w, const char **sep)
{
  const char *comma = "";

  printf ("%s%s ", *sep, label);
  for (int a = 0; a < ASPECTS; a++)
    if (w & (1u << a)) {
      printf ("%s%s", comma, aspect_names[a]);
      comma = ",";
    }
  *sep = "; ";
}

static void
print_issue (const struct issue *is)
{
  const char *sep = " (";

  printf ("%-16s ", issue_kind_names[is->kind]);
  print_bytes (is->path.s, is->path.len);
  if (is->kind == ISSUE_READ_WRITE && is->host)
    print_aspects ("the host changed its", is->host, &sep);
  if (is->kind == ISSUE_WRITE_WRITE) {
    print_aspects ("the host changed its", is->host, &sep);
    if (is->see)
      print_aspects ("the SEE changed its", is->see, &sep);
    printf ("%s%s", sep, is->blind ? "blind: the SEE did not read it" : "the SEE read it");
  }
  if (is->rule) {
    printf ("%sprotected by ", sep);
    print_bytes (is->rule->s, is->rule->len);
    sep = "; ";
  }
  if (is->detail) {
    printf ("%s%s", sep, is->detail);
    sep = "; ";
  }
  if (sep[0] == ';')
    putchar (')');
  if (is->overridden)
    fputs (issue_class_of (is->kind) == ISSUE_POLICY ? "  [allowed]" : "  [accepted]", stdout);
  putchar ('\n');
}

static void
print_human (const struct merge_opts *o, const struct changes *cs, const struct verdict *v,
             const struct issue **s)
{
  printf ("host ");
  print_bytes (o->host, strlen (o->host));
  printf (": %zu of %zu changes selected; %zu conflict%s, %zu policy finding%s, %zu note%s\n",
          v->nchosen, cs->n, v->count[ISSUE_CONFLICT], v->count[ISSUE_CONFLICT] == 1 ? "" : "s",
          v->count[ISSUE_POLICY], v->count[ISSUE_POLICY] == 1 ? "" : "s",
          v->count[ISSUE_NOTE], v->count[ISSUE_NOTE] == 1 ? "" : "s");
  for (size_t k = 0; k < v->n; k++)
    print_issue (s[k]);
  if (v->blocking)
    printf ("not ok: %zu of these would make a commit refuse (override with --accept PATH, "
            "or --allow KIND for policy findings)\n", v->blocking);
  else
    printf ("ok: a commit of this selection would go through\n");
}

/* check's report: the one commit prints when it refuses too. */
void
review_print (const struct merge_opts *o, const struct review *rv)
{
  const struct issue **s = sorted (&rv->v, o->json ? compare_for_json : compare_for_people);

  if (!s) {
    perror ("oneway-merge");
    return;
  }
  if (o->json)
    print_json (o, &rv->an, &rv->cs, &rv->v, s);
  else
    print_human (o, &rv->cs, &rv->v, s);
  free (s);
}

int
cmd_check (const struct merge_opts *o)
{
  struct review rv;
  int r = EXIT_ERROR;

  if (review_open (o, false, &rv) == 0 && review_judge (o, &rv) == 0) {
    review_print (o, &rv);
    merge_print_findings (&rv.an);
    r = rv.v.blocking ? EXIT_NO : EXIT_YES;
  }
  review_close (&rv);
  return r;
}
