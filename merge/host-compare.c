/* oneway-merge: is a host object what an inode of a view holds?
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "changes.h"
#include "host-compare.h"
#include "oneway/error.h"
#include "xattrs.h"

/* Bytes from fd at offset, up to len; fewer only at the end of file. */
static ssize_t
read_at (int fd, char *buf, size_t len, uint64_t offset)
{
  size_t done = 0;

  while (done < len) {
    ssize_t n = pread (fd, buf + done, len - done, offset + done);
    if (n == -1 && errno == EINTR)
      continue;
    if (n == -1)
      return -1;
    if (n == 0)
      break;
    done += n;
  }
  return done;
}

/* 1 if the host file's bytes differ from the inode's, 0 if not, -1. */
static int
bytes_differ (const struct host_obj *o, struct extfs *x, uint32_t ino,
              struct ext2_inode_large *in)
{
  uint64_t size = EXT2_I_SIZE (in), nblocks = size / x->bs + (size % x->bs != 0);
  char *a = malloc (x->bs), *b = malloc (x->bs);
  struct extfs_file f;
  int fd = -1, r = -1;

  if (!a || !b)
    goto out;
  if ((fd = host_open_file (o)) == -1)
    goto out;
  if (extfs_file_open (x, ino, in, &f) == -1)
    goto out;
  r = 0;
  for (uint64_t l = 0; l < nblocks && r == 0; l++) {
    size_t n = l == nblocks - 1 && size % x->bs ? size % x->bs : x->bs;
    ssize_t got = read_at (fd, b, n, l * x->bs);
    if (got == -1) {
      ow_error ("host: cannot read %s: %m", o->shown);
      r = -1;
    }
    else if (extfs_file_block (&f, l, a) == -1)
      r = -1;
    else if ((size_t) got != n || memcmp (a, b, n) != 0)
      r = 1;                    /* shorter now: it changed while read */
  }
  extfs_file_close (&f);
 out:
  if (fd >= 0)
    close (fd);
  free (a);
  free (b);
  return r;
}

bool
host_same_mtime (const struct host_obj *o, const struct extfs *x,
                  const struct ext2_inode_large *in, bool seconds)
{
  int64_t sec, nsec;

  extfs_mtime (x, in, &sec, &nsec);
  if (o->st.st_mtim.tv_sec != sec)
    return false;
  if (seconds && nsec <= 0)
    return true;
  return nsec >= 0 && o->st.st_mtim.tv_nsec == nsec;
}

/* An inode's content was taken into the view (by mke2fs -d, or a
 * snapshot) no earlier than the inode was made there, its crtime.  A
 * host object whose last change (ctime) is in an earlier second, with
 * the same mtime, is what was taken: anything that writes it, or puts
 * another object at its name (a rename, a link), moves its ctime to
 * now.  So a view that keeps its times to the second (mke2fs -d) need
 * not be read for the files the host left alone. */
static bool
unchanged_since_taken (const struct host_obj *o, const struct extfs *x,
                       const struct ext2_inode_large *in)
{
  size_t end = offsetof (struct ext2_inode_large, i_crtime_extra) + sizeof in->i_crtime_extra;
  int64_t sec, nsec, crtime;

  if (!extfs_has_extra (x, in, end) || !in->i_crtime)
    return false;
  crtime = (int64_t) (int32_t) in->i_crtime + ((int64_t) (in->i_crtime_extra & 3) << 32);
  extfs_mtime (x, in, &sec, &nsec);
  return o->st.st_mtim.tv_sec == sec && o->st.st_ctim.tv_sec < crtime;
}

static int
content_differs (const struct host_obj *o, struct extfs *x, uint32_t ino,
                 struct ext2_inode_large *in)
{
  if ((uint64_t) o->st.st_size != EXT2_I_SIZE (in))
    return 1;
  if (host_same_mtime (o, x, in, false) || unchanged_since_taken (o, x, in))
    return 0;
  return bytes_differ (o, x, ino, in);
}

static int
target_differs (const struct host_obj *o, struct extfs *x, uint32_t ino,
                struct ext2_inode_large *in)
{
  char *t0 = malloc (x->bs + 1), *t1 = malloc (x->bs + 2);
  int64_t n0, n1;
  int r = -1;

