/* oneway-merge: which changes a commit takes, and which conflicts the
 * user accepts.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * --only PATH and --exclude PATH (a directory means its subtree) and
 * --from FILE (one path a line, or NUL-separated with -z, as --only)
 * choose changes: a change is chosen when its path, or a rename's old
 * path, is within an --only path (every change is, when there is
 * none), and neither is within an --exclude path.  --accept PATH
 * accepts the conflicts at PATH and below it.
 *
 * What a chosen change needs comes with it: a directory that is new at
 * its place in the SEE view (added, renamed there, or put in place of
 * the base's), for whatever is in it; and for the deletion of a
 * directory, the deletions of what was in it and the renames out of
 * it.  A need that --exclude leaves out cannot come, and one name of a
 * new file with several names cannot go alone (a later commit of the
 * other would make a second file): those are problems, which refuse a
 * commit.
 */
#ifndef ONEWAY_MERGE_SELECTION_H
#define ONEWAY_MERGE_SELECTION_H

#include <stdbool.h>
#include <stddef.h>

#include "changes.h"

struct selection {
  struct path_list only, exclude, accept;
};

/* --only, --exclude, --accept PATH: -1 with a message. */
int selection_add (struct path_list *l, const char *arg, const char *option);
/* --from FILE: its paths go to --only; nul: separated by NUL bytes, not
 * newlines.  "-" is standard input.  -1 with a message naming the line. */
int selection_from (struct selection *s, const char *file, bool nul);
void selection_free (struct selection *s);

bool selection_accepts (const struct selection *s, const struct path *path);

struct selection_problem {
  size_t change;                /* the change that cannot stand alone */
  char *detail;                 /* for people, escaped */
};

/* chosen[i] for each change of cs, needs included; the problems in
 * *probs (malloc'ed, *nprobs long).  -1 on out of memory. */
int selection_resolve (const struct selection *s, const struct changes *cs, bool *chosen,
                       struct selection_problem **probs, size_t *nprobs);

#endif
