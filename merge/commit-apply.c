/* oneway-merge: carrying out a commit's plan on the host tree.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "commit-apply.h"
#include "oneway/error.h"
#include "oneway/escape.h"
#include "oneway/util.h"
#include "xattrs.h"

#ifdef COMMIT_CRASH_POINTS
void
commit_point (void)
{
  static long n, at = -2;

  if (at == -2) {
    const char *e = getenv ("ONEWAY_CRASH_AT");
    at = e ? atol (e) : -1;
  }
  if (++n == at)
    raise (SIGKILL);
}
#endif

/* ---- progress --------------------------------------------------- */

struct progress {
  bool on;
  uint64_t bytes, total_bytes;
  size_t files, total_files;
  struct timespec last;
};

static void
progress_show (struct progress *pr, bool final)
{
  struct timespec now;
  char a[32], b[32];

  if (!pr->on)
    return;
  clock_gettime (CLOCK_MONOTONIC, &now);
  if (!final && (now.tv_sec - pr->last.tv_sec) * 1000000000L + now.tv_nsec - pr->last.tv_nsec
      < 100000000L)
    return;
  pr->last = now;
  fprintf (stderr, "\rcommit: writing %s of %s, %zu of %zu objects%s",
           ow_human_size (pr->bytes, a, sizeof a), ow_human_size (pr->total_bytes, b, sizeof b),
           pr->files, pr->total_files, final ? "\n" : "   ");
}

/* ---- the SEE's objects, made in staging --------------------------- */

static void
staged_name (uint32_t name, char *buf)
{
  snprintf (buf, 16, "%" PRIu32, name);
}

/* A time of an inode: seconds with the extra epoch bits, nanoseconds
 * if it keeps them. */
static struct timespec
inode_time (struct extfs *x, const struct ext2_inode_large *in, uint32_t sec, size_t extra_off)
{
  struct timespec t = { (int32_t) sec, 0 };
  uint32_t extra;

  if (extfs_has_extra (x, in, extra_off + 4)) {
    memcpy (&extra, (const char *) in + extra_off, 4);
    t.tv_sec += (int64_t) (extra & 3) << 32;
    t.tv_nsec = extra >> 2;
  }
  return t;
}

static void
inode_times (struct extfs *x, const struct ext2_inode_large *in, struct timespec t[2])
{
  t[0] = inode_time (x, in, in->i_atime, offsetof (struct ext2_inode_large, i_atime_extra));
  t[1] = inode_time (x, in, in->i_mtime, offsetof (struct ext2_inode_large, i_mtime_extra));
}

/* Set the times of the directory dir (an O_PATH fd); what is named
 * what for the error. */
static int
set_dir_times (int dir, const struct timespec ts[2], const char *what)
{
  int fd;

  commit_point ();
  fd = openat (dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd == -1 || futimens (fd, ts) == -1) {
    ow_error ("commit: setting the times of %s: %m", what);
    if (fd >= 0)
      close (fd);
    return -1;
  }
  close (fd);
  return 0;
}

static int
read_see_inode (struct committing *c, uint32_t ino, struct ext2_inode_large *in)
{
  if (extfs_read_inode (c->see, ino, in) == -1 || !extfs_inode_live (in)) {
    ow_error ("commit: the SEE view's inode %" PRIu32 " cannot be read (or is no longer in "
              "use): the overlay changed since the commit began?", ino);
    return -1;
  }
  return 0;
}

/* A file's bytes: mapped runs read a megabyte at a time, holes left
 * as holes (the size set at the end makes the trailing one). */
static int
copy_bytes (struct committing *c, int fd, uint32_t ino, struct ext2_inode_large *in,
            struct progress *pr)
{
  struct extfs *x = c->see;
  uint64_t size = EXT2_I_SIZE (in), nblocks = (size + x->bs - 1) / x->bs;
  const uint64_t chunk = ((uint64_t) 1 << 20) / x->bs;
  struct extfs_file f;
  char *buf = malloc (chunk * x->bs);
  int r = -1;

