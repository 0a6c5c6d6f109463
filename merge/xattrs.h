/* oneway-merge: an object's extended attributes, as a sorted list.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * The same list whether it comes from an inode of a view (through
 * libext2fs, with POSIX ACLs turned from ext4's short form into the
 * one the kernel's getxattr gives) or from an object of the host tree,
 * so that the two can be compared, and a view's set on the host.
 */
#ifndef ONEWAY_MERGE_XATTRS_H
#define ONEWAY_MERGE_XATTRS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "extfs.h"

struct xattr {
  char *name;                   /* terminated */
  char *value;
  size_t len;
};

struct xattrs {
  struct xattr *x;
  size_t n, cap;
};

/* Copies name and value; -1 on out of memory. */
int xattrs_add (struct xattrs *xs, const char *name, const void *value, size_t len);
/* By name, for comparing and finding. */
void xattrs_sort (struct xattrs *xs);
void xattrs_free (struct xattrs *xs);
/* Both sorted. */
bool xattrs_equal (const struct xattrs *a, const struct xattrs *b);
const struct xattr *xattrs_find (const struct xattrs *xs, const char *name);

/* The xattrs of inode ino in view x, sorted.  Inline data, which ext4
 * keeps as the xattr "system.data", is content and is left out.  An
 * xattr area that cannot be read gives a finding and what could be
 * read; -1 only on out of memory. */
int extfs_read_xattrs (struct extfs *x, uint32_t ino, struct xattrs *xs);

#endif
