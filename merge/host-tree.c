/* oneway-merge: the host tree, looked at without ever leaving it.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "host-tree.h"
#include "oneway/error.h"
#include "oneway/escape.h"

#define RESOLVE_CONFINED \
  (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)

/* openat2 of a path below dir, confined; a rename or mount elsewhere
 * meanwhile makes the kernel ask for a retry (EAGAIN). */
static int
confined_open (int dir, const char *rel, int flags)
{
  struct open_how how = { .flags = flags | O_CLOEXEC, .resolve = RESOLVE_CONFINED };
  int fd;

  for (int tries = 0; tries < 100; tries++) {
    fd = syscall (SYS_openat2, dir, rel, &how, sizeof how);
    if (fd >= 0 || errno != EAGAIN)
      break;
  }
  return fd;
}

/* ---- read-ahead ------------------------------------------------- */

/* Enough lookups in flight to keep a disk busy; more would only
 * contend. */
#define PREFETCH_THREADS 8

struct host_prefetch {
  struct host_tree *h;
  const struct path *paths;
  size_t n;
  atomic_size_t next;
  pthread_t t[PREFETCH_THREADS];
  int started;
};

static void
prefetch_one (struct host_tree *h, const struct path *p)
{
  char rel[PATH_MAX], proc[64];
  struct stat st;
  int fd, data;

  if (p->len < 1 || p->len >= PATH_MAX || p->s[0] != '/' || memchr (p->s, '\0', p->len))
    return;
  if (p->len == 1)
    strcpy (rel, ".");
  else {
    memcpy (rel, p->s + 1, p->len - 1);
    rel[p->len - 1] = '\0';
  }
  if ((fd = confined_open (h->root, rel, O_PATH | O_NOFOLLOW)) == -1)
    return;
  if (fstat (fd, &st) == 0 && S_ISREG (st.st_mode)) {
    snprintf (proc, sizeof proc, "/proc/self/fd/%d", fd);
    if ((data = open (proc, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)) >= 0) {
      posix_fadvise (data, 0, 0, POSIX_FADV_WILLNEED);
      close (data);
    }
  }
  close (fd);
}

static void *
prefetch_worker (void *opaque)
{
  struct host_prefetch *j = opaque;
  size_t i;

  while ((i = atomic_fetch_add (&j->next, 1)) < j->n)
    prefetch_one (j->h, &j->paths[i]);
  return NULL;
}

struct host_prefetch *
host_prefetch_begin (struct host_tree *h, const struct path *paths, size_t n)
{
  struct host_prefetch *j = malloc (sizeof *j);

  if (!j)
    return NULL;
  j->h = h;
  j->paths = paths;
  j->n = n;
  atomic_init (&j->next, 0);
  j->started = 0;
  /* A thread that cannot start leaves its share to the others, and
   * with none, nothing is read ahead: it is only a hint. */
  for (int k = 0; k < PREFETCH_THREADS && (size_t) k * 16 < n; k++)
    if (pthread_create (&j->t[j->started], NULL, prefetch_worker, j) == 0)
      j->started++;
  return j;
}

void
host_prefetch_end (struct host_prefetch *j)
{
  if (!j)
    return;
  for (int k = 0; k < j->started; k++)
    pthread_join (j->t[k], NULL);
  free (j);
}

void
host_prefetch (struct host_tree *h, const struct path *paths, size_t n)
{
  host_prefetch_end (host_prefetch_begin (h, paths, n));
}

int
host_tree_open (struct host_tree *h, const char *dir)
{
  char *e = ow_escape (dir, strlen (dir));
  int fd;

  h->root = -1;
  h->name = e;
  if (!e)
    return -1;
  h->root = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (h->root == -1) {
    ow_error ("host tree %s: %m: --host names the directory at the root of the live "
              "filesystem (/ or where it is mounted)", e);
    host_tree_close (h);
    return -1;
  }
  /* Is openat2 there, with every resolve flag we use? */
  fd = confined_open (h->root, ".", O_PATH);
  if (fd == -1) {
    if (errno == ENOSYS || errno == EINVAL || errno == E2BIG)
      ow_error ("host tree %s: this kernel has no openat2 with RESOLVE_BENEATH and "
                "RESOLVE_NO_XDEV (Linux 5.6 or later has it): oneway-merge looks up host "
                "paths only that way, so that no symlink or mount can lead it out of the "
                "tree, and has no weaker walk to fall back on", e);
    else
      ow_error ("host tree %s: %m", e);
    host_tree_close (h);
    return -1;
  }
  close (fd);
  return 0;
}

