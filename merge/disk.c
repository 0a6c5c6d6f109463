/* oneway-merge: the two views as disks that libext2fs can read.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "oneway/error.h"
#include "oneway/overlay.h"

static int
base_view_pread (void *h, void *buf, uint64_t count, uint64_t offset)
{
  return ow_base_view_pread (h, buf, count, offset);
}

static int
see_view_pread (void *h, void *buf, uint64_t count, uint64_t offset)
{
  return ow_pread (h, buf, count, offset);
}

static int
see_view_pwrite (void *h, const void *buf, uint64_t count, uint64_t offset)
{
  return ow_pwrite (h, buf, count, offset, false);
}

static int
see_view_flush (void *h)
{
  return ow_flush (h);
}

static void
base_view_prefetch (void *h, uint64_t count, uint64_t offset)
{
  ow_base_view_prefetch (h, count, offset);
}

static void
see_view_prefetch (void *h, uint64_t count, uint64_t offset)
{
  ow_prefetch (h, count, offset);
}

void
disk_base_view (struct ow_overlay *ov, struct disk *d)
{
  *d = (struct disk) { .label = "base view", .size = ow_size (ov), .h = ov,
                       .pread = base_view_pread, .prefetch = base_view_prefetch };
}

void
disk_see_view (struct ow_overlay *ov, bool writable, struct disk *d)
{
  *d = (struct disk) { .label = "SEE view", .size = ow_size (ov), .h = ov,
                       .pread = see_view_pread, .prefetch = see_view_prefetch };
  if (writable) {
    d->pwrite = see_view_pwrite;
    d->flush = see_view_flush;
  }
}

struct memory {
  const uint8_t *buf;
};

static int
memory_pread (void *h, void *buf, uint64_t count, uint64_t offset)
{
  memcpy (buf, (const uint8_t *) h + offset, count);
  return 0;
}

void
disk_memory (const void *buf, uint64_t len, const char *label, struct disk *d)
{
  *d = (struct disk) { .label = label, .size = len, .h = (void *) buf,
                       .pread = memory_pread };
}

void
disk_window (const struct disk *parent, uint64_t start, uint64_t size,
             struct disk *child)
{
  *child = *parent;
  child->start = parent->start + start;
  child->size = size;
}

static bool
inside (const struct disk *d, uint64_t count, uint64_t offset)
{
  return offset <= d->size && count <= d->size - offset;
}

/* A request past the end is refused with a message: callers check
 * block numbers, so this is the last guard, not the first. */
static bool
request_inside (const struct disk *d, const char *what, uint64_t count, uint64_t offset)
{
  if (inside (d, count, offset))
    return true;
  errno = EIO;
  ow_error ("%s: %s of %llu bytes at %llu is past its end (%llu bytes)", d->label, what,
            (unsigned long long) count, (unsigned long long) offset,
            (unsigned long long) d->size);
  return false;
}

int
disk_pread (const struct disk *d, void *buf, uint64_t count, uint64_t offset)
{
  if (!request_inside (d, "read", count, offset))
    return -1;
  return count ? d->pread (d->h, buf, count, d->start + offset) : 0;
}

int
disk_pwrite (const struct disk *d, const void *buf, uint64_t count, uint64_t offset)
{
  if (!d->pwrite) {
    errno = EROFS;
    ow_error ("%s is read-only here", d->label);
    return -1;
  }
  if (!request_inside (d, "write", count, offset))
    return -1;
  return count ? d->pwrite (d->h, buf, count, d->start + offset) : 0;
}

void
disk_prefetch (const struct disk *d, uint64_t count, uint64_t offset)
{
  if (d->prefetch && inside (d, count, offset))
    d->prefetch (d->h, count, d->start + offset);
}

/* The I/O manager.  ext2fs_open2 takes a name, not a handle, so disks
 * are registered under names of their own; a handful is all a command
 * ever has open at once. */
#define DISK_SLOTS 16
static struct {
  struct disk *d;
  char name[32];
} registry[DISK_SLOTS];

const char *
disk_io_name (struct disk *d)
{
  int free_slot = -1;

  for (int i = 0; i < DISK_SLOTS; i++) {
    if (registry[i].d == d)
      return registry[i].name;
    if (!registry[i].d && free_slot == -1)
      free_slot = i;
  }
  if (free_slot == -1)
    abort ();                   /* a programming error, not bad input */
  registry[free_slot].d = d;
  snprintf (registry[free_slot].name, sizeof registry[free_slot].name,
            "oneway-disk:%d", free_slot);
  return registry[free_slot].name;
}