  if (!buf || extfs_file_open (x, ino, in, &f) == -1) {
    free (buf);
    return -1;
  }
  for (uint64_t l = 0; l < nblocks; ) {
    struct segment sg = f.is_inline ? (struct segment) { .mapped = true, .len = 1 }
      : extfs_segment_at (&f.runs, l);
    uint64_t n = sg.len ? ow_min64 (sg.len, nblocks - l) : nblocks - l;

    if (!sg.mapped || sg.uninit) {
      l += n;
      continue;
    }
    n = ow_min64 (n, chunk);
    if (f.is_inline) {
      if (extfs_file_block (&f, l, buf) == -1)
        goto out;
    }
    else if (disk_pread (&x->disk, buf, n * x->bs, sg.physical * x->bs) == -1) {
      ow_error ("commit: reading the SEE's inode %" PRIu32 ": %m", ino);
      goto out;
    }
    uint64_t bytes = ow_min64 (n * x->bs, size - l * x->bs);
    commit_point ();
    if (ow_pwrite_full (fd, buf, bytes, l * x->bs) == -1) {
      ow_error ("commit: writing into the host tree's staging directory: %m");
      goto out;
    }
    pr->bytes += bytes;
    progress_show (pr, false);
    l += n;
  }
  commit_point ();
  if (ftruncate (fd, size) == -1) {
    ow_error ("commit: setting a staged file's size: %m");
    goto out;
  }
  r = 0;
 out:
  extfs_file_close (&f);
  free (buf);
  return r;
}

/* What attributes are set on: an fd of the object's own, or a path
 * that reaches it without a lookup in the tree (/proc/self/fd/N of an
 * O_PATH fd, followed; or /proc/self/fd/DIR/NAME, a name in a
 * directory we hold, not followed). */
struct target {
  int fd;                       /* or -1 */
  char proc[64];
  bool follow;
};

static void
target_fd (struct target *t, int fd)
{
  t->fd = fd;
  t->proc[0] = '\0';
  t->follow = true;
}

static void
target_name (struct target *t, int dir, const char *name)
{
  t->fd = -1;
  snprintf (t->proc, sizeof t->proc, "/proc/self/fd/%d/%s", dir, name);
  t->follow = false;
}

static void
target_opath (struct target *t, int opath)
{
  t->fd = -1;
  snprintf (t->proc, sizeof t->proc, "/proc/self/fd/%d", opath);
  t->follow = true;
}

static int
set_xattr (const struct target *t, const struct xattr *x)
{
  return t->fd >= 0 ? fsetxattr (t->fd, x->name, x->value, x->len, 0)
    : t->follow ? setxattr (t->proc, x->name, x->value, x->len, 0)
    : lsetxattr (t->proc, x->name, x->value, x->len, 0);
}

/* Owner, then xattrs (a chown drops security.capability), then the
 * mode (last: a chown drops set-uid, and an ACL sets group bits), then
 * the times of what is not a directory (a directory's come once its
 * entries are in).  remove: the xattrs the object has now, which the
 * SEE's replace. */
static int
set_attributes (struct committing *c, const struct target *t, uint32_t ino,
                struct ext2_inode_large *in, const struct xattrs *remove)
{
  struct xattrs xs = { 0 };
  struct timespec ts[2];
  bool lnk = LINUX_S_ISLNK (in->i_mode);
  uid_t uid = extfs_uid (in);
  gid_t gid = extfs_gid (in);
  int r = -1;

  if (extfs_read_xattrs (c->see, ino, &xs) == -1)
    return -1;
  commit_point ();
  if ((t->fd >= 0 ? fchown (t->fd, uid, gid)
       : t->follow ? chown (t->proc, uid, gid) : lchown (t->proc, uid, gid)) == -1) {
    ow_error ("commit: setting the owner of a staged object: %m");
    goto out;
  }
  for (size_t k = 0; remove && k < remove->n; k++) {
    commit_point ();
    if ((t->fd >= 0 ? fremovexattr (t->fd, remove->x[k].name)
         : removexattr (t->proc, remove->x[k].name)) == -1 && errno != ENODATA) {
      ow_error ("commit: removing an xattr: %m");
      goto out;
    }
  }
  for (size_t k = 0; k < xs.n; k++) {
    commit_point ();
    if (set_xattr (t, &xs.x[k]) == -1) {
      char *e = ow_escape (xs.x[k].name, strlen (xs.x[k].name));
      ow_error ("commit: setting the xattr %s: %m", e ? e : "?");
      free (e);
      goto out;
    }
  }
  commit_point ();
  if (!lnk && (t->fd >= 0 ? fchmod (t->fd, in->i_mode & 07777)
               : chmod (t->proc, in->i_mode & 07777)) == -1) {
    ow_error ("commit: setting the mode: %m");
    goto out;
  }
  inode_times (c->see, in, ts);
  commit_point ();
  if (!LINUX_S_ISDIR (in->i_mode)
      && (t->fd >= 0 ? futimens (t->fd, ts)
          : utimensat (AT_FDCWD, t->proc, ts, t->follow ? 0 : AT_SYMLINK_NOFOLLOW)) == -1) {
    ow_error ("commit: setting the times: %m");
    goto out;
  }
  r = 0;
 out:
  xattrs_free (&xs);
  return r;
}