void
host_tree_close (struct host_tree *h)
{
  if (h->root >= 0)
    close (h->root);
  free (h->name);
  h->root = -1;
  h->name = NULL;
}

void
host_obj_close (struct host_obj *o)
{
  if (o->fd >= 0)
    close (o->fd);
  free (o->shown);
  o->fd = -1;
  o->shown = NULL;
}

/* One component at a time from the root, to say where and why a whole
 * lookup failed (or for a path longer than PATH_MAX). */
static int
walk (struct host_tree *h, const char *path, size_t len, struct host_obj *o)
{
  int dir = h->root;
  size_t pos = 1;
  int r = -1;

  for (;;) {
    size_t end = pos;
    char name[NAME_MAX + 1];
    int fd;

    while (end < len && path[end] != '/')
      end++;
    if (end - pos > NAME_MAX) {
      errno = ENAMETOOLONG;
      ow_error ("host tree %s: %s: a name in it is longer than %d bytes",
                h->name, o->shown, NAME_MAX);
      break;
    }
    memcpy (name, path + pos, end - pos);
    name[end - pos] = '\0';
    fd = confined_open (dir, name, O_PATH | O_NOFOLLOW);
    if (fd == -1) {
      if (errno == ENOENT || errno == EXDEV) {
        o->where = errno == ENOENT ? HOST_ABSENT : HOST_MOUNT;
        o->at = end;
        r = 0;
      }
      else
        ow_error ("host tree %s: cannot look up %s: %m", h->name, o->shown);
      break;
    }
    if (fstat (fd, &o->st) == -1) {
      ow_error ("host tree %s: %s: %m", h->name, o->shown);
      close (fd);
      break;
    }
    if (end == len) {
      o->where = HOST_FOUND;
      o->fd = fd;
      r = 0;
      break;
    }
    if (!S_ISDIR (o->st.st_mode)) {
      o->where = S_ISLNK (o->st.st_mode) ? HOST_SYMLINK : HOST_NOT_DIR;
      o->at = end;
      close (fd);
      r = 0;
      break;
    }
    if (dir != h->root)
      close (dir);
    dir = fd;
    pos = end + 1;
  }
  if (dir != h->root)
    close (dir);
  return r;
}

/* Absolute, no empty component, no "." or "..": a path as the views
 * name objects.  Anything else could mean something else here. */
static bool
canonical (const char *path, size_t len)
{
  if (len == 0 || path[0] != '/' || memchr (path, '\0', len))
    return false;
  if (len == 1)
    return true;
  for (size_t pos = 1; pos <= len; ) {
    size_t end = pos;
    while (end < len && path[end] != '/')
      end++;
    size_t n = end - pos;
    if (n == 0 || (n == 1 && path[pos] == '.')
        || (n == 2 && path[pos] == '.' && path[pos + 1] == '.'))
      return false;
    pos = end + 1;
  }
  return true;
}

int
host_lookup (struct host_tree *h, const char *path, size_t len, struct host_obj *o)
{
  char *rel;
  int fd;

  memset (&o->st, 0, sizeof o->st);
  o->where = HOST_ABSENT;
  o->at = 0;
  o->fd = -1;
  if (!(o->shown = ow_escape (path, len)))
    return -1;
  if (!canonical (path, len)) {
    errno = EINVAL;
    ow_error ("host tree %s: %s is not an absolute path without empty, \".\" or \"..\" "
              "components", h->name, o->shown);
    return -1;
  }
  if (len >= PATH_MAX)
    return walk (h, path, len, o);
  if (!(rel = len == 1 ? strdup (".") : strndup (path + 1, len - 1)))
    return -1;
  fd = confined_open (h->root, rel, O_PATH | O_NOFOLLOW);
  free (rel);
  if (fd == -1) {
    if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR || errno == EXDEV)
      return walk (h, path, len, o);
    ow_error ("host tree %s: cannot look up %s: %m", h->name, o->shown);
    return -1;
  }
  if (fstat (fd, &o->st) == -1) {
    ow_error ("host tree %s: %s: %m", h->name, o->shown);
    close (fd);
    return -1;
  }
  o->where = HOST_FOUND;
  o->fd = fd;
  return 0;
}

int64_t
host_read_link (const struct host_obj *o, char *buf, size_t size)
{
  /* An O_PATH fd of a symlink with an empty path: the link itself. */
  ssize_t n = readlinkat (o->fd, "", buf, size);

  if (n == -1)
    ow_error ("host: cannot read the symlink %s: %m", o->shown);
  return n;
}

