/* oneway: the overlay engine, shared by the plugin and the merge tool.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * An overlay is one file holding the SEE's writes to a base disk as
 * an append-only log of checksummed records (docs/overlay-format.md),
 * plus the read set.  This is the only code that reads or writes that
 * format.
 */
#ifndef ONEWAY_OVERLAY_H
#define ONEWAY_OVERLAY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "oneway/format.h"

struct ow_overlay;

/* The overlay file as the engine sees it.  The default is a plain file;
 * tests substitute one that can fail or "lose power" at any write. */
struct ow_file_ops {
  int (*pread) (void *h, void *buf, size_t count, uint64_t offset);
  int (*pwritev) (void *h, const struct iovec *iov, int iovcnt, uint64_t offset);
  int (*sync) (void *h);
  int (*truncate) (void *h, uint64_t size);
  int (*size) (void *h, uint64_t *size);
};

struct ow_open_params {
  const char *overlay;          /* path (or a label when ops is set) */
  const char *base;             /* NULL: the one named in the header */
  bool writable;                /* exclusive; creates the overlay if missing */
  bool no_base;                 /* read-only tools that need no base data */
  /* A tool working on the SEE's state for the user (oneway-merge
   * recover): compression and read tracking stay as the header records
   * them, and the tool's own reads are not the SEE's read set. */
  bool for_tool;
  uint32_t block_size;          /* 0: 4096 for a new overlay, else must match */
  int compress;                 /* enum ow_compress, or -1 for lz4 */
  int track_reads;              /* 0, 1, or -1 for yes */
  uint64_t max_size;            /* 0: unlimited */
  const struct ow_file_ops *ops; /* NULL: the file at overlay */
  void *ops_handle;
};

int ow_open (const struct ow_open_params *p, struct ow_overlay **out);

/* Flush, write the index checkpoint, mark clean, release the lock.
 * Returns -1 if any of that failed (the data is still safe: the next
 * open recovers from the log). */
int ow_close (struct ow_overlay *ov);

/* The SEE view.  All are thread-safe and may run in parallel. */
uint64_t ow_size (const struct ow_overlay *ov);
uint32_t ow_block_size (const struct ow_overlay *ov);
int ow_pread (struct ow_overlay *ov, void *buf, uint64_t count, uint64_t offset);
int ow_pwrite (struct ow_overlay *ov, const void *buf, uint64_t count,
               uint64_t offset, bool fua);
/* Zero and trim are the same for us: the range reads back as zeroes. */
int ow_zero (struct ow_overlay *ov, uint64_t count, uint64_t offset, bool fua);
int ow_flush (struct ow_overlay *ov);

/* Hints that a range of a view will be read soon, so that the reads
 * of a cold cache overlap instead of waiting one by one: the base's
 * blocks are asked of the base, stored blocks of the overlay file. */
void ow_prefetch (struct ow_overlay *ov, uint64_t count, uint64_t offset);
void ow_base_view_prefetch (struct ow_overlay *ov, uint64_t count, uint64_t offset);

/* The base view: the base alone, as the SEE found it.  Needs the base
 * (not opened with no_base); not counted in the read set. */
int ow_base_view_pread (struct ow_overlay *ov, void *buf, uint64_t count,
                        uint64_t offset);

/* Describe [offset, offset + count) as extents; fn is called in order
 * with runs that are data or read as zeroes (hole). */
int ow_extents (struct ow_overlay *ov, uint64_t count, uint64_t offset,
                int (*fn) (void *opaque, uint64_t offset, uint64_t length,
                           bool hole),
                void *opaque);

/* Is name (NULL: the base named in the header) the base this overlay
 * was made for?  1 yes; 0 no, and *why (malloc'ed) says how it differs;
 * -1 it cannot be read (reported through ow_error). */
int ow_check_base (struct ow_overlay *ov, const char *name, char **why);

/* What the merge tool reports. */
struct ow_info {
  struct ow_header header;      /* as found when opened */
  bool was_clean;               /* closed cleanly before this open */
  bool used_checkpoint;         /* index came from the checkpoint */
  uint64_t file_size;
  uint64_t log_end;             /* end of the last good record */
  uint64_t torn_bytes;          /* after log_end: dropped by recovery */
  uint64_t live_bytes;          /* stored data the index still uses */
  uint64_t data_blocks;         /* blocks with stored data */
  uint64_t zero_blocks;         /* blocks that read as zeroes */
  uint64_t written_blocks;      /* data + zero: the written set */
  uint64_t read_blocks;         /* the read set */
  uint64_t index_memory;
  uint32_t commit_records;      /* in the chain now (ow_commit_records) */
};

int ow_get_info (struct ow_overlay *ov, struct ow_info *info);

/* The written set and the read set as sorted, merged ranges of blocks. */
int ow_written_ranges (struct ow_overlay *ov,
                       int (*fn) (void *opaque, uint64_t first, uint64_t count),
                       void *opaque);
int ow_read_ranges (struct ow_overlay *ov,
                    int (*fn) (void *opaque, uint64_t first, uint64_t count),
                    void *opaque);

/* Commit records: what `oneway-merge commit` applied, kept in the
 * overlay (the payload is the tool's, opaque to the engine; at most
 * OW_COMMIT_RECORD_MAX bytes).  Appending needs an overlay opened for
 * writing; the record is durable (synced, and the header points at it)
 * when 0 is returned.  -1 with errno (EIO after a failed sync, which
 * breaks the overlay like any other; EROFS opened read-only; EFBIG over
 * max-overlay-size; EINVAL len 0 or > OW_COMMIT_RECORD_MAX).  After -1
 * the record may or may not be in the chain, as after a crash during
 * the append: the caller finds out with ow_commit_records, after
 * reopening if the overlay broke.  Appends are serialized; they may
 * run alongside writes and flushes. */
int ow_append_commit_record (struct ow_overlay *ov, const void *payload, uint32_t len);

/* Every commit record, oldest first: fn gets each payload (valid only
 * during the call); a non-zero return from fn stops and is returned.
 * The whole chain is checked before fn is first called: -1 with errno
 * (EBADMSG, and an ow_error message naming the overlay and the offset)
 * if it is damaged, and fn is not called. */
int ow_commit_records (struct ow_overlay *ov,
                       int (*fn) (void *opaque, const void *payload, uint32_t len),
                       void *opaque);

/* For tests and debugging: a block's kind, 'b'ase, 'z'ero or 'd'ata,
 * and for data where its stored bytes are in the file. */
char ow_block_kind (struct ow_overlay *ov, uint64_t block);
int ow_block_where (struct ow_overlay *ov, uint64_t block, uint64_t *offset,
                    uint32_t *length);

#endif
