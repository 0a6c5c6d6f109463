/* oneway-merge: the base view and the SEE view, side by side.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * The shared part of audit and diff (and of the commit check): open
 * the filesystem in both views, turn the written set into filesystem
 * blocks, find the inodes the writes touched, and give every written
 * block its owner in the SEE view.
 *
 * Cost.  The inodes compared are those in written inode-table blocks,
 * so the work grows with the written set, not with the filesystem:
 * O(written blocks · log ranges + changed inodes · their extents).
 * One case costs more.  A written block that is in use yet explained
 * by no changed inode (a hostile SEE wrote a file's data without
 * touching its inode, or its extent tree) can only be attributed by a
 * scan of every inode: O(inodes + extents).  That scan runs only when
 * such blocks exist; an honest run never needs it.
 */
#ifndef ONEWAY_MERGE_ANALYSIS_H
#define ONEWAY_MERGE_ANALYSIS_H

#include <stdbool.h>
#include <stdint.h>

#include "disk.h"
#include "extfs.h"
#include "findings.h"
#include "inomap.h"
#include "owners.h"
#include "paths.h"
#include "probe.h"
#include "rangeset.h"

enum { S0, S1 };                /* base view, SEE view */

/* An inode the change touches, as each view has it. */
struct object {
  uint32_t ino;
  bool candidate;               /* its inode bytes or its blocks changed */
  bool live[2];
  bool entries_changed;         /* a directory whose entries differ */
  struct ext2_inode_large in[2];
};

struct analysis {
  struct disk disk[2];          /* the whole disks */
  struct probe probe;           /* what the SEE view holds */
  struct extfs v[2];
  bool open[2];
  struct findings findings;
  struct rangeset written;      /* in filesystem blocks */
  struct rangeset outside;      /* written bytes outside the filesystem */
  struct owners own[2];         /* S1: the audit; S0: candidates only */
  bool compare_all;             /* the layouts differ: every inode compared */
  bool scanned;                 /* the full inode scan was needed */
  struct object *obj;
  size_t nobj, capobj;
  struct inomap objmap;
  struct pathres paths[2];
};

/* Open both views.  Returns 0 with both ext filesystems open, 1 when
 * the SEE view holds something else (an->probe.what says what), -1 on
 * error.  An SEE filesystem whose journal needs recovery is refused
 * unless allow_unclean. */
int analysis_open (struct analysis *an, const struct disk *base, const struct disk *see,
                   int partition, bool allow_unclean);
void analysis_close (struct analysis *an);

/* Add written bytes [offset, offset + count) of the disk, in order. */
int analysis_add_written (struct analysis *an, uint64_t offset, uint64_t count);
/* The same for any set of bytes of the disk: the filesystem blocks
 * they touch go to inside, the bytes outside the filesystem to
 * outside (NULL: dropped). */
int analysis_add_range (struct analysis *an, struct rangeset *inside, struct rangeset *outside,
                        uint64_t offset, uint64_t count);

/* Find the changed inodes and give every written block an owner. */
int analysis_attribute (struct analysis *an);

/* The object for ino, read from both views on first use; NULL on out
 * of memory. */
struct object *analysis_object (struct analysis *an, uint32_t ino);
bool object_same (const struct object *o);

/* The names of some inodes in view v: paths[i] gets every path of
 * inos[i] (a malloc'ed array, *counts[i] long).  Directories by their
 * ".." chain, others by one walk of the directories that stops when
 * each has as many names as links. */
int analysis_names (struct analysis *an, int v, const uint32_t *inos, size_t n,
                    struct path **paths, size_t *counts);

#endif