/* The object behind an O_PATH fd, by its magic link in /proc: the
 * kernel's way to reach exactly that inode (a symlink included) for
 * the calls that take no fd of that kind.  It resolves nothing inside
 * the tree. */
static void
proc_path (const struct host_obj *o, char *buf, size_t len)
{
  snprintf (buf, len, "/proc/self/fd/%d", o->fd);
}

static void
proc_error (const struct host_obj *o, const char *what)
{
  if (errno == ENOENT)
    ow_error ("host: cannot read the %s of %s: /proc is not mounted here, and "
              "oneway-merge reaches an object it found through /proc/self/fd", what, o->shown);
  else
    ow_error ("host: cannot read the %s of %s: %m", what, o->shown);
}

/* A value (or the list of names, with name NULL) into *buf, grown as
 * needed: the kernel says how big it is, and ERANGE if it grew since. */
static ssize_t
get_sized (const char *p, const char *name, char **buf, size_t *cap)
{
  for (;;) {
    ssize_t n = name ? getxattr (p, name, NULL, 0) : listxattr (p, NULL, 0), m;
    if (n <= 0)
      return n;
    if ((size_t) n > *cap) {
      char *b = realloc (*buf, n);
      if (!b)
        return -1;
      *buf = b;
      *cap = n;
    }
    m = name ? getxattr (p, name, *buf, *cap) : listxattr (p, *buf, *cap);
    if (m >= 0 || errno != ERANGE)
      return m;
  }
}

int
host_read_xattrs (const struct host_obj *o, struct xattrs *xs)
{
  char p[64], *names = NULL, *value = NULL;
  size_t cap = 0, vcap = 0;
  ssize_t n, vn;
  int r = -1;

  proc_path (o, p, sizeof p);
  n = get_sized (p, NULL, &names, &cap);
  if (n == -1 && errno == ENOTSUP)
    n = 0;                      /* a filesystem without xattrs has none */
  if (n == -1) {
    proc_error (o, "xattrs");
    goto out;
  }
  for (ssize_t i = 0; i < n; i += strlen (names + i) + 1) {
    vn = get_sized (p, names + i, &value, &vcap);
    if (vn == -1 && errno == ENODATA)
      continue;                 /* removed meanwhile */
    if (vn == -1) {
      proc_error (o, "xattrs");
      goto out;
    }
    if (xattrs_add (xs, names + i, value, vn) == -1)
      goto out;
  }
  xattrs_sort (xs);
  r = 0;
 out:
  free (names);
  free (value);
  return r;
}

int
host_open_file (const struct host_obj *o)
{
  char p[64];
  struct stat st;
  int fd;

  if (!S_ISREG (o->st.st_mode)) {
    errno = EINVAL;
    ow_error ("host: %s is not a regular file", o->shown);
    return -1;
  }
  proc_path (o, p, sizeof p);
  fd = open (p, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd == -1) {
    proc_error (o, "content");
    return -1;
  }
  if (fstat (fd, &st) == -1 || st.st_ino != o->st.st_ino || st.st_dev != o->st.st_dev) {
    errno = ESTALE;
    ow_error ("host: %s changed while it was being read", o->shown);
    close (fd);
    return -1;
  }
  return fd;
}

int
host_list (const struct host_obj *o, struct dirents *out)
{
  struct dirent *de;
  DIR *d;
  int fd;

  memset (out, 0, sizeof *out);
  /* "." of the directory found: no lookup of anything else. */
  fd = openat (o->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd == -1 || !(d = fdopendir (fd))) {
    ow_error ("host: cannot list %s: %m", o->shown);
    if (fd >= 0)
      close (fd);
    return -1;
  }
  errno = 0;
  while ((de = readdir (d))) {
    size_t n = strlen (de->d_name);
    if ((n == 1 && de->d_name[0] == '.') || (n == 2 && de->d_name[0] == '.' && de->d_name[1] == '.'))
      continue;
    if (dirents_add (out, de->d_ino, 0, de->d_name, n) == -1) {
      closedir (d);
      dirents_free (out);
      return -1;
    }
    errno = 0;
  }
  if (errno) {
    ow_error ("host: cannot list %s: %m", o->shown);
    closedir (d);
    dirents_free (out);
    return -1;
  }
  closedir (d);
  dirents_sort (out);
  return 0;
}
