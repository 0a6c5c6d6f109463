/* oneway-merge: names for inodes, in one view.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * ext4 keeps no parent pointer in a file's inode, only in a
 * directory's "..": a directory's path is found by climbing, a file's
 * by the entries that name it.  Entries in changed directories are
 * known from the directory comparison; a file changed in place is
 * found by one walk of the directories (never of every file's inode),
 * which stops as soon as every inode asked for has all its names.
 */
#ifndef ONEWAY_MERGE_PATHS_H
#define ONEWAY_MERGE_PATHS_H

#include <stdbool.h>
#include <stddef.h>

#include "extfs.h"
#include "inomap.h"

struct path {
  char *s;                      /* bytes, not terminated */
  size_t len;
};

/* Paths a user named (selections, protected paths), owned by the list. */
struct path_list {
  struct path *p;
  size_t n, cap;
};

/* Append p, which the list now owns (freed on failure too). */
int path_list_push (struct path_list *l, struct path p);
void path_list_free (struct path_list *l);

/* Bytewise, a prefix first: the order of the change list, in which a
 * directory's subtree follows it without a gap. */
int path_compare (const struct path *a, const struct path *b);
/* The same, for qsort of an array of struct path. */
int path_compare_v (const void *a, const void *b);

/* Whether path p is q or lies below it ("/" holds every path). */
bool path_within (const char *p, size_t plen, const char *q, size_t qlen);

/* A path a user gave (on the command line, in a file) as one of the
 * filesystem's: absolute, with repeated and trailing '/' dropped.
 * "." and ".." components are refused: they would not mean on the
 * host what they mean in the views.  0, or -1 with errno EINVAL (a
 * message names arg and what) or ENOMEM. */
int path_from_user (const char *in, size_t len, const char *what, struct path *out);

struct pathres {
  struct extfs *x;
  struct inomap memo;           /* directory inode → index in paths */
  struct path *paths;
  size_t n, cap;
  struct dirents cached;        /* the last parent listed, and its inode */
  ext2_ino_t cached_ino;
  bool walked;                  /* every directory the root reaches is named */
  bool walking;
};

void pathres_init (struct pathres *pr, struct extfs *x);
void pathres_free (struct pathres *pr);

/* The path of a directory ("" for the root, so that children join as
 * path + "/" + name).  A directory no path leads to (its ".." chain
 * loops or breaks) gets a finding and the name "(unreachable directory
 * inode N)", which no absolute path can be mistaken for.  NULL only on
 * out of memory. */
const struct path *pathres_dir (struct pathres *pr, ext2_ino_t dir);

/* path(dir) + "/" + name, malloc'ed into out. */
int pathres_join (struct pathres *pr, ext2_ino_t dir, const char *name, size_t len,
                  struct path *out);

/* One walk of every directory from the root, breadth first: fn sees
 * each directory's entries and returns 1 to stop early.  Directories
 * are visited once even if a crafted tree links one twice. */
int pathres_walk (struct pathres *pr,
                  int (*fn) (void *opaque, ext2_ino_t dir, const struct dirents *d),
                  void *opaque);

/* The inode at path (absolute, inside the filesystem), following
 * symlinks as the kernel would, at most 40 of them.  -1 with a message
 * naming the component that is missing or not a directory. */
int pathres_lookup (struct extfs *x, const char *path, ext2_ino_t *ino);
/* The inode at a path as the change list names objects (bytes, len
 * long, absolute, no "." or ".."), no symlink followed: 0 with *ino, 1
 * if there is none (nothing said), -1 if a directory cannot be read. */
int pathres_find (struct extfs *x, const char *path, size_t len, ext2_ino_t *ino);

#endif
