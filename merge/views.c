/* oneway-merge: opening the two views of an overlay.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analysis.h"
#include "changes.h"
#include "commands.h"
#include "commit-plan.h"
#include "json.h"
#include "oneway/escape.h"

struct add_written {
  struct analysis *an;
  uint64_t block_size;
};

static int
add_written (void *opaque, uint64_t first, uint64_t count)
{
  struct add_written *w = opaque;
  return analysis_add_written (w->an, first * w->block_size, count * w->block_size);
}

int
merge_open_views (const struct merge_opts *o, struct ow_overlay **ov, struct analysis *an)
{
  return merge_open_views_for (o, false, ov, an);
}

int
merge_open_views_for (const struct merge_opts *o, bool writable, struct ow_overlay **ov,
                      struct analysis *an)
{
  struct disk base, see;
  int r;

  if ((writable ? merge_open_for_tool (o, ov) : merge_open (o, true, ov)) == -1)
    return -1;
  disk_base_view (*ov, &base);
  disk_see_view (*ov, false, &see);
  r = analysis_open (an, &base, &see, o->partition, o->ignore_journal);
  if (r == 0) {
    struct add_written w = { an, ow_block_size (*ov) };
    if (ow_written_ranges (*ov, add_written, &w) == -1) {
      perror ("oneway-merge: reading the written set");
      r = -1;
    }
  }
  if (r == -1) {
    analysis_close (an);
    ow_close (*ov);
    *ov = NULL;
  }
  return r;
}

void
merge_print_findings (const struct analysis *an)
{
  /* Whatever came from the SEE inside a finding is escaped already. */
  for (size_t i = 0; i < an->findings.n; i++)
    fprintf (stderr, "oneway-merge: warning: %s\n", an->findings.msg[i]);
  if (an->findings.dropped)
    fprintf (stderr, "oneway-merge: warning: %" PRIu64 " more findings not shown\n",
             an->findings.dropped);
}

void
merge_findings_json (struct json *j, const struct analysis *an)
{
  json_key (j, "findings");
  json_array_begin (j);
  for (size_t i = 0; i < an->findings.n; i++)
    json_string (j, an->findings.msg[i]);
  json_array_end (j);
}

void
merge_aspects_json (struct json *j, const char *key, unsigned w)
{
  json_key (j, key);
  json_array_begin (j);
  for (int a = 0; a < ASPECTS; a++)
    if (w & (1u << a))
      json_string (j, aspect_names[a]);
  json_array_end (j);
}

int
merge_refuse_while_committing (const struct merge_opts *o)
{
  char *journal = journal_name (o->overlay), *e;
  struct stat st;
  int r = 0;

  if (!journal) {
    perror ("oneway-merge");
    return -1;
  }
  if (lstat (journal, &st) == 0) {
    e = ow_escape (o->overlay, strlen (o->overlay));
    fprintf (stderr, "oneway-merge: a commit of %s into a host tree was interrupted: %s would "
             "change the SEE's changes under it; finish the commit with commit --resume, or "
             "undo it with commit --abort, first\n", e ? e : "?", o->command);
    free (e);
    r = -1;
  }
  free (journal);
  return r;
}
