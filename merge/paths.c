/* oneway-merge: names for inodes, in one view.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <errno.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oneway/error.h"
#include "oneway/escape.h"
#include "oneway/util.h"
#include "paths.h"

/* Deeper than any path the kernel can resolve (PATH_MAX 4096 allows
 * at most 2048 levels). */
#define MAX_DEPTH 2048

int
path_compare (const struct path *a, const struct path *b)
{
  int c = memcmp (a->s, b->s, a->len < b->len ? a->len : b->len);
  return c ? c : (a->len > b->len) - (a->len < b->len);
}

int
path_compare_v (const void *a, const void *b)
{
  return path_compare (a, b);
}

bool
path_within (const char *p, size_t plen, const char *q, size_t qlen)
{
  if (qlen == 1 && q[0] == '/')
    return plen >= 1 && p[0] == '/';
  return plen >= qlen && memcmp (p, q, qlen) == 0 && (plen == qlen || p[qlen] == '/');
}

int
path_from_user (const char *in, size_t len, const char *what, struct path *out)
{
  const char *why = NULL;
  size_t n = 0;

  out->s = NULL;
  out->len = 0;
  if (len == 0 || in[0] != '/')
    why = "it is not absolute (the paths are those inside the filesystem, from its root /)";
  else if (memchr (in, '\0', len))
    why = "it has a NUL byte";
  if (!why && !(out->s = malloc (len)))
    return -1;
  for (size_t pos = 0; !why && pos < len; ) {
    size_t end;
    while (pos < len && in[pos] == '/')
      pos++;
    if (pos == len)
      break;
    end = pos;
    while (end < len && in[end] != '/')
      end++;
    if ((end - pos == 1 && in[pos] == '.')
        || (end - pos == 2 && in[pos] == '.' && in[pos + 1] == '.'))
      why = "it has a \".\" or \"..\" component: give the path without them";
    else if (end - pos > 255)
      why = "a name in it is longer than 255 bytes, which no ext4 name can be";
    else {
      out->s[n++] = '/';
      memcpy (out->s + n, in + pos, end - pos);
      n += end - pos;
    }
    pos = end;
  }
  if (why) {
    char *e = ow_escape (in, len);
    errno = EINVAL;
    ow_error ("%s %s: %s", what, e ? e : "?", why);
    free (e);
    free (out->s);
    out->s = NULL;
    return -1;
  }
  if (n == 0)
    out->s[n++] = '/';
  out->len = n;
  return 0;
}

void
pathres_init (struct pathres *pr, struct extfs *x)
{
  memset (pr, 0, sizeof *pr);
  pr->x = x;
  inomap_init (&pr->memo);
}

void
pathres_free (struct pathres *pr)
{
  for (size_t i = 0; i < pr->n; i++)
    free (pr->paths[i].s);
  free (pr->paths);
  inomap_free (&pr->memo);
  dirents_free (&pr->cached);
  memset (pr, 0, sizeof *pr);
}

static const struct path *
remember (struct pathres *pr, ext2_ino_t dir, char *s, size_t len)
{
  if (ow_grow_array (&pr->paths, &pr->cap, pr->n + 1, sizeof *pr->paths) == -1) {
    free (s);
    return NULL;
  }
  if (inomap_put (&pr->memo, dir, pr->n) == -1) {
    free (s);
    return NULL;
  }
  pr->paths[pr->n] = (struct path) { s, len };
  return &pr->paths[pr->n++];
}

static const struct path *
lookup (struct pathres *pr, ext2_ino_t dir)
{
  int64_t i = inomap_get (&pr->memo, dir);
  return i >= 0 ? &pr->paths[i] : NULL;
}

static int
walk_nothing (void *opaque, ext2_ino_t dir, const struct dirents *d)
{
  (void) opaque; (void) dir; (void) d;
  return 0;
}

