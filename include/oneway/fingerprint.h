/* oneway: the base's content fingerprint (promise 6).
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#ifndef ONEWAY_FINGERPRINT_H
#define ONEWAY_FINGERPRINT_H

#include <stdint.h>

#include "oneway/base.h"
#include "oneway/format.h"

/* SHA-256 over the size and a fixed sample of the content: the first
 * and last MiB (partition tables, superblocks, backup GPT), and 62
 * slices of 64 KiB spread evenly between.  About 6 MiB per open, for
 * any size of disk.  It tells disks apart and notices a filesystem that
 * was mounted and changed (its superblock changes), but a change that
 * misses every sample goes unnoticed: it is a check against mistakes,
 * not against an adversary, who could not reach the base anyway. */
int ow_base_fingerprint (struct ow_base *b, uint8_t fp[OW_FINGERPRINT_SIZE]);

#endif
