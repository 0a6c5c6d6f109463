/* oneway-merge: the two views as disks that libext2fs can read.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * A disk is a byte range of some source: the base view (S0), the SEE
 * view (S1), or memory (tests, the fuzz target).  A partition is a
 * disk too: a window into its parent.  libext2fs reads a disk through
 * disk_io_manager, so nothing is mounted and nothing needs a device.
 */
#ifndef ONEWAY_MERGE_DISK_H
#define ONEWAY_MERGE_DISK_H

#include <stdbool.h>
#include <stdint.h>

#include <ext2fs/ext2fs.h>

struct ow_overlay;

struct disk {
  const char *label;            /* "base view", "SEE view": for messages */
  uint64_t start, size;         /* the window, in bytes of the source */
  void *h;
  int (*pread) (void *h, void *buf, uint64_t count, uint64_t offset);
  /* NULL for a read-only disk. */
  int (*pwrite) (void *h, const void *buf, uint64_t count, uint64_t offset);
  int (*flush) (void *h);
  /* A hint that a range will be read soon; NULL: no hints. */
  void (*prefetch) (void *h, uint64_t count, uint64_t offset);
};

/* S0 and S1 of an overlay.  S1 is writable only if the overlay was
 * opened for writing (oneway-merge recover). */
void disk_base_view (struct ow_overlay *ov, struct disk *d);
void disk_see_view (struct ow_overlay *ov, bool writable, struct disk *d);
/* A read-only disk over len bytes of memory. */
void disk_memory (const void *buf, uint64_t len, const char *label, struct disk *d);
/* child = [start, start + size) of parent (in parent's coordinates). */
void disk_window (const struct disk *parent, uint64_t start, uint64_t size,
                  struct disk *child);

/* Reads inside the window only; past the end is an error (EIO). */
int disk_pread (const struct disk *d, void *buf, uint64_t count, uint64_t offset);
int disk_pwrite (const struct disk *d, const void *buf, uint64_t count,
                 uint64_t offset);
/* Cold caches make each small read wait for the device; hinting a
 * batch of reads first lets the device work on them together. */
void disk_prefetch (const struct disk *d, uint64_t count, uint64_t offset);

/* libext2fs access: pass disk_io_manager and the name returned here
 * (valid while d lives) to ext2fs_open2. */
extern io_manager disk_io_manager;
const char *disk_io_name (struct disk *d);

#endif