static const struct path *
unreachable (struct pathres *pr, ext2_ino_t dir, const char *why)
{
  const struct path *p;
  char *s;
  int len;

  findings_add (pr->x->findings, "%s: the way up from directory inode %" PRIu32
                " is broken: %s", pr->x->label, dir, why);
  /* A crafted ".." can break the climb to a directory that the root
   * still reaches: one walk from the root names every directory it
   * can, and is only needed here. */
  if (!pr->walked && !pr->walking) {
    pr->walking = true;
    if (pathres_walk (pr, walk_nothing, NULL) == -1)
      return NULL;
    pr->walking = false;
    if ((p = lookup (pr, dir)))
      return p;
  }
  if ((len = asprintf (&s, "(unreachable directory inode %" PRIu32 ")", dir)) < 0)
    return NULL;
  return remember (pr, dir, s, len);
}

/* The entries of dir, kept until another directory is listed: the
 * siblings of a path share their parent. */
static const struct dirents *
listing (struct pathres *pr, ext2_ino_t dir)
{
  struct ext2_inode_large inode;

  if (pr->cached_ino == dir)
    return &pr->cached;
  dirents_free (&pr->cached);
  pr->cached_ino = 0;
  if (extfs_read_inode (pr->x, dir, &inode) == -1 || !LINUX_S_ISDIR (inode.i_mode)
      || !extfs_inode_live (&inode))
    return NULL;
  if (extfs_read_dir (pr->x, dir, &inode, &pr->cached) == -1)
    return NULL;
  pr->cached_ino = dir;
  return &pr->cached;
}

static int
join (const struct path *parent, const char *name, size_t len, struct path *out)
{
  out->len = parent->len + 1 + len;
  if (!(out->s = malloc (out->len)))
    return -1;
  memcpy (out->s, parent->s, parent->len);
  out->s[parent->len] = '/';
  memcpy (out->s + parent->len + 1, name, len);
  return 0;
}

const struct path *
pathres_dir (struct pathres *pr, ext2_ino_t dir)
{
  ext2_ino_t chain[MAX_DEPTH], top = 0;
  int depth = 0;
  const struct path *p;

  if ((p = lookup (pr, dir)))
    return p;
  if (dir == EXT2_ROOT_INO) {
    char *empty = strdup ("");
    return empty ? remember (pr, dir, empty, 0) : NULL;
  }

  /* Climb by "..", to the root or to a directory already named. */
  for (ext2_ino_t cur = dir;; ) {
    if (lookup (pr, cur) || cur == EXT2_ROOT_INO) {
      top = cur;
      break;
    }
    if (depth == MAX_DEPTH)
      return unreachable (pr, dir, "its \"..\" chain is deeper than any path can be");
    for (int i = 0; i < depth; i++)
      if (chain[i] == cur)
        return unreachable (pr, dir, "its \"..\" chain loops");
    chain[depth++] = cur;
    /* ".." alone: listing each directory on the way up would push
     * its parent, listed next, out of the cache. */
    if (!(cur = extfs_dir_parent (pr->x, cur)))
      return unreachable (pr, dir, "a directory on its way up has no \"..\" or is not a directory");
  }

  /* Down again: each directory's name is the entry in its parent that
   * points to it (the first by name, if a crafted parent has two). */
  for (int i = depth - 1; i >= 0; i--) {
    ext2_ino_t child = chain[i];
    ext2_ino_t parent = i + 1 < depth ? chain[i + 1] : top;
    const struct dirents *d;
    const struct dirent_rec *best = NULL;
    struct path out;
    const struct path *pp = pathres_dir (pr, parent);
    if (!pp)
      return NULL;
    if (!(d = listing (pr, parent))) {
      if (!unreachable (pr, child, "its parent cannot be listed"))
        return NULL;
      continue;
    }
    for (size_t k = 0; k < d->n; k++) {
      const struct dirent_rec *e = &d->e[k];
      if (e->ino == child
          && (!best || memcmp (DIRENT_NAME (d, e), DIRENT_NAME (d, best),
                               e->name_len < best->name_len ? e->name_len : best->name_len) < 0))
        best = e;
    }
    if (!best) {
      if (!unreachable (pr, child, "its parent has no entry for it"))
        return NULL;
      continue;
    }
    if (join (pp, DIRENT_NAME (d, best), best->name_len, &out) == -1
        || !remember (pr, child, out.s, out.len))
      return NULL;
  }
  return lookup (pr, dir);
}

