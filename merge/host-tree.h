/* oneway-merge: the host tree, looked at without ever leaving it.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * The host tree is the live filesystem a commit goes into (--host
 * DIR).  Paths come from the SEE's filesystem, so they are hostile;
 * the tree itself holds whatever the host's users made.  Every lookup
 * therefore starts at one directory fd, the tree's root, and goes
 * through openat2 with RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS,
 * RESOLVE_NO_MAGICLINKS and RESOLVE_NO_XDEV: no symlink is followed (a
 * last component that is one is opened as the symlink itself), nothing
 * leaves the tree, and no mount point inside it is crossed.  There is
 * no weaker walk to fall back on: a kernel without openat2 (before
 * Linux 5.6) is refused.
 *
 * Objects are opened O_PATH, so looking at one never opens a device or
 * blocks on a FIFO; a regular file's bytes and a directory's names are
 * read through the object found, never through a second lookup.
 */
#ifndef ONEWAY_MERGE_HOST_TREE_H
#define ONEWAY_MERGE_HOST_TREE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "extfs.h"
#include "paths.h"
#include "xattrs.h"

struct host_tree {
  int root;                     /* O_PATH | O_DIRECTORY */
  char *name;                   /* DIR as given, for messages */
};

/* Open DIR (symlinks in DIR itself are followed: it is the user's
 * word).  -1 with a message if it is not a directory, or the kernel
 * has no openat2. */
int host_tree_open (struct host_tree *h, const char *dir);
void host_tree_close (struct host_tree *h);

/* A hint: the objects at these paths will be looked at soon.  Looks
 * them up (confined, as host_lookup does) in a few threads at once and
 * reads ahead a regular file's bytes, so that a cold cache serves the
 * later lookups, made one at a time, from memory.  Nothing is reported: a path that cannot
 * be looked up is left to the real lookup to say why. */
void host_prefetch (struct host_tree *h, const struct path *paths, size_t n);
/* The same in the background, while the caller does other work: paths
 * must stay until host_prefetch_end, which waits for the threads.
 * NULL (nothing to wait for) if it could not start. */
struct host_prefetch;
struct host_prefetch *host_prefetch_begin (struct host_tree *h, const struct path *paths,
                                           size_t n);
void host_prefetch_end (struct host_prefetch *p);

/* Where a lookup ended. */
enum host_where {
  HOST_FOUND,                   /* the object is there: fd and st */
  HOST_ABSENT,                  /* a component does not exist */
  HOST_SYMLINK,                 /* a component before the last is a symlink */
  HOST_NOT_DIR,                 /* a component before the last is not a directory */
  HOST_MOUNT,                   /* a component is a mount point: another filesystem */
};

struct host_obj {
  enum host_where where;
  size_t at;                    /* not found: the length of the path's prefix
                                   that names the component where it stopped */
  int fd;                       /* found: O_PATH | O_NOFOLLOW; else -1 */
  struct stat st;
  char *shown;                  /* the path, escaped, for messages */
};

/* Look up path (absolute inside the tree: "/" or "/a/b", len bytes, no
 * empty, "." or ".." component).  0 with o->where set, or -1 with a
 * message naming the path (an I/O error, a permission refused, a path
 * that is not of that form). */
int host_lookup (struct host_tree *h, const char *path, size_t len, struct host_obj *o);
void host_obj_close (struct host_obj *o);

/* A symlink's target into buf; its length (size: the target did not
 * fit), or -1 with a message. */
int64_t host_read_link (const struct host_obj *o, char *buf, size_t size);

/* The object's xattrs, sorted (those a process of ours may see: run as
 * root to see trusted.* and security.*).  -1 with a message. */
int host_read_xattrs (const struct host_obj *o, struct xattrs *xs);

/* A regular file opened for reading: an fd, or -1 with a message. */
int host_open_file (const struct host_obj *o);

/* A directory's names ("." and ".." left out), sorted as
 * dirents_sort sorts; inode numbers are the host's.  -1 with a
 * message. */
int host_list (const struct host_obj *o, struct dirents *out);

#endif