static struct disk *
lookup (const char *name)
{
  for (int i = 0; i < DISK_SLOTS; i++)
    if (registry[i].d && strcmp (registry[i].name, name) == 0)
      return registry[i].d;
  return NULL;
}

static errcode_t
dio_open (const char *name, int flags, io_channel *channel)
{
  struct disk *d = lookup (name);
  io_channel io;

  if (!d)
    return EXT2_ET_BAD_DEVICE_NAME;
  if ((flags & IO_FLAG_RW) && !d->pwrite)
    return EROFS;
  io = calloc (1, sizeof *io);
  if (!io || !(io->name = strdup (name))) {
    free (io);
    return EXT2_ET_NO_MEMORY;
  }
  io->magic = EXT2_ET_MAGIC_IO_CHANNEL;
  io->manager = disk_io_manager;
  io->block_size = 1024;
  io->refcount = 1;
  io->private_data = d;
  *channel = io;
  return 0;
}

static errcode_t
dio_close (io_channel io)
{
  if (--io->refcount > 0)
    return 0;
  free (io->name);
  free (io);
  return 0;
}

static errcode_t
dio_set_blksize (io_channel io, int blksize)
{
  io->block_size = blksize;
  return 0;
}

/* count < 0 means -count bytes, as in unix_io. */
static uint64_t
byte_count (io_channel io, int count)
{
  return count < 0 ? (uint64_t) -(int64_t) count : (uint64_t) count * io->block_size;
}

static errcode_t
dio_read_blk64 (io_channel io, unsigned long long block, int count, void *data)
{
  struct disk *d = io->private_data;
  uint64_t n = byte_count (io, count);

  if (block > UINT64_MAX / io->block_size || !inside (d, n, block * io->block_size)) {
    /* Not an error message of ours: libext2fs reports it, and a
     * crafted filesystem points outside the disk on purpose. */
    memset (data, 0, n);
    return EXT2_ET_SHORT_READ;
  }
  if (d->pread (d->h, data, n, d->start + block * io->block_size) == -1)
    return errno ? errno : EIO;
  return 0;
}

static errcode_t
dio_read_blk (io_channel io, unsigned long block, int count, void *data)
{
  return dio_read_blk64 (io, block, count, data);
}

static errcode_t
dio_write_blk64 (io_channel io, unsigned long long block, int count, const void *data)
{
  struct disk *d = io->private_data;
  uint64_t n = byte_count (io, count);

  if (block > UINT64_MAX / io->block_size || !inside (d, n, block * io->block_size))
    return EXT2_ET_SHORT_WRITE;
  if (disk_pwrite (d, data, n, block * io->block_size) == -1)
    return errno ? errno : EIO;
  return 0;
}

static errcode_t
dio_write_blk (io_channel io, unsigned long block, int count, const void *data)
{
  return dio_write_blk64 (io, block, count, data);
}

static errcode_t
dio_write_byte (io_channel io, unsigned long offset, int count, const void *data)
{
  struct disk *d = io->private_data;

  if (count < 0 || !inside (d, count, offset))
    return EXT2_ET_SHORT_WRITE;
  if (disk_pwrite (d, data, count, offset) == -1)
    return errno ? errno : EIO;
  return 0;
}

static errcode_t
dio_flush (io_channel io)
{
  struct disk *d = io->private_data;

  if (d->flush && d->flush (d->h) == -1)
    return errno ? errno : EIO;
  return 0;
}

static errcode_t
dio_set_option (io_channel io, const char *option, const char *arg)
{
  (void) io; (void) option; (void) arg;
  return EXT2_ET_INVALID_ARGUMENT;
}

static struct struct_io_manager disk_io_manager_struct = {
  .magic = EXT2_ET_MAGIC_IO_MANAGER,
  .name = "oneway disk I/O manager",
  .open = dio_open,
  .close = dio_close,
  .set_blksize = dio_set_blksize,
  .read_blk = dio_read_blk,
  .write_blk = dio_write_blk,
  .flush = dio_flush,
  .write_byte = dio_write_byte,
  .set_option = dio_set_option,
  .read_blk64 = dio_read_blk64,
  .write_blk64 = dio_write_blk64,
};

io_manager disk_io_manager = &disk_io_manager_struct;