int
pathres_join (struct pathres *pr, ext2_ino_t dir, const char *name, size_t len,
              struct path *out)
{
  const struct path *p = pathres_dir (pr, dir);
  return p ? join (p, name, len, out) : -1;
}

int
pathres_walk (struct pathres *pr,
              int (*fn) (void *opaque, ext2_ino_t dir, const struct dirents *d),
              void *opaque)
{
  struct inomap seen;
  ext2_ino_t *queue = NULL;
  size_t head = 0, tail = 0, cap = 0;
  bool filetype = ext2fs_has_feature_filetype (pr->x->fs->super);
  int r = 0;

  inomap_init (&seen);
  if (!pathres_dir (pr, EXT2_ROOT_INO) || inomap_put (&seen, EXT2_ROOT_INO, 0) == -1
      || ow_grow_array (&queue, &cap, 1, sizeof *queue) == -1) {
    inomap_free (&seen);
    return -1;
  }
  queue[tail++] = EXT2_ROOT_INO;
  for (size_t level_end = tail; head < tail && r == 0; level_end = tail) {
   /* A level at a time: first hints for all its inodes and blocks, so
    * that a cold cache reads them together, then the listings. */
   struct prefetch pf;
   prefetch_init (&pf, pr->x);
   for (size_t i = head; i < level_end; i++)
     prefetch_inode (&pf, queue[i]);
   prefetch_issue (&pf);
   for (size_t i = head; i < level_end; i++) {
     struct ext2_inode_large inode;
     if (extfs_read_inode (pr->x, queue[i], &inode) == 0 && LINUX_S_ISDIR (inode.i_mode))
       prefetch_data (&pf, queue[i], &inode);
   }
   prefetch_issue (&pf);
   prefetch_free (&pf);
   while (head < level_end && r == 0) {
    ext2_ino_t dir = queue[head++];
    struct ext2_inode_large inode;
    struct dirents d;

    if (extfs_read_inode (pr->x, dir, &inode) == -1 || !LINUX_S_ISDIR (inode.i_mode))
      continue;
    if (extfs_read_dir (pr->x, dir, &inode, &d) == -1) {
      r = -1;
      break;
    }
    r = fn (opaque, dir, &d);
    for (size_t k = 0; k < d.n && r == 0; k++) {
      const struct dirent_rec *e = &d.e[k];
      struct ext2_inode_large child;
      struct path out;
      if (filetype ? e->file_type != EXT2_FT_DIR
          : (extfs_read_inode (pr->x, e->ino, &child) == -1 || !LINUX_S_ISDIR (child.i_mode)))
        continue;
      if (inomap_get (&seen, e->ino) >= 0)
        continue;               /* a second link to a directory: crafted */
      if (inomap_put (&seen, e->ino, 0) == -1)
        r = -1;
      else if (!lookup (pr, e->ino)) {
        /* dir's path is looked up again for each child: remember ()
         * may move pr->paths, so a pointer kept from before would
         * dangle in a directory with many subdirectories. */
        if (join (lookup (pr, dir), DIRENT_NAME (&d, e), e->name_len, &out) == -1
            || !remember (pr, e->ino, out.s, out.len))
          r = -1;
      }
      if (r == 0 && ow_grow_array (&queue, &cap, tail + 1, sizeof *queue) == -1)
        r = -1;
      if (r == 0)
        queue[tail++] = e->ino;
    }
    dirents_free (&d);
   }
  }
  free (queue);
  inomap_free (&seen);
  pr->walked = true;
  return r == -1 ? -1 : 0;
}

#define MAX_SYMLINKS 40

/* Resolve [p, end) from dir; rest of the path is appended by the
 * caller when a symlink is met. */
