/* oneway: small helpers shared by the library and the programs.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#ifndef ONEWAY_UTIL_H
#define ONEWAY_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Whole reads and writes: loop over short transfers and EINTR.  A read
 * that meets end of file fails with EIO. */
int ow_pread_full (int fd, void *buf, size_t count, uint64_t offset);
int ow_pwrite_full (int fd, const void *buf, size_t count, uint64_t offset);
int ow_pwritev_full (int fd, struct iovec *iov, int iovcnt, uint64_t offset);

/* name made absolute against the current directory, without resolving
 * symlinks (an LVM path stays an LVM path).  Caller frees. */
char *ow_absolute_path (const char *name);

/* Make the array *ptr (of *cap items of elem bytes) hold at least
 * need items, doubling its capacity as it grows.  0, or -1 (ENOMEM)
 * with *ptr and *cap unchanged.  ptr is the address of the array's
 * pointer, whatever its type. */
int ow_grow_array (void *ptr, size_t *cap, size_t need, size_t elem);

/* "1.5 GiB" style, into buf of at least 16 bytes. */
const char *ow_human_size (uint64_t bytes, char *buf, size_t len);

/* Parse "4096", "64K", "10G" and the like; -1 on junk. */
int64_t ow_parse_size (const char *s);

/* Process holding a flock on the file, read from /proc/locks; 0 if
 * none is found. */
pid_t ow_lock_holder (int fd);

/* The command name of a process, into buf; "?" if it is gone. */
const char *ow_process_name (pid_t pid, char *buf, size_t len);

static inline uint64_t
ow_min64 (uint64_t a, uint64_t b)
{
  return a < b ? a : b;
}

#endif