static int
make_object (struct committing *c, struct make *m, struct progress *pr)
{
  struct ext2_inode_large in;
  struct stat st;
  char name[16];
  int fd = -1, r = -1, made;

  if (read_see_inode (c, m->ino, &in) == -1)
    return -1;
  staged_name (m->name, name);
  commit_point ();
  if (LINUX_S_ISREG (in.i_mode)) {
    fd = made = openat (c->stg, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0 && copy_bytes (c, fd, m->ino, &in, pr) == -1)
      goto out;
  }
  else if (LINUX_S_ISDIR (in.i_mode)) {
    made = mkdirat (c->stg, name, 0700);
    if (made == 0)
      fd = openat (c->stg, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  else if (LINUX_S_ISLNK (in.i_mode)) {
    char *target = malloc (c->see->bs + 1);
    int64_t len = target ? extfs_read_symlink (c->see, m->ino, &in, target) : -1;
    if (len >= 0)
      target[len] = '\0';
    made = len < 0 || memchr (target, '\0', len) ? (errno = EINVAL, -1)
      : symlinkat (target, c->stg, name);
    free (target);
  }
  else {
    uint32_t major, minor;
    extfs_rdev (&in, &major, &minor);
    made = mknodat (c->stg, name, (in.i_mode & LINUX_S_IFMT) | 0600, makedev (major, minor));
  }
  if (made == -1 || (LINUX_S_ISDIR (in.i_mode) && fd == -1)) {
    ow_error ("commit: making a %s in the host tree's staging directory: %m",
              extfs_type_name (in.i_mode));
    goto out;
  }
  struct target tg;
  if (fd >= 0)
    target_fd (&tg, fd);
  else
    target_name (&tg, c->stg, name);
  if (set_attributes (c, &tg, m->ino, &in, NULL) == -1)
    goto out;
  if (fstatat (c->stg, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
    ow_error ("commit: a staged object: %m");
    goto out;
  }
  m->made = st.st_ino;
  r = 0;
 out:
  if (fd >= 0)
    close (fd);
  return r;
}

/* ---- the staging directory -------------------------------------- */

static int
open_staging (struct committing *c, bool create)
{
  commit_point ();
  if (create && mkdirat (c->host->root, c->p->staging, 0700) == -1 && errno != EEXIST) {
    ow_error ("commit: cannot make the staging directory %s at the top of host tree %s: %m",
              c->p->staging, c->host->name);
    return -1;
  }
  c->stg = openat (c->host->root, c->p->staging, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (c->stg == -1 && (errno != ENOENT || create)) {
    ow_error ("commit: the staging directory %s of host tree %s: %m", c->p->staging,
              c->host->name);
    return -1;
  }
  return 0;
}

/* Empty directory fd d of the staging tree: files unlinked, and
 * directories moved up into staging itself (flat: no depth of
 * directories holds a file descriptor each).  Another filesystem
 * mounted in it is left alone, and said so. */
static int
empty_dir (struct committing *c, int d, uint64_t dev, uint32_t *next, bool *moved)
{
  DIR *dir = fdopendir (d);
  struct dirent *de;
  struct stat st;
  int r = 0;

  if (!dir) {
    close (d);
    return -1;
  }
  while ((de = readdir (dir))) {
    char flat[32];
    if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
      continue;
    if (fstatat (dirfd (dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
      continue;
    if (st.st_dev != dev) {
      ow_error ("commit: %s in the staging directory is another filesystem mounted there: "
                "left in place", de->d_name);
      r = -1;
      continue;
    }
    commit_point ();
    if (!S_ISDIR (st.st_mode)) {
      if (unlinkat (dirfd (dir), de->d_name, 0) == -1)
        r = -1;
      continue;
    }
    if (dirfd (dir) == c->stg)
      continue;
    snprintf (flat, sizeof flat, "flat-%" PRIu32, (*next)++);
    if (renameat (dirfd (dir), de->d_name, c->stg, flat) == -1)
      r = -1;
    else
      *moved = true;
  }
  closedir (dir);
  return r;
}

static int
remove_staging (struct committing *c)
{
  struct stat st;
  uint32_t next = 1;
  int r = 0;

  if (c->stg < 0)
    return 0;
  if (fstat (c->stg, &st) == -1)
    return -1;
  for (int pass = 0; ; pass++) {
    bool moved = false, left = false;
    int d = openat (c->stg, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir = d >= 0 ? fdopendir (d) : NULL;
    struct dirent *de;
    if (!dir) {
      if (d >= 0)
        close (d);
      return -1;
    }
    while ((de = readdir (dir))) {
      struct stat cs;
      int sub;
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      left = true;
      if (fstatat (dirfd (dir), de->d_name, &cs, AT_SYMLINK_NOFOLLOW) == -1)
        continue;
      if (!S_ISDIR (cs.st_mode) || cs.st_dev != st.st_dev) {
        if (cs.st_dev == st.st_dev) {
          commit_point ();
          unlinkat (dirfd (dir), de->d_name, 0);
        }
        continue;
      }
      sub = openat (dirfd (dir), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0 && empty_dir (c, sub, st.st_dev, &next, &moved) == 0) {
        commit_point ();
        if (unlinkat (dirfd (dir), de->d_name, AT_REMOVEDIR) == -1 && errno != ENOTEMPTY)
          r = -1;
      }
    }
    closedir (dir);
    if (!left)
      break;
    if (pass > 64 && !moved) {
      ow_error ("commit: the staging directory %s of host tree %s cannot be emptied; "
                "remove it by hand", c->p->staging, c->host->name);
      return -1;
    }
  }
  commit_point ();
  if (unlinkat (c->host->root, c->p->staging, AT_REMOVEDIR) == -1 && errno != ENOENT) {
    ow_error ("commit: removing the staging directory %s of host tree %s: %m", c->p->staging,
              c->host->name);
    return -1;
  }
  close (c->stg);
  c->stg = -1;
  return r;
}

static int
sync_host (struct committing *c)
{
  int fd = openat (c->host->root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

  commit_point ();
  r = fd >= 0 ? syncfs (fd) : -1;
  if (r == -1)
    ow_error ("commit: syncing host tree %s: %m", c->host->name);
  if (fd >= 0)
    close (fd);
  return r;
}

int
commit_write (struct committing *c)
{
  struct progress pr = { c->progress, 0, c->p->bytes, 0, c->p->nm, { 0, 0 } };

  /* A write phase that a crash cut short is done again from the start:
   * nothing of it was used yet. */
  if (open_staging (c, false) == -1 || remove_staging (c) == -1 || open_staging (c, true) == -1)
    return -1;
  for (size_t i = 0; i < c->p->nm; i++) {
    if (make_object (c, &c->p->m[i], &pr) == -1)
      return -1;
    pr.files++;
    progress_show (&pr, false);
  }
  progress_show (&pr, true);
  c->p->data_written = pr.bytes;
  if (sync_host (c) == -1 || journal_phase (c->journal, c->p, "written") == -1)
    return -1;
  c->p->written = true;
  return 0;
}

/* ---- the switch ------------------------------------------------- */

/* A path's parent directory in the host tree, and its last name. */
struct place {
  struct host_obj dir;
  char name[NAME_MAX + 1];
};

static int
place_open (struct committing *c, const struct path *p, struct place *pl)
{
  size_t cut = p->len;

  memset (pl, 0, sizeof *pl);
  pl->dir.fd = -1;
  while (cut > 0 && p->s[cut - 1] != '/')
    cut--;
  if (cut == 0 || p->len - cut > NAME_MAX || p->len == cut) {
    char *e = ow_escape (p->s, p->len);
    errno = EINVAL;
    ow_error ("commit: %s is not a path a commit can change", e ? e : "?");
    free (e);
    return -1;
  }
  memcpy (pl->name, p->s + cut, p->len - cut);
  if (host_lookup (c->host, p->s, cut > 1 ? cut - 1 : 1, &pl->dir) == -1)
    return -1;
  return 0;
}

static void
place_close (struct place *pl)
{
  host_obj_close (&pl->dir);
}

/* A host object that is not what the check saw: refused, for people. */
static int
refuse (struct committing *c, const struct path *p, const char *why)
{
  char *e = ow_escape (p->s, p->len);

  free (c->refused);
  if (!e || asprintf (&c->refused, "%s: %s", e, why) < 0)
    c->refused = NULL;
  free (e);
  return 1;
}

static bool
same_ident (const struct ident *x, const struct stat *st)
{
  if (!x->present || st->st_dev != x->dev || st->st_ino != x->ino
      || (st->st_mode & S_IFMT) != (x->mode & S_IFMT))
    return false;
  return S_ISDIR (st->st_mode)
    || ((uint64_t) st->st_size == x->size && st->st_ctim.tv_sec == x->ctime_sec
        && st->st_ctim.tv_nsec == x->ctime_nsec);
}

/* The parent must be a directory of the tree; else the host moved it
 * since the check. */
static int
parent_ready (struct committing *c, const struct path *p, struct place *pl)
{
  if (place_open (c, p, pl) == -1)
    return -1;
  if (pl->dir.where != HOST_FOUND || !S_ISDIR (pl->dir.st.st_mode))
    return refuse (c, p, pl->dir.where == HOST_MOUNT ? "a mount point is in the way"
                   : "the directory it is in is gone or was replaced since the check");
  return 0;
}

static uint64_t
made_ino (const struct plan *p, uint32_t name)
{
  for (size_t i = 0; i < p->nm; i++)
    if (p->m[i].name == name)
      return p->m[i].made;
  return 0;
}

static int
staged_stat (struct committing *c, uint32_t name, struct stat *st)
{
  char n[16];

  staged_name (name, n);
  if (fstatat (c->stg, n, st, AT_SYMLINK_NOFOLLOW) == 0)
    return 1;
  return errno == ENOENT ? 0 : -1;
}

static int
move (struct committing *c, int from, const char *fname, int to, const char *tname,
      unsigned flags, const struct path *p)
{
  commit_point ();
  if (renameat2 (from, fname, to, tname, flags) == 0)
    return 0;
  if (errno == EEXIST)
    return refuse (c, p, "the host made this name since the check");
  if (errno == ENOENT)
    return refuse (c, p, "the host removed it since the check");
  char *e = ow_escape (p->s, p->len);
  ow_error ("commit: moving %s: %m", e ? e : "?");
  free (e);
  return -1;
}

/* Resuming: a detached object is in staging, unless its ATTACH step (a
 * rename that keeps the object) has put it at its new path since.  So
 * an object that is neither there nor at its old path was moved before
 * the crash only if it is at that new path; if it is not, the host
 * replaced or removed it after the commit looked.  (A deletion of what
 * the host removed too is done all the same.)  1, 0, or -1 with a
 * message. */
static int
detached_before (struct committing *c, const struct step *s, bool there)
{
  for (size_t i = 0; i < c->p->n; i++) {
    const struct step *a = &c->p->s[i];
    if (a->op == STEP_ATTACH && a->name == s->name) {
      struct host_obj h;
      bool landed;
      if (host_lookup (c->host, a->path.s, a->path.len, &h) == -1)
        return -1;
      landed = h.where == HOST_FOUND && h.st.st_dev == s->expect.dev
        && h.st.st_ino == s->expect.ino;
      host_obj_close (&h);
      return landed;
    }
  }
  return !there;
}

static int
step_detach (struct committing *c, struct step *s)
{
  struct place pl;
  struct stat st;
  char n[16];
  int r = staged_stat (c, s->name, &st);

  if (r != 0)
    return r == 1 ? 0 : -1;     /* done before */
  staged_name (s->name, n);
  if ((r = parent_ready (c, &s->path, &pl)) == 0) {
    bool there = fstatat (pl.dir.fd, pl.name, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (there && same_ident (&s->expect, &st))
      r = move (c, pl.dir.fd, pl.name, c->stg, n, RENAME_NOREPLACE, &s->path);
    /* Resuming: gone from its path and from staging. */
    else if (c->resuming && (!there || st.st_ino != s->expect.ino)) {
      r = detached_before (c, s, there);
      r = r == -1 ? -1 : r ? 0 : refuse (c, &s->path, there ? "the host changed it since the check"
                                         : "the host removed it since the check");
    }
    else
      r = refuse (c, &s->path, "the host changed it since the check");
  }
  place_close (&pl);
  return r;
}

static int
step_land (struct committing *c, struct step *s)
{
  struct place pl;
  struct stat st;
  char n[16];
  int r = staged_stat (c, s->name, &st);

  if (r == -1)
    return -1;
  /* Done before: the staged name is gone (attached), or holds the
   * host's old object (exchanged). */
  if (r == 0 || (s->op == STEP_EXCHANGE && st.st_ino != made_ino (c->p, s->name)))
    return 0;
  staged_name (s->name, n);
  if ((r = parent_ready (c, &s->path, &pl)) == 0) {
    if (s->op == STEP_EXCHANGE
        && (fstatat (pl.dir.fd, pl.name, &st, AT_SYMLINK_NOFOLLOW) == -1
            || !same_ident (&s->expect, &st)))
      r = refuse (c, &s->path, "the host changed it since the check");
    else
      r = move (c, c->stg, n, pl.dir.fd, pl.name,
                s->op == STEP_EXCHANGE ? RENAME_EXCHANGE : RENAME_NOREPLACE, &s->path);
  }
  place_close (&pl);
  return r;
}

/* A new name for the object at from: LINK makes it where there was
 * none; RELINK gives another name of a file that was replaced the new
 * version, through a link made in staging and swapped in, so that the
 * name holds the old or the new version at every moment (the old waits
 * in staging). */
static int
step_link (struct committing *c, struct step *s)
{
  struct host_obj from;
  struct place pl;
  struct stat st;
  char proc[64], n[16];
  int r;

  staged_name (s->name, n);
  if (host_lookup (c->host, s->from.s, s->from.len, &from) == -1)
    return -1;
  if (from.where != HOST_FOUND || S_ISDIR (from.st.st_mode))
    r = refuse (c, &s->path, "the file it is another name of is not in the host tree");
  else if ((r = parent_ready (c, &s->path, &pl)) == 0) {
    bool there = fstatat (pl.dir.fd, pl.name, &st, AT_SYMLINK_NOFOLLOW) == 0;
    snprintf (proc, sizeof proc, "/proc/self/fd/%d", from.fd);
    if (there && st.st_ino == from.st.st_ino)
      r = 0;                    /* done before */
    else if (s->op == STEP_LINK) {
      commit_point ();
      if (linkat (AT_FDCWD, proc, pl.dir.fd, pl.name, AT_SYMLINK_FOLLOW) == 0)
        r = 0;
      else if (errno == EEXIST)
        r = refuse (c, &s->path, "the host made this name since the check");
      else {
        ow_error ("commit: linking %s: %m", from.shown);
        r = -1;
      }
    }
    /* The old version's ctime moved when the exchange at from moved
     * it: known by its inode and size. */
    else if (!there || st.st_ino != s->expect.ino || (uint64_t) st.st_size != s->expect.size)
      r = refuse (c, &s->path, "the host changed it since the check");
    else {
      commit_point ();
      if (linkat (AT_FDCWD, proc, c->stg, n, AT_SYMLINK_FOLLOW) == -1 && errno != EEXIST) {
        ow_error ("commit: linking %s: %m", from.shown);
        r = -1;
      }
      else
        r = move (c, c->stg, n, pl.dir.fd, pl.name, RENAME_EXCHANGE, &s->path);
    }
    place_close (&pl);
  }
  host_obj_close (&from);
  return r;
}

/* The attributes of an object kept in place (a directory, or a file
 * whose bytes did not change, so its other names keep it): the SEE's
 * owner, mode and xattrs, which replace the host's. */
static int
step_attrs (struct committing *c, struct step *s)
{
  struct ext2_inode_large in;
  struct xattrs have = { 0 };
  struct host_obj h;
  struct target t;
  int fd = -1, r = -1;

  if (read_see_inode (c, s->ino, &in) == -1 || host_lookup (c->host, s->path.s, s->path.len, &h) == -1)
    return -1;
  if (h.where != HOST_FOUND || S_ISLNK (h.st.st_mode)
      || (s->expect.present && h.st.st_ino != s->expect.ino)
      || (!S_ISDIR (h.st.st_mode) && !same_ident (&s->expect, &h.st)
          && !(h.st.st_uid == extfs_uid (&in) && (h.st.st_mode & 07777) == (in.i_mode & 07777)))) {
    /* (A file's ctime moves with the commit's own change: a resume
     * finds it with the SEE's owner and mode already.) */
    r = refuse (c, &s->path, "the host changed it since the check");
    goto out;
  }
  if (host_read_xattrs (&h, &have) == -1)
    goto out;
  if (S_ISDIR (h.st.st_mode)) {
    if ((fd = openat (h.fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
      ow_error ("commit: %s: %m", h.shown);
      goto out;
    }
    target_fd (&t, fd);
  }
  else
    target_opath (&t, h.fd);    /* a node is never opened */
  r = set_attributes (c, &t, s->ino, &in, &have);
 out:
  xattrs_free (&have);
  if (fd >= 0)
    close (fd);
  host_obj_close (&h);
  return r;
}

static int
step_times (struct committing *c, struct step *s)
{
  struct ext2_inode_large in;
  struct timespec t[2];
  struct host_obj h;
  int r = 0;

  if (read_see_inode (c, s->ino, &in) == -1 || host_lookup (c->host, s->path.s, s->path.len, &h) == -1)
    return -1;
  /* A directory not in the host tree (a parent this selection left
   * out) keeps the times it has. */
  if (h.where == HOST_FOUND && S_ISDIR (h.st.st_mode)) {
    inode_times (c->see, &in, t);
    r = set_dir_times (h.fd, t, h.shown);
  }
  host_obj_close (&h);
  return r;
}

int
commit_switch (struct committing *c)
{
  int r = 0;

  if (c->stg < 0 && open_staging (c, false) == -1)
    return -1;
  for (size_t i = 0; i < c->p->n && r == 0; i++) {
    struct step *s = &c->p->s[i];
    switch (s->op) {
    case STEP_DETACH: r = step_detach (c, s); break;
    case STEP_ATTACH: case STEP_EXCHANGE: r = step_land (c, s); break;
    case STEP_LINK: case STEP_RELINK: r = step_link (c, s); break;
    case STEP_ATTRS: r = step_attrs (c, s); break;
    case STEP_TIMES: default: r = step_times (c, s); break;
    }
  }
  if (r != 0)
    return r;
  if (sync_host (c) == -1 || journal_phase (c->journal, c->p, "switched") == -1)
    return -1;
  c->p->switched = true;
  return 0;
}

/* Making and removing staging touched the root's times: the SEE's if
 * the commit changed the root's entries, else (and after an undo) the
 * host's from before. */
static int
restore_root_times (struct committing *c, bool undone)
{
  const int64_t *t = c->p->root_times;
  struct timespec ts[2] = { { t[0], t[1] }, { t[2], t[3] } };

  for (size_t i = 0; i < c->p->n && !undone; i++)
    if (c->p->s[i].op == STEP_TIMES && c->p->s[i].path.len == 1)
      return step_times (c, &c->p->s[i]);
  return set_dir_times (c->host->root, ts, c->host->name);
}

int
commit_finish (struct committing *c)
{
  if (c->stg < 0 && open_staging (c, false) == -1)
    return -1;
  if (remove_staging (c) == -1)
    return -1;
  return restore_root_times (c, false);
}

/* ---- undo ------------------------------------------------------- */

/* What an ATTRS step changed, as the journal says it was: owner, mode,
 * xattrs and times. */
static int
put_back_attributes (struct committing *c, const struct step *s)
{
  const int64_t *t = s->before_times;
  struct timespec ts[2] = { { t[0], t[1] }, { t[2], t[3] } };
  struct xattrs now = { 0 };
  struct host_obj h;
  char proc[64];
  int r = -1;

  if (host_lookup (c->host, s->path.s, s->path.len, &h) == -1)
    return -1;
  if (h.where != HOST_FOUND || h.st.st_ino != s->expect.ino || host_read_xattrs (&h, &now) == -1)
    goto out;
  snprintf (proc, sizeof proc, "/proc/self/fd/%d", h.fd);
  commit_point ();
  if (chown (proc, s->expect.uid, s->expect.gid) == -1)
    goto out;
  for (size_t k = 0; k < now.n; k++)
    if (removexattr (proc, now.x[k].name) == -1 && errno != ENODATA)
      goto out;
  for (size_t k = 0; k < s->before.n; k++)
    if (setxattr (proc, s->before.x[k].name, s->before.x[k].value, s->before.x[k].len, 0) == -1)
      goto out;
  if (chmod (proc, s->expect.mode & 07777) == -1 || utimensat (AT_FDCWD, proc, ts, 0) == -1)
    goto out;
  r = 0;
 out:
  xattrs_free (&now);
  host_obj_close (&h);
  return r;
}

static int
undo_step (struct committing *c, struct step *s)
{
  struct place pl;
  struct stat st, at;
  char n[16];
  int r = 0, staged;

  if (s->op == STEP_TIMES)
    return 0;                   /* last, once every name is back: put_back_times */
  staged_name (s->name, n);
  staged = s->op == STEP_LINK || s->op == STEP_ATTRS ? 0 : staged_stat (c, s->name, &st);
  if (staged == -1 || place_open (c, &s->path, &pl) == -1)
    return -1;
  if (pl.dir.where != HOST_FOUND)
    goto out;                   /* nothing of it is there to undo */
  bool there = fstatat (pl.dir.fd, pl.name, &at, AT_SYMLINK_NOFOLLOW) == 0;
  switch (s->op) {
  case STEP_DETACH:
    if (staged && !there)
      r = move (c, c->stg, n, pl.dir.fd, pl.name, RENAME_NOREPLACE, &s->path);
    break;
  case STEP_ATTACH:
    if (!staged && there && at.st_ino == (s->obj ? s->obj : made_ino (c->p, s->name)))
      r = move (c, pl.dir.fd, pl.name, c->stg, n, RENAME_NOREPLACE, &s->path);
    break;
  case STEP_EXCHANGE:
    if (staged && there && st.st_ino != made_ino (c->p, s->name)
        && at.st_ino == made_ino (c->p, s->name))
      r = move (c, c->stg, n, pl.dir.fd, pl.name, RENAME_EXCHANGE, &s->path);
    break;
  case STEP_RELINK: {
    /* Swapped in: the staged name holds the old version again. */
    struct host_obj from;
    if (staged && there && host_lookup (c->host, s->from.s, s->from.len, &from) == 0) {
      if (from.where == HOST_FOUND && at.st_ino == from.st.st_ino && st.st_ino == s->expect.ino)
        r = move (c, c->stg, n, pl.dir.fd, pl.name, RENAME_EXCHANGE, &s->path);
      host_obj_close (&from);
    }
    break;
  }
  case STEP_LINK: {
    struct host_obj from;
    if (host_lookup (c->host, s->from.s, s->from.len, &from) == 0 && from.where == HOST_FOUND
        && there && at.st_ino == from.st.st_ino) {
      commit_point ();
      if (unlinkat (pl.dir.fd, pl.name, 0) == -1)
        r = -1;
    }
    host_obj_close (&from);
    break;
  }
  case STEP_ATTRS:
    if (there && s->expect.present && at.st_ino == s->expect.ino && !S_ISLNK (at.st_mode))
      r = put_back_attributes (c, s);
    break;
  default:
    break;
  }
 out:
  if (r != 0) {
    char *e = ow_escape (s->path.s, s->path.len);
    ow_error ("abort: %s cannot be put back as it was%s%s", e ? e : "?",
              c->refused ? ": " : "", c->refused ? c->refused : "");
    free (e);
    r = -1;
  }
  place_close (&pl);
  return r;
}

/* The times a directory had, once the names the commit moved in and
 * out of it are back (each move touched them). */
static int
put_back_times (struct committing *c, const struct dir_times *t)
{
  struct timespec ts[2] = { { t->t[0], t->t[1] }, { t->t[2], t->t[3] } };
  struct host_obj h;
  int r = 0;

  if (host_lookup (c->host, t->path.s, t->path.len, &h) == -1)
    return -1;
  if (h.where == HOST_FOUND && h.st.st_ino == t->ino && S_ISDIR (h.st.st_mode))
    r = set_dir_times (h.fd, ts, h.shown);
  host_obj_close (&h);
  return r;
}

int
commit_undo (struct committing *c)
{
  int r = 0;

  if (c->stg < 0 && open_staging (c, false) == -1)
    return -1;
  if (c->stg >= 0 && c->p->written) {
    for (size_t i = c->p->n; i-- > 0; )
      if (undo_step (c, &c->p->s[i]) == -1)
        r = -1;
    for (size_t i = 0; i < c->p->ndt && r == 0; i++)
      if (put_back_times (c, &c->p->dt[i]) == -1)
        r = -1;
  }
  if (r == 0 && (remove_staging (c) == -1 || restore_root_times (c, true) == -1 || sync_host (c) == -1))
    r = -1;
  return r;
}

void
committing_close (struct committing *c)
{
  if (c->stg >= 0)
    close (c->stg);
  c->stg = -1;
  free (c->refused);
  c->refused = NULL;
}
