/* oneway-merge: what a disk holds.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#ifndef ONEWAY_MERGE_PROBE_H
#define ONEWAY_MERGE_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "disk.h"

struct probe {
  bool ext;                     /* an ext2/3/4 filesystem was found */
  char fstype[16];              /* "ext4", "xfs", … or "" if nothing known */
  char what[256];               /* for people: what was found, and where */
  int partition;                /* 0: the whole disk, else its number */
  uint64_t offset, size;        /* the filesystem's bytes on the disk */
};

/* Look at d: a filesystem on the whole disk, or an MBR or GPT
 * partition table and what its partitions hold.  partition > 0 picks
 * that partition; 0 takes the only ext partition there is.  Returns 0
 * (p->ext says whether an ext filesystem was found; p->what says what
 * was), or -1 with an error: the disk cannot be read, the partition
 * asked for does not exist, or several ext partitions leave a choice. */
int probe_disk (const struct disk *d, int partition, struct probe *p);

#endif
