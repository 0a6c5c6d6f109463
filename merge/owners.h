/* oneway-merge: who owns each block of a set, in one view.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * The block → owner map behind `audit`, and behind the commit check's
 * mapping of the read set to files.  It is built for a set of blocks
 * (the written set, say), never for the whole filesystem: its memory
 * and most of its work grow with the set.
 */
#ifndef ONEWAY_MERGE_OWNERS_H
#define ONEWAY_MERGE_OWNERS_H

#include <stdint.h>

#include "extfs.h"
#include "rangeset.h"

enum owner_class {
  OWNER_NONE,                   /* not judged yet */
  OWNER_SUPERBLOCK,
  OWNER_GROUP_DESCRIPTORS,
  OWNER_BLOCK_BITMAP,
  OWNER_INODE_BITMAP,
  OWNER_INODE_TABLE,
  OWNER_JOURNAL,
  OWNER_DIRECTORY,
  OWNER_EXTENT_TREE,
  OWNER_XATTR,
  OWNER_FILE_DATA,
  OWNER_FREE,
  OWNER_UNATTRIBUTED,
  OWNER_OUTSIDE,                /* not in the filesystem (partition table, …) */
  OWNER_UNKNOWN,                /* the content is not a filesystem we read */
  OWNER_CLASSES
};

/* The names DESIGN.md gives the classes in audit --json. */
const char *owner_class_name (enum owner_class c);

struct owner {
  uint8_t cls;
  uint32_t ino;                 /* the inode; for inode-table, the first in the block */
  uint64_t file_block;          /* logical block in the file, for data */
};

struct owners {
  struct extfs *x;
  const struct rangeset *set;   /* the blocks judged, in filesystem blocks */
  struct owner *o;              /* by rank in set */
  uint64_t unjudged;            /* blocks still OWNER_NONE */
};

int owners_init (struct owners *m, struct extfs *x, const struct rangeset *set);
void owners_free (struct owners *m);

/* Superblocks, descriptors, bitmaps and inode tables, from the group
 * descriptors: O(groups + set ranges). */
int owners_add_layout (struct owners *m);

/* The inodes that are not files of the tree but own blocks all the
 * same: the journal (written on every transaction, its inode never)
 * and the resize inode. */
int owners_add_special (struct owners *m);

/* The blocks of one inode (its data, tree and xattr blocks), by its
 * type: directory, file data, journal, xattr (EA inodes).  A block
 * that already has another inode as owner gives a finding. */
int owners_add_inode (struct owners *m, ext2_ino_t ino, struct ext2_inode_large *inode);

/* Read every inode and map those that hold a block of `wanted` (a
 * subset of the set) that has no owner yet: O(inodes + their extents).
 * Only called when the cheap explanations leave blocks unexplained.
 * found(opaque, ino) is told of each inode that owns such a block. */
int owners_scan (struct owners *m, const struct rangeset *wanted,
                 void (*found) (void *opaque, ext2_ino_t ino), void *opaque);

/* Blocks still without an owner become free (not marked in the block
 * bitmap) or unattributed (marked, yet nobody owns them). */
int owners_finish (struct owners *m);

#endif
