/* oneway-merge: what the SEE read of the base, file by file.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * The read set holds the base blocks whose content the SEE was served.
 * In the base view's filesystem, the data blocks of a file or symlink
 * are a read of its content; the blocks of a directory, a read of its
 * listing.  Everything else (inode tables, bitmaps, the journal,
 * extent trees) is metadata that many objects share, so it is nobody's
 * read (DESIGN.md, "Consistency criteria").  Data kept in the inode
 * (inline data, fast symlinks) cannot be told from such metadata, so
 * reading it does not count either.
 *
 * Cost, without a scan of every inode: the kernel reads an inode
 * before the blocks it maps, so the owners of read blocks are among the
 * inodes of the read inode-table blocks (more than the files read,
 * since ext4 reads ahead in the table, and still bounded by the read
 * set).  Only read blocks that are in use in the base yet owned by none
 * of those (the SEE read the raw device) need the scan of every inode,
 * and only when there are some.  Names: a file is reached through an
 * entry of a directory, which was read too, so the names come from
 * listing the directories read; a file with none there (opened by
 * handle, say) is named by one walk of the directories.
 */
#ifndef ONEWAY_MERGE_READS_H
#define ONEWAY_MERGE_READS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis.h"

struct ow_overlay;

struct read_object {
  uint32_t ino;                 /* in the base view */
  bool listing;                 /* a directory's listing, else a file's content */
  struct path *names;           /* its paths in the base view, sorted */
  size_t nnames;
};

struct reads {
  struct rangeset blocks;       /* the read set, in filesystem blocks */
  struct read_object *o;        /* by inode number */
  size_t n, cap;
  bool scanned;                 /* the scan of every inode was needed */
};

/* The objects the SEE read, named in the base view. */
int reads_load (struct analysis *an, struct ow_overlay *ov, struct reads *r);
void reads_free (struct reads *r);
/* The object with inode ino of the base view, or NULL if it was not read. */
const struct read_object *reads_find (const struct reads *r, uint32_t ino);

#endif
