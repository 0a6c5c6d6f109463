/* oneway-merge: the filesystem-level change list.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * The rules (DESIGN.md, "diff --json"), in terms of what ext4 keeps:
 * an object is an inode with its generation; its names are directory
 * entries (parent directory, name).  Entries that appear are "added"
 * (with link_of when the object already had a name), entries that
 * vanish are "deleted", one of each for the same object is "renamed",
 * and an object whose own attributes changed is "modified" at a name
 * it kept.  A name whose object was replaced by a new one (rename-over,
 * a file turned into a directory) is one "modified" with what changed,
 * type included.  A directory's mtime, size and link count follow from
 * its entries; its mtime is listed only when no entry changed.
 */
#ifndef ONEWAY_MERGE_CHANGES_H
#define ONEWAY_MERGE_CHANGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis.h"

enum aspect {
  ASPECT_TYPE, ASPECT_CONTENT, ASPECT_SIZE, ASPECT_MODE, ASPECT_OWNER,
  ASPECT_MTIME, ASPECT_XATTRS, ASPECT_TARGET, ASPECT_LINKS, ASPECTS
};
extern const char *const aspect_names[ASPECTS];

enum change_kind { CHANGE_ADDED, CHANGE_MODIFIED, CHANGE_DELETED, CHANGE_RENAMED, CHANGE_KINDS };
extern const char *const change_kind_names[CHANGE_KINDS];

struct change {
  enum change_kind kind;
  struct path path;             /* the SEE view's name; the base's if deleted */
  struct path from;             /* renamed: the base's name */
  struct path link_of;          /* added: another name of the same object */
  const char *type;
  unsigned what;                /* 1 << enum aspect */
  uint32_t ino[2];              /* in the base view, in the SEE view (0: none) */
};

struct changes {
  struct change *c;
  size_t n, cap;
  size_t count[CHANGE_KINDS];
};

/* The change list, sorted by path.  analysis_attribute must have run. */
int analysis_diff (struct analysis *an, struct changes *out);
void changes_free (struct changes *c);
void change_free (struct change *c);

#endif
