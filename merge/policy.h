/* oneway-merge: the policy: protected paths and allowed findings.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * Besides conflicts with the host, a commit refuses what would plant
 * privileges or touch what the user protects, unless allowed: the
 * policy says which paths are protected and which findings are
 * allowed where.  It is a small text file (merge/default-policy is
 * the default, compiled in; --policy FILE replaces it), and
 * --protect PATH and --allow KIND[=PATH] add lines to it:
 *
 *   # a comment (a line that starts with #)
 *   protect PATH
 *   allow KIND [PATH]
 *
 * PATH is the rest of the line, its bytes as they are (trailing blanks
 * dropped), absolute inside the filesystem.
 */
#ifndef ONEWAY_MERGE_POLICY_H
#define ONEWAY_MERGE_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "paths.h"

enum policy_kind {
  POLICY_SETUID,                /* a set-uid or set-gid file, new or changed */
  POLICY_CAPABILITY,            /* a file with capabilities, new or changed */
  POLICY_DEVICE,                /* a device node */
  POLICY_PROTECTED,             /* a change where the policy protects */
  POLICY_OTHER_FILESYSTEM,      /* a mount point on the way: never allowed */
  POLICY_KINDS
};
extern const char *const policy_kind_names[POLICY_KINDS];

struct policy_allow {
  enum policy_kind kind;
  struct path under;            /* "/" for everywhere */
};

struct policy {
  struct path_list protect;
  struct policy_allow *allow;
  size_t nallow, capallow;
};

/* The policy from file, or the default (file NULL).  -1 with a
 * message naming the file and line. */
int policy_load (struct policy *p, const char *file);
/* --protect PATH and --allow KIND[=PATH]; -1 with a message. */
int policy_add_protect (struct policy *p, const char *path);
int policy_add_allow (struct policy *p, const char *arg);
void policy_free (struct policy *p);

/* The rule that protects a change at path, or NULL: path is at or
 * below a protected path, or (when the change is to a directory, which
 * moves or removes what is below it) above one. */
const struct path *policy_protects (const struct policy *p, const struct path *path,
                                    bool directory);

/* Whether findings of kind at path are allowed. */
bool policy_allows (const struct policy *p, enum policy_kind kind, const struct path *path);

#endif
