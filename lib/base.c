/* oneway: the base disk: file, block device or NBD export.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_LINUX_FS_H
#include <linux/fs.h>
#endif

#include <libnbd.h>

#include "libnbd-loader.h"

#include "oneway/base.h"
#include "oneway/error.h"
#include "oneway/util.h"

/* libnbd serialises commands on one handle, so parallel reads from an
 * NBD base need several connections.  A small pool: the remote server
 * usually has few threads per connection anyway. */
#define NBD_POOL 4

struct ow_base {
  char *name;
  uint64_t size;
  int fd;                       /* file or block device, else -1 */
  bool seek_hole;               /* SEEK_DATA/SEEK_HOLE work on fd */
  /* NBD: */
  struct nbd_handle *nbd[NBD_POOL];
  bool nbd_busy[NBD_POOL];
  int nbd_count;
  bool nbd_allocation;          /* server answers base:allocation */
  pthread_mutex_t lock;
  pthread_cond_t freed;
};

bool
ow_base_is_uri (const char *name)
{
  return strncmp (name, "nbd://", 6) == 0 || strncmp (name, "nbds://", 7) == 0
    || strncmp (name, "nbd+unix://", 11) == 0
    || strncmp (name, "nbds+unix://", 12) == 0
    || strncmp (name, "nbd+vsock://", 12) == 0;
}

static int
open_file (struct ow_base *b)
{
  struct stat st;

  b->fd = open (b->name, O_RDONLY | O_CLOEXEC);
  if (b->fd == -1) {
    ow_error ("cannot open base %s: %m", b->name);
    return -1;
  }
  if (fstat (b->fd, &st) == -1) {
    ow_error ("cannot stat base %s: %m", b->name);
    return -1;
  }
  if (S_ISREG (st.st_mode)) {
    b->size = st.st_size;
    b->seek_hole = true;
  }
#ifdef BLKGETSIZE64
  else if (S_ISBLK (st.st_mode)) {
    if (ioctl (b->fd, BLKGETSIZE64, &b->size) == -1) {
      ow_error ("cannot get the size of block device %s: %m", b->name);
      return -1;
    }
  }
#endif
  else {
    errno = EINVAL;
    ow_error ("base %s is neither a regular file nor a block device", b->name);
    return -1;
  }
  return 0;
}

/* Another connection for the pool, given up on after timeout_ms: a
 * server that advertises multi-conn may still serve only one client
 * at a time (qemu-nbd's default), and then the connection just waits. */
static struct nbd_handle *
connect_extra (const char *uri, int timeout_ms)
{
  struct nbd_handle *h = ow_libnbd.create ();
  struct timespec start, now;

  if (!h)
    return NULL;
  clock_gettime (CLOCK_MONOTONIC, &start);
  if (ow_libnbd.add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION) == -1
      || ow_libnbd.aio_connect_uri (h, uri) == -1)
    goto fail;
  while (!ow_libnbd.aio_is_ready (h)) {
    int left;
    if (ow_libnbd.aio_is_dead (h) || ow_libnbd.aio_is_closed (h))
      goto fail;
    clock_gettime (CLOCK_MONOTONIC, &now);
    left = timeout_ms - ((now.tv_sec - start.tv_sec) * 1000
                         + (now.tv_nsec - start.tv_nsec) / 1000000);
    if (left <= 0 || ow_libnbd.poll (h, left) == -1)
      goto fail;
  }
  return h;
 fail:
  ow_libnbd.close (h);
  return NULL;
}

static int
open_nbd (struct ow_base *b)
{
  struct nbd_handle *h;
  int64_t size;

  if (ow_libnbd_load () == -1)
    return -1;
  if (!(h = ow_libnbd.create ())) {
    errno = ENOMEM;
    ow_error ("libnbd: %s", ow_libnbd.get_error ());
    return -1;
  }
  b->nbd[b->nbd_count++] = h;
  if (ow_libnbd.add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION) == -1
      || ow_libnbd.connect_uri (h, b->name) == -1) {
    errno = ow_libnbd.get_errno () ? ow_libnbd.get_errno () : EIO;
    ow_error ("cannot connect to base %s: %s", b->name, ow_libnbd.get_error ());
    return -1;
  }
  size = ow_libnbd.get_size (h);
  if (size < 0) {
    errno = EIO;
    ow_error ("cannot get the size of base %s: %s", b->name, ow_libnbd.get_error ());
    return -1;
  }
  b->size = size;
  b->nbd_allocation = ow_libnbd.can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION) == 1;
  /* More connections only where the server says they see the same
   * data; each read uses one, so they are what makes reads parallel. */
  if (ow_libnbd.can_multi_conn (h) == 1)
    while (b->nbd_count < NBD_POOL) {
      struct nbd_handle *extra = connect_extra (b->name, 1000);
      if (!extra)
        break;
      b->nbd[b->nbd_count++] = extra;
    }
  ow_debug ("base %s: %d connection(s)", b->name, b->nbd_count);
  return 0;
}

int
ow_base_open (const char *name, struct ow_base **out)
{
  struct ow_base *b = calloc (1, sizeof *b);

  if (!b)
    return -1;
  b->fd = -1;
  pthread_mutex_init (&b->lock, NULL);
  pthread_cond_init (&b->freed, NULL);
  b->name = ow_base_is_uri (name) ? strdup (name) : ow_absolute_path (name);
  if (!b->name)
    goto fail;
  if (strlen (b->name) > 1024) {
    errno = ENAMETOOLONG;
    ow_error ("base name is longer than 1024 bytes: %s", b->name);
    goto fail;
  }
  if ((ow_base_is_uri (name) ? open_nbd (b) : open_file (b)) == -1)
    goto fail;
  *out = b;
  return 0;

 fail:
  ow_base_close (b);
  return -1;
}

