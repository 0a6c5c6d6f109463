/* oneway: small helpers.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "oneway/util.h"

int
ow_pread_full (int fd, void *buf, size_t count, uint64_t offset)
{
  char *p = buf;

  while (count) {
    ssize_t r = pread (fd, p, count, offset);
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1)
      return -1;
    if (r == 0) {
      errno = EIO;              /* unexpected end of file */
      return -1;
    }
    p += r;
    count -= r;
    offset += r;
  }
  return 0;
}

int
ow_pwrite_full (int fd, const void *buf, size_t count, uint64_t offset)
{
  const char *p = buf;

  while (count) {
    ssize_t r = pwrite (fd, p, count, offset);
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1)
      return -1;
    p += r;
    count -= r;
    offset += r;
  }
  return 0;
}

int
ow_pwritev_full (int fd, struct iovec *iov, int iovcnt, uint64_t offset)
{
  while (iovcnt > 0) {
    int n = iovcnt < IOV_MAX ? iovcnt : IOV_MAX;
    ssize_t r = pwritev (fd, iov, n, offset);
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1)
      return -1;
    offset += r;
    /* Skip what was written; the iovec array is the caller's scratch. */
    while (iovcnt > 0 && (size_t) r >= iov->iov_len) {
      r -= iov->iov_len;
      iov++;
      iovcnt--;
    }
    if (iovcnt > 0) {
      iov->iov_base = (char *) iov->iov_base + r;
      iov->iov_len -= r;
    }
  }
  return 0;
}

char *
ow_absolute_path (const char *name)
{
  char *cwd, *r;

  if (name[0] == '/')
    return strdup (name);
  cwd = getcwd (NULL, 0);
  if (!cwd)
    return NULL;
  if (asprintf (&r, "%s/%s", strcmp (cwd, "/") == 0 ? "" : cwd, name) == -1)
    r = NULL;
  free (cwd);
  return r;
}

int
ow_grow_array (void *ptr, size_t *cap, size_t need, size_t elem)
{
  void **array = ptr, *p;
  size_t n = *cap ? *cap : 16;

  if (need <= *cap)
    return 0;
  while (n < need) {
    if (n > SIZE_MAX / 2)
      goto too_big;
    n *= 2;
  }
  if (n > SIZE_MAX / elem)
    goto too_big;
  if (!(p = realloc (*array, n * elem)))
    return -1;
  *array = p;
  *cap = n;
  return 0;
 too_big:
  errno = ENOMEM;
  return -1;
}

const char *
ow_human_size (uint64_t bytes, char *buf, size_t len)
{
  static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
  double v = bytes;
  int u = 0;

  while (v >= 1024 && u < 6) {
    v /= 1024;
    u++;
  }
  if (u == 0)
    snprintf (buf, len, "%" PRIu64 " B", bytes);
  else if (v == (uint64_t) v)
    snprintf (buf, len, "%.0f %s", v, units[u]);
  else
    snprintf (buf, len, "%.1f %s", v, units[u]);
  return buf;
}

int64_t
ow_parse_size (const char *s)
{
  char *end;
  uint64_t v, mult = 1;

  if (!isdigit ((unsigned char) *s))
    return -1;
  errno = 0;
  v = strtoull (s, &end, 10);
  if (errno)
    return -1;
  switch (*end) {
  case '\0': break;
  case 'b': case 'B': end++; break;
  case 'k': case 'K': mult = 1ULL << 10; end++; break;
  case 'm': case 'M': mult = 1ULL << 20; end++; break;
  case 'g': case 'G': mult = 1ULL << 30; end++; break;
  case 't': case 'T': mult = 1ULL << 40; end++; break;
  case 'p': case 'P': mult = 1ULL << 50; end++; break;
  default: return -1;
  }
  if (mult > 1 && (strcmp (end, "iB") == 0 || strcmp (end, "B") == 0))
    end += strlen (end);
  if (*end || v > (uint64_t) INT64_MAX / mult)
    return -1;
  return v * mult;
}

/* A process other than us that has the file open, found the way
 * fuser does. */
static pid_t
find_opener (const struct stat *target)
{
  DIR *proc = opendir ("/proc");
  struct dirent *d;
  pid_t found = 0;

  if (!proc)
    return 0;
  while (!found && (d = readdir (proc))) {
    char path[300];
    DIR *fds;
    struct dirent *f;
    long pid = strtol (d->d_name, NULL, 10);

    if (pid <= 0 || pid == getpid ())
      continue;
    snprintf (path, sizeof path, "/proc/%ld/fd", pid);
    if (!(fds = opendir (path)))
      continue;
    while (!found && (f = readdir (fds))) {
      struct stat st;
      char fdpath[600];
      snprintf (fdpath, sizeof fdpath, "%s/%s", path, f->d_name);
      if (f->d_name[0] != '.' && stat (fdpath, &st) == 0
          && st.st_ino == target->st_ino && st.st_dev == target->st_dev)
        found = pid;
    }
    closedir (fds);
  }
  closedir (proc);
  return found;
}

pid_t
ow_lock_holder (int fd)
{
  struct stat st;
  FILE *f;
  char line[256];
  pid_t holder = 0;

  if (fstat (fd, &st) == -1)
    return 0;
  /* "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF" */
  if ((f = fopen ("/proc/locks", "re"))) {
    while (fgets (line, sizeof line, f)) {
      char kind[16], mode[16], rw[16];
      long pid;
      unsigned maj, min;
      unsigned long long ino;
      char *p = strchr (line, ':');
      if (!p || strstr (line, "->"))
        continue;               /* "->" marks a blocked waiter */
      if (sscanf (p + 1, "%15s %15s %15s %ld %x:%x:%llu", kind, mode, rw,
                  &pid, &maj, &min, &ino) == 7
          && ino == st.st_ino && makedev (maj, min) == st.st_dev && pid > 0) {
        holder = pid;
        break;
      }
    }
    fclose (f);
  }
  /* A lock records who took it, and a server that took it before
   * daemonising has since handed it to its child. */
  if (holder && kill (holder, 0) == -1 && errno == ESRCH)
    holder = 0;
  if (!holder)
    holder = find_opener (&st);
  return holder;
}

const char *
ow_process_name (pid_t pid, char *buf, size_t len)
{
  char path[64];
  FILE *f;

  snprintf (path, sizeof path, "/proc/%ld/comm", (long) pid);
  f = fopen (path, "re");
  if (!f || !fgets (buf, len, f)) {
    snprintf (buf, len, "?");
  }
  else
    buf[strcspn (buf, "\n")] = '\0';
  if (f)
    fclose (f);
  return buf;
}
