/* oneway-merge: is a host object what an inode of a view holds?
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * What check asks of every host object it looks at (is it still as
 * in the base?  is it what the SEE made?), and what commit will ask
 * again.  "Same" is judged on what a commit carries over: the type,
 * the permission bits (07777), owner and group, the xattrs, and by
 * type a file's size and bytes, a symlink's target, a device's
 * numbers, and a directory's set of names when asked.  Times, link
 * counts and inode numbers are not compared: the host's tree and the
 * base's copy of it number and stamp their inodes each their own way.
 *
 * A file's bytes are read only when metadata cannot settle them:
 * different sizes settle "differs"; the same size and the same mtime
 * to the nanosecond settle "same" (rsync's quick check, made strict: a
 * change that keeps both is made on purpose, as touch -r does, not by
 * writing the file).  A view that keeps its times to the second (a base
 * made with mke2fs -d) has one more way: the same mtime second and a
 * host ctime in a second before the inode's crtime (when the view took
 * the file's content) settle "same", as nothing changed the host's
 * object since.  Otherwise, and when the view keeps no crtime either
 * (128-byte inodes), both are read and compared, block by block; holes
 * read as zeroes.
 *
 * The root's lost+found, which mke2fs makes and e2fsck keeps, is not
 * missing from a host tree that lacks it (one the base was built from
 * with mke2fs -d).
 */
#ifndef ONEWAY_MERGE_HOST_COMPARE_H
#define ONEWAY_MERGE_HOST_COMPARE_H

#include <stdbool.h>
#include <stdint.h>

#include "extfs.h"
#include "host-tree.h"

/* Whether the host object's mtime is the inode's: to the nanosecond,
 * or with seconds, to the second when the view keeps no nanoseconds
 * (0 there: mke2fs -d keeps none).  A directory's mtime changes with
 * its names, so for a directory that is a cheap sign that they did not
 * (used where a miss costs a note, never a conflict). */
bool host_same_mtime (const struct host_obj *o, const struct extfs *x,
                      const struct ext2_inode_large *in, bool seconds);

enum {
  COMPARE_NAMES = 1,            /* directories: their sets of names too */
  COMPARE_NEW_NAMES = 2,        /* directories: only names the host has and the view not */
};

/* The aspects (1 << enum aspect of changes.h) in which host object o
 * differs from inode ino of view x: type, content, size, mode, owner,
 * xattrs, target; for a directory, content is its set of names (or
 * the host's names the view lacks), when flags ask for it.  -1
 * with a message if something could not be read. */
int host_compare (const struct host_obj *o, struct extfs *x, uint32_t ino,
                  struct ext2_inode_large *in, unsigned flags);

#endif