int
pathres_lookup (struct extfs *x, const char *path, ext2_ino_t *ino)
{
  char *buf = strdup (path), *target = malloc (x->bs + 1);
  ext2_ino_t cur = EXT2_ROOT_INO;
  int links = 0, r = -1;
  size_t pos = 0;

  if (!buf || !target)
    goto out;
  for (;;) {
    struct ext2_inode_large inode;
    struct dirents d;
    const char *comp;
    size_t len;
    ext2_ino_t next = 0;

    while (buf[pos] == '/')
      pos++;
    if (!buf[pos])
      break;
    comp = buf + pos;
    len = strcspn (comp, "/");
    pos += len;
    if (len == 1 && comp[0] == '.')
      continue;
    if (extfs_read_inode (x, cur, &inode) == -1 || !LINUX_S_ISDIR (inode.i_mode)) {
      char *e = ow_escape (buf, comp - buf), *whole = ow_escape (path, strlen (path));
      errno = ENOTDIR;
      ow_error ("%s: cannot reach %s: %s is not a directory", x->label,
                whole ? whole : "?", e ? e : "?");
      free (e);
      free (whole);
      goto out;
    }
    if (extfs_read_dir (x, cur, &inode, &d) == -1)
      goto out;
    if (len == 2 && comp[0] == '.' && comp[1] == '.')
      next = cur == EXT2_ROOT_INO ? cur : d.parent;
    else
      for (size_t k = 0; k < d.n && !next; k++)
        if (d.e[k].name_len == len && memcmp (DIRENT_NAME (&d, &d.e[k]), comp, len) == 0)
          next = d.e[k].ino;
    dirents_free (&d);
    if (!next) {
      char *e = ow_escape (buf, pos), *whole = ow_escape (path, strlen (path));
      errno = ENOENT;
      if (links || buf[pos])
        ow_error ("%s: no such file: %s (%s does not exist%s)", x->label,
                  whole ? whole : "?", e ? e : "?", links ? ", after symlinks" : "");
      else
        ow_error ("%s: no such file: %s", x->label, whole ? whole : "?");
      free (e);
      free (whole);
      goto out;
    }
    if (extfs_read_inode (x, next, &inode) == -1) {
      errno = EIO;
      ow_error ("%s: inode %" PRIu32 " cannot be read", x->label, next);
      goto out;
    }
    if (!LINUX_S_ISLNK (inode.i_mode)) {
      cur = next;
      continue;
    }
    /* A symlink: its target replaces it in the path, from the root
     * of the filesystem if absolute (the SEE's root, not ours). */
    int64_t n = extfs_read_symlink (x, next, &inode, target);
    char *rest;
    if (n < 0)
      goto out;
    if (++links > MAX_SYMLINKS) {
      errno = ELOOP;
      ow_error ("%s: too many levels of symbolic links in %s", x->label, path);
      goto out;
    }
    if (asprintf (&rest, "%.*s/%s", (int) n, target, buf + pos) < 0)
      goto out;
    free (buf);
    buf = rest;
    pos = 0;
    if (n > 0 && target[0] == '/')
      cur = EXT2_ROOT_INO;
  }
  *ino = cur;
  r = 0;
 out:
  free (buf);
  free (target);
  return r;
}

int
path_list_push (struct path_list *l, struct path p)
{
  if (ow_grow_array (&l->p, &l->cap, l->n + 1, sizeof *l->p) == -1) {
    free (p.s);
    return -1;
  }
  l->p[l->n++] = p;
  return 0;
}

void
path_list_free (struct path_list *l)
{
  for (size_t i = 0; i < l->n; i++)
    free (l->p[i].s);
  free (l->p);
  memset (l, 0, sizeof *l);
}

int
pathres_find (struct extfs *x, const char *path, size_t len, ext2_ino_t *ino)
{
  ext2_ino_t cur = EXT2_ROOT_INO;

  for (size_t pos = 0; pos < len; ) {
    struct ext2_inode_large inode;
    struct dirents d;
    ext2_ino_t next = 0;
    size_t end;

    while (pos < len && path[pos] == '/')
      pos++;
    if (pos == len)
      break;
    for (end = pos; end < len && path[end] != '/'; end++)
      ;
    if (extfs_read_inode (x, cur, &inode) == -1 || !LINUX_S_ISDIR (inode.i_mode))
      return 1;
    if (extfs_read_dir (x, cur, &inode, &d) == -1)
      return -1;
    for (size_t k = 0; k < d.n && !next; k++)
      if (d.e[k].name_len == end - pos && memcmp (DIRENT_NAME (&d, &d.e[k]), path + pos, end - pos) == 0)
        next = d.e[k].ino;
    dirents_free (&d);
    if (!next)
      return 1;
    cur = next;
    pos = end;
  }
  *ino = cur;
  return 0;
}