void
ow_base_close (struct ow_base *b)
{
  int saved = errno;

  if (!b)
    return;
  if (b->fd >= 0)
    close (b->fd);
  for (int i = 0; i < b->nbd_count; i++) {
    ow_libnbd.shutdown (b->nbd[i], 0);
    ow_libnbd.close (b->nbd[i]);
  }
  pthread_mutex_destroy (&b->lock);
  pthread_cond_destroy (&b->freed);
  free (b->name);
  free (b);
  errno = saved;
}

uint64_t
ow_base_size (const struct ow_base *b)
{
  return b->size;
}

const char *
ow_base_name (const struct ow_base *b)
{
  return b->name;
}

static struct nbd_handle *
take_handle (struct ow_base *b, int *slot)
{
  pthread_mutex_lock (&b->lock);
  for (;;) {
    for (int i = 0; i < b->nbd_count; i++)
      if (!b->nbd_busy[i]) {
        b->nbd_busy[i] = true;
        pthread_mutex_unlock (&b->lock);
        *slot = i;
        return b->nbd[i];
      }
    pthread_cond_wait (&b->freed, &b->lock);
  }
}

static void
give_handle (struct ow_base *b, int slot)
{
  pthread_mutex_lock (&b->lock);
  b->nbd_busy[slot] = false;
  pthread_cond_signal (&b->freed);
  pthread_mutex_unlock (&b->lock);
}

/* NBD requests are limited in size (32 MiB is safe with every server). */
#define NBD_MAX_REQUEST (32 * 1024 * 1024)

static int
read_from_nbd (struct ow_base *b, void *buf, uint64_t count, uint64_t offset)
{
  int slot, r = 0;
  struct nbd_handle *h = take_handle (b, &slot);

  while (count && r == 0) {
    uint64_t n = count < NBD_MAX_REQUEST ? count : NBD_MAX_REQUEST;
    r = ow_libnbd.pread (h, buf, n, offset, 0);
    buf = (char *) buf + n;
    offset += n;
    count -= n;
  }
  if (r == -1) {
    errno = ow_libnbd.get_errno () ? ow_libnbd.get_errno () : EIO;
    ow_error ("reading base %s at offset %" PRIu64 ": %s",
              b->name, offset, ow_libnbd.get_error ());
  }
  give_handle (b, slot);
  return r;
}

int
ow_base_pread (struct ow_base *b, void *buf, uint64_t count, uint64_t offset)
{
  if (offset > b->size || count > b->size - offset) {
    errno = EINVAL;
    ow_error ("read of %" PRIu64 " bytes at %" PRIu64 " is past the end of base %s",
              count, offset, b->name);
    return -1;
  }
  if (b->fd < 0)
    return read_from_nbd (b, buf, count, offset);
  if (ow_pread_full (b->fd, buf, count, offset) == -1) {
    ow_error ("reading base %s at offset %" PRIu64 ": %m", b->name, offset);
    return -1;
  }
  return 0;
}

struct extent_walk {
  uint64_t offset, len;
  int64_t run;
  bool hole;
};

static int
extent_cb (void *opaque, const char *metacontext, uint64_t offset,
           uint32_t *entries, size_t nr_entries, int *error)
{
  struct extent_walk *w = opaque;

  if (strcmp (metacontext, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0 || w->run)
    return 0;
  /* Join entries of the same kind that start exactly at w->offset. */
  if (offset != w->offset || nr_entries < 2)
    return 0;
  w->hole = entries[1] & LIBNBD_STATE_ZERO;
  for (size_t i = 0; i + 1 < nr_entries; i += 2) {
    if (((entries[i + 1] & LIBNBD_STATE_ZERO) != 0) != w->hole)
      break;
    w->run += entries[i];
  }
  return 0;
}

void
ow_base_prefetch (struct ow_base *b, uint64_t offset, uint64_t len)
{
  if (b->fd >= 0 && len)
    posix_fadvise (b->fd, offset, len, POSIX_FADV_WILLNEED);
}

int64_t
ow_base_extent (struct ow_base *b, uint64_t offset, uint64_t len, bool *hole)
{
  *hole = false;
  if (len == 0)
    return 0;
  if (b->fd >= 0 && b->seek_hole) {
    off_t data = lseek (b->fd, offset, SEEK_DATA);
    if (data == -1 && errno == ENXIO) {
      *hole = true;             /* only a hole up to the end */
      return len;
    }
    if (data == -1)
      return len;               /* no SEEK_DATA here: all data */
    if ((uint64_t) data > offset) {
      *hole = true;
      return (uint64_t) data - offset < len ? (uint64_t) data - offset : len;
    }
    off_t h = lseek (b->fd, offset, SEEK_HOLE);
    if (h == -1 || (uint64_t) h <= offset)
      return len;
    return (uint64_t) h - offset < len ? (uint64_t) h - offset : len;
  }
  if (b->fd < 0 && b->nbd_allocation) {
    struct extent_walk w = { .offset = offset, .len = len };
    int slot;
    struct nbd_handle *h = take_handle (b, &slot);
    uint64_t n = len < NBD_MAX_REQUEST ? len : NBD_MAX_REQUEST;
    int r = ow_libnbd.block_status (h, n, offset,
                              (nbd_extent_callback) { .callback = extent_cb,
                                                      .user_data = &w }, 0);
    give_handle (b, slot);
    if (r == 0 && w.run > 0) {
      *hole = w.hole;
      return (uint64_t) w.run < len ? (uint64_t) w.run : len;
    }
  }
  return len;
}
