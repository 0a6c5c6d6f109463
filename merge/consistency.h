/* oneway-merge: conflicts with the host and policy findings.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * What check reports and what commit refuses on, found the same way
 * for both (DESIGN.md, "Consistency criteria for commit").  States are
 * compared, not logs: S0 the base view, S1 the SEE view, H the host
 * tree now.  "H differs from S0" is host_compare's judgement
 * (host-compare.h).  The rules:
 *
 * read-write    The SEE read a file's content (reads.h) and H's file
 *               at one of the names the SEE reached it by differs from
 *               S0's, whatever the selection: which of the SEE's writes
 *               depended on the read is not known.  Where an earlier
 *               commit applied the SEE's change at that name, H is
 *               compared with what that commit put there (S1's), or
 *               with nothing if it deleted it.
 * write-write   The SEE changed, deleted or renamed an object that H
 *               has changed since: a commit would overwrite the host's
 *               change.  blind: the SEE read none of the object's old
 *               content (then it is serializable, and still shown).
 *               A directory's names count only where the SEE's change
 *               removes or replaces the directory: the host and the SEE
 *               adding names to one directory is no conflict.
 * name          The SEE added a name (or renamed an object to it) that
 *               H has added too, as something else: for an addition,
 *               H's object differs from S1's; directories compare as
 *               attributes, their names being changes of their own.
 * gone          H no longer has (as a directory) what the change is
 *               at or in: the object the SEE changed, or the directory
 *               it added to; also a file the SEE read.  Deleting what
 *               the host removed too is no conflict.
 * selection     The selection cannot stand alone (selection.h).
 * setuid, capability, device
 *               The change brings a set-uid or set-gid file, a file
 *               with security.capability, or a device node to a path
 *               (added, renamed, or modified in more than its link
 *               count).
 * protected     The change is at or below a protected path, or changes
 *               a directory above one.
 * other-filesystem
 *               A lookup for the change meets a mount point on the host.
 * stale-listing (a note) The SEE read a directory's listing and H's
 *               set of names there differs from S0's.
 *
 * Conflicts are overridden by --accept at their path (or a change's
 * other path); setuid, capability, device and protected by the
 * policy's allow lines; other-filesystem and selection never.  Notes
 * never block.
 *
 * Cost: a lookup and a comparison (file bytes only as host-compare.h
 * says) per chosen change and per name of a file read, and a listing
 * per directory read: nothing grows with H's size.
 */
#ifndef ONEWAY_MERGE_CONSISTENCY_H
#define ONEWAY_MERGE_CONSISTENCY_H

#include <stdbool.h>
#include <stddef.h>

#include "changes.h"
#include "host-tree.h"
#include "policy.h"
#include "reads.h"
#include "selection.h"

enum issue_kind {
  /* conflicts */
  ISSUE_READ_WRITE, ISSUE_WRITE_WRITE, ISSUE_NAME, ISSUE_GONE, ISSUE_SELECTION,
  /* policy findings, in the order of enum policy_kind */
  ISSUE_SETUID, ISSUE_CAPABILITY, ISSUE_DEVICE, ISSUE_PROTECTED, ISSUE_OTHER_FILESYSTEM,
  /* notes */
  ISSUE_STALE_LISTING,
  ISSUE_KINDS
};
extern const char *const issue_kind_names[ISSUE_KINDS];

enum issue_class { ISSUE_CONFLICT, ISSUE_POLICY, ISSUE_NOTE, ISSUE_CLASSES };
enum issue_class issue_class_of (enum issue_kind k);

struct issue {
  enum issue_kind kind;
  struct path path;             /* bytes, as the views have them */
  int64_t change;               /* its change in the list, or -1 (a read) */
  unsigned host, see;           /* aspects (1 << enum aspect) that differ */
  bool blind;                   /* write-write */
  char *detail;                 /* for people, escaped; or NULL */
  const struct path *rule;      /* protected: the policy's path */
  bool overridden;              /* accepted, or allowed by the policy */
};

struct verdict {
  bool *chosen;                 /* per change of the list: taken by the selection */
  size_t nchosen;
  struct issue *issue;
  size_t n, cap;
  size_t count[ISSUE_CLASSES];
  size_t blocking;              /* issues that refuse a commit */
};

struct applied;

struct consistency {
  struct analysis *an;
  const struct changes *cs;     /* less what earlier commits applied */
  const struct applied *applied; /* what they applied, or NULL */
  const struct reads *reads;    /* NULL: the read set was not recorded */
  struct host_tree *host;
  const struct policy *policy;
  const struct selection *sel;
};

/* The verdict on committing the selected changes into the host tree.
 * -1 with a message if something could not be read. */
int consistency_check (const struct consistency *c, struct verdict *v);
void verdict_free (struct verdict *v);

#endif
