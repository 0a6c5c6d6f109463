/* oneway-merge diff: what changed, file by file.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "changes.h"
#include "commands.h"
#include "json.h"
#include "oneway/escape.h"

static void
print_json (const struct analysis *an, const struct changes *cs)
{
  struct json j;

  json_init (&j, stdout);
  json_object_begin (&j);
  json_key (&j, "filesystem"); json_string (&j, an->probe.fstype);
  json_key (&j, "changes");
  json_array_begin (&j);
  for (size_t i = 0; i < cs->n; i++) {
    const struct change *c = &cs->c[i];
    json_object_begin (&j);
    json_key (&j, "change"); json_string (&j, change_kind_names[c->kind]);
    json_key (&j, "path"); json_bytes (&j, c->path.s, c->path.len);
    if (c->kind == CHANGE_RENAMED) {
      json_key (&j, "from"); json_bytes (&j, c->from.s, c->from.len);
    }
    json_key (&j, "type"); json_string (&j, c->type);
    if (c->kind == CHANGE_MODIFIED || c->kind == CHANGE_RENAMED)
      merge_aspects_json (&j, "what", c->what);
    if (c->link_of.s) {
      json_key (&j, "link_of"); json_bytes (&j, c->link_of.s, c->link_of.len);
    }
    json_object_end (&j);
  }
  json_array_end (&j);
  json_key (&j, "summary");
  json_object_begin (&j);
  for (int k = 0; k < CHANGE_KINDS; k++) {
    json_key (&j, change_kind_names[k]);
    json_u64 (&j, cs->count[k]);
  }
  json_object_end (&j);
  merge_findings_json (&j, an);
  json_object_end (&j);
  json_finish (&j);
}

static void
print_path (const struct path *p)
{
  char *e = ow_escape (p->s, p->len);
  fputs (e ? e : "?", stdout);
  free (e);
}

static void
print_human (const struct changes *cs)
{
  static const char letter[CHANGE_KINDS] = { 'A', 'M', 'D', 'R' };

  for (size_t i = 0; i < cs->n; i++) {
    const struct change *c = &cs->c[i];
    printf ("%c ", letter[c->kind]);
    if (c->kind == CHANGE_RENAMED) {
      print_path (&c->from);
      fputs (" -> ", stdout);
    }
    print_path (&c->path);
    if (c->what) {
      const char *sep = " (";
      for (int a = 0; a < ASPECTS; a++)
        if (c->what & (1u << a)) {
          printf ("%s%s", sep, aspect_names[a]);
          sep = ",";
        }
      putchar (')');
    }
    if (c->link_of.s) {
      fputs (" (link of ", stdout);
      print_path (&c->link_of);
      putchar (')');
    }
    putchar ('\n');
  }
}

/* Content we do not read: say so, and give the written blocks. */
struct blocks_json {
  struct json *j;
};

static int
range_json (void *opaque, uint64_t first, uint64_t count)
{
  struct json *j = opaque;
  json_array_begin (j);
  json_u64 (j, first);
  json_u64 (j, count);
  json_array_end (j);
  return 0;
}

static int
range_human (void *opaque, uint64_t first, uint64_t count)
{
  (void) opaque;
  printf ("  %" PRIu64 "-%" PRIu64 "\n", first, first + count - 1);
  return 0;
}

static void
diff_unknown (const struct merge_opts *o, struct ow_overlay *ov, const struct analysis *an)
{
  struct json j;

  fprintf (stderr, "oneway-merge: the SEE view holds %s: not understood at the filesystem "
           "level, so there is no list of changed files; the written blocks follow\n",
           an->probe.what);
  if (!o->json) {
    printf ("written blocks (of %" PRIu32 " bytes):\n", ow_block_size (ov));
    ow_written_ranges (ov, range_human, NULL);
    return;
  }
  json_init (&j, stdout);
  json_object_begin (&j);
  json_key (&j, "filesystem"); json_null (&j);
  json_key (&j, "content"); json_string (&j, an->probe.what);
  json_key (&j, "changes"); json_null (&j);
  json_key (&j, "block_size"); json_u64 (&j, ow_block_size (ov));
  json_key (&j, "written");
  json_array_begin (&j);
  ow_written_ranges (ov, range_json, &j);
  json_array_end (&j);
  json_object_end (&j);
  json_finish (&j);
}

int
cmd_diff (const struct merge_opts *o)
{
  struct ow_overlay *ov;
  struct analysis an;
  struct changes cs = { 0 };
  int r = merge_open_views (o, &ov, &an);

  if (r == -1)
    return EXIT_ERROR;
  if (r == 1) {
    /* Not an error in the input, but no answer to the question: a
     * script must not take the missing list for "nothing changed". */
    diff_unknown (o, ov, &an);
    r = EXIT_ERROR;
  }
  else if (analysis_attribute (&an) == 0 && analysis_diff (&an, &cs) == 0) {
    if (an.v[S0].budget_spent || an.v[S1].budget_spent) {
      /* Mapping stopped, directories included: a list made now would
       * miss changes without saying which. */
      merge_print_findings (&an);
      fprintf (stderr, "oneway-merge: the %s's extent trees and block maps share or loop "
               "so much that reading them all has no bound (see the warnings above): a "
               "change list now would miss changes, so none is given; 'oneway-merge "
               "audit' shows the written blocks\n",
               an.v[S1].budget_spent ? an.v[S1].label : an.v[S0].label);
      r = EXIT_ERROR;
    }
    else {
      if (o->json)
        print_json (&an, &cs);
      else
        print_human (&cs);
      merge_print_findings (&an);
      r = EXIT_YES;
    }
  }
  else {
    fprintf (stderr, "oneway-merge: diff failed (see above)\n");
    r = EXIT_ERROR;
  }
  changes_free (&cs);
  analysis_close (&an);
  ow_close (ov);
  return r;
}