  /* A target the view cannot give (a finding says why) counts as
   * different: nothing may be taken for unchanged unread. */
  if (t0 && t1 && (n1 = host_read_link (o, t1, x->bs + 2)) >= 0) {
    n0 = extfs_read_symlink (x, ino, in, t0);
    r = n0 < 0 || n0 != n1 || memcmp (t0, t1, n0) != 0;
  }
  free (t0);
  free (t1);
  return r;
}

static int
xattrs_differ (const struct host_obj *o, struct extfs *x, uint32_t ino)
{
  struct xattrs a = { 0 }, b = { 0 };
  int r = -1;

  if (extfs_read_xattrs (x, ino, &a) == 0 && host_read_xattrs (o, &b) == 0)
    r = !xattrs_equal (&a, &b);
  xattrs_free (&a);
  xattrs_free (&b);
  return r;
}

static int
compare_names (const struct dirents *a, size_t i, const struct dirents *b, size_t j)
{
  uint8_t la = a->e[i].name_len, lb = b->e[j].name_len;
  int c = memcmp (DIRENT_NAME (a, &a->e[i]), DIRENT_NAME (b, &b->e[j]), la < lb ? la : lb);
  return c ? c : (int) la - (int) lb;
}

/* Both listings sorted, merged: a name on one side only differs (with
 * new_only, a name on the host's side only). */
static int
names_differ (const struct host_obj *o, struct extfs *x, uint32_t ino,
              struct ext2_inode_large *in, bool new_only)
{
  struct dirents h, v;
  int r = -1;

  if (host_list (o, &h) == -1)
    return -1;
  if (extfs_read_dir (x, ino, in, &v) == 0) {
    size_t i = 0, j = 0;
    dirents_sort (&v);
    r = 0;
    while (!r && (i < h.n || j < v.n)) {
      int c = i == h.n ? 1 : j == v.n ? -1 : compare_names (&h, i, &v, j);
      if (c < 0)
        r = 1;
      else if (c > 0) {
        r = !new_only && !(ino == EXT2_ROOT_INO && v.e[j].name_len == 10
                           && memcmp (DIRENT_NAME (&v, &v.e[j]), "lost+found", 10) == 0);
        j++;
      }
      else {
        i++;
        j++;
      }
    }
    dirents_free (&v);
  }
  dirents_free (&h);
  return r;
}

int
host_compare (const struct host_obj *o, struct extfs *x, uint32_t ino,
              struct ext2_inode_large *in, unsigned flags)
{
  mode_t type = o->st.st_mode & S_IFMT;
  unsigned w = 0;
  int r = 0;

  /* The kernel's S_IF* values are ext4's LINUX_S_IF*. */
  if (type != (mode_t) (in->i_mode & LINUX_S_IFMT))
    w |= 1u << ASPECT_TYPE;
  else if (S_ISREG (type)) {
    if ((uint64_t) o->st.st_size != EXT2_I_SIZE (in))
      w |= 1u << ASPECT_SIZE;
    r = content_differs (o, x, ino, in);
    if (r == 1)
      w |= 1u << ASPECT_CONTENT;
  }
  else if (S_ISLNK (type)) {
    if ((r = target_differs (o, x, ino, in)) == 1)
      w |= 1u << ASPECT_TARGET;
  }
  else if (S_ISCHR (type) || S_ISBLK (type)) {
    uint32_t maj, min;
    extfs_rdev (in, &maj, &min);
    if (major (o->st.st_rdev) != maj || minor (o->st.st_rdev) != min)
      w |= 1u << ASPECT_CONTENT;
  }
  else if (S_ISDIR (type) && (flags & (COMPARE_NAMES | COMPARE_NEW_NAMES))) {
    if ((r = names_differ (o, x, ino, in, !(flags & COMPARE_NAMES))) == 1)
      w |= 1u << ASPECT_CONTENT;
  }
  if (r == -1)
    return -1;
  if ((o->st.st_mode & 07777) != (mode_t) (in->i_mode & 07777))
    w |= 1u << ASPECT_MODE;
  if (o->st.st_uid != extfs_uid (in) || o->st.st_gid != extfs_gid (in))
    w |= 1u << ASPECT_OWNER;
  if ((r = xattrs_differ (o, x, ino)) == -1)
    return -1;
  if (r)
    w |= 1u << ASPECT_XATTRS;
  return w;
}
