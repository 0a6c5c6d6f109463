/* oneway-merge: a commit's plan, and the intent journal that keeps it.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * A commit turns the chosen changes into steps on host paths, made in
 * three phases so that each path changes in one atomic rename:
 *
 *   write   every new object (a file's bytes, a directory, a symlink,
 *           a node) is made in a staging directory of the commit's own
 *           at the top of the tree, with its owner, mode, xattrs and
 *           times; then the filesystem is synced.
 *   switch  DETACH moves the objects the SEE renamed or deleted into the
 *           staging directory (deepest first, so that no path below a
 *           moved directory is needed afterwards); ATTACH moves staged
 *           objects to their new paths without replacing anything
 *           (parents first); EXCHANGE swaps a staged object with the
 *           host's object at a path the SEE changed, so the path holds
 *           the old or the new object at every moment and the old one
 *           waits in staging; LINK adds the new names of files that
 *           already have one, and RELINK swaps the other names of a
 *           file that was replaced for links to its new version;
 *           ATTRS and TIMES set a directory's
 *           attributes and, last, its times.  Then the filesystem is
 *           synced.
 *   finish  the staging directory, holding now only what was replaced
 *           or deleted, is removed; the commit is recorded in the
 *           overlay; the journal is removed.
 *
 * Staging rather than temporaries in each target directory: one place
 * holds everything a crash can leave behind, a chain or a swap of
 * renames needs no order of its own, and --abort knows where every old
 * object is.  It is on the tree's filesystem (lookups never leave it),
 * so every move is a rename.
 *
 * The journal (OVERLAY.commit) is written, synced, before the first
 * host change: the host tree's identity, the staging name, every step
 * with what the host object it acts on was (device, inode, size,
 * ctime) when the commit looked, and the commit record to append at
 * the end.  The phases that end append a line, synced.  Each switch
 * step can tell from the tree whether it was done (is the staged name
 * there? which inode is at the path?), so a resume redoes only what is
 * left, and an abort undoes only what was done.
 */
#ifndef ONEWAY_MERGE_COMMIT_PLAN_H
#define ONEWAY_MERGE_COMMIT_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "change-paths.h"
#include "commit-record.h"
#include "review.h"

enum step_op {
  STEP_DETACH, STEP_ATTACH, STEP_EXCHANGE, STEP_LINK, STEP_RELINK, STEP_ATTRS, STEP_TIMES
};

/* A host object as the commit saw it.  Directories are known by inode
 * alone: their size and ctime follow their names, which the host may
 * add to (and the commit itself changes). */
struct ident {
  bool present;
  uint64_t dev, ino, size;
  int64_t ctime_sec, ctime_nsec;
  uint32_t mode, uid, gid;
};

struct step {
  enum step_op op;
  struct path path;             /* the host path it acts on */
  struct path from;             /* LINK, RELINK: the name the object has */
  uint32_t name;                /* DETACH, ATTACH, EXCHANGE: the staged entry */
  uint32_t ino;                 /* ATTRS, TIMES, and what is made: the SEE's inode */
  uint64_t obj;                 /* ATTACH: the host inode that lands (made or detached) */
  struct ident expect;          /* DETACH, EXCHANGE, ATTRS: the host object before */
  /* ATTRS: what the host object had, for --abort to put back */
  struct xattrs before;
  int64_t before_times[4];      /* atime, mtime: seconds, nanoseconds */
};

/* A host directory whose names or times the commit changes, with its
 * times before, for an undo to put back once every name is back. */
struct dir_times {
  struct path path;             /* where the base (and the host) has it */
  uint64_t ino;
  int64_t t[4];                 /* atime, mtime: seconds, nanoseconds */
};

/* A new object, made in staging in the write phase. */
struct make {
  uint32_t name;
  uint32_t ino;                 /* in the SEE view */
  uint64_t made;                /* its host inode, once made */
  uint64_t bytes;               /* a regular file's size */
};

struct plan {
  uint8_t id[COMMIT_ID_SIZE];
  char staging[64];             /* at the tree's root */
  uint64_t root_dev, root_ino;  /* the host tree */
  int64_t root_times[4];        /* its root's atime and mtime (s, ns): staging
                                   changes them, and they are put back */
  uint8_t overlay_uuid[16];
  char *host;                   /* --host as given */
  char *record;                 /* the commit record to append */
  struct step *s;
  size_t n, cap;
  struct make *m;
  size_t nm, capm;
  struct dir_times *dt;
  size_t ndt, capdt;
  uint32_t next_name;
  uint64_t bytes;               /* the files' sizes, holes included */
  uint64_t data_written;        /* bytes of data this run wrote (not kept) */
  bool written, switched;       /* phases the journal says are done */
  struct leaving leaving;       /* while it is built */
};

/* The plan for the changes of rv with chosen[i] (as the selection
 * takes them), with what each host object it acts on is now.  -1 with
 * a message. */
int plan_build (struct review *rv, const bool *chosen, const char *host, struct plan *p);
void plan_free (struct plan *p);

/* OVERLAY.commit */
char *journal_name (const char *overlay);
/* Write the plan, synced, with O_EXCL: -1 with a message (also if a
 * journal is there: a commit is under way). */
int journal_create (const char *name, const struct plan *p);
/* Append a phase line ("written" with the made inodes, "switched"),
 * synced. */
int journal_phase (const char *name, struct plan *p, const char *phase);
/* Read a journal back.  0; 1 if there is none; 2 if it was cut short
 * while it was written (so nothing was done); -1 with a message. */
int journal_load (const char *name, struct plan *p);
int journal_remove (const char *name);

/* The crash-point test (tests/test-merge-commit-crash.sh) builds the
 * tool again with COMMIT_CRASH_POINTS: then each call counts, and the
 * one numbered $ONEWAY_CRASH_AT kills the process, just before the
 * host tree or the journal would change.  Elsewhere it is nothing. */
#ifdef COMMIT_CRASH_POINTS
void commit_point (void);
#else
#define commit_point() ((void) 0)
#endif

#endif
