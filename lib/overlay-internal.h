/* oneway: what the overlay engine's files share; not for other users.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#ifndef ONEWAY_OVERLAY_INTERNAL_H
#define ONEWAY_OVERLAY_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "oneway/base.h"
#include "oneway/format.h"
#include "oneway/index.h"
#include "oneway/overlay.h"
#include "oneway/sbitmap.h"

/* Appends in progress.  A flush must not sync while a record below its
 * point is still being written, or a crash could leave a torn record
 * in front of a flushed one and recovery, which stops at the first bad
 * record, would drop the flushed one.  Each append holds a slot with a
 * lower bound of its offset; a flush waits until every slot is free or
 * above its point.  No lock: see log.c. */
#define OW_INFLIGHT_SLOTS 256
#define OW_SLOT_FREE UINT64_MAX
struct ow_inflight_slot {
  _Atomic uint64_t start;
  char pad[56];
};

/* Partial-block writes read, modify and write a block; two of them on
 * one block must not interleave.  Striped by block number. */
#define OW_RMW_LOCKS 64

struct ow_overlay {
  char *path;
  const struct ow_file_ops *ops;
  void *ops_handle;
  int fd;                       /* the default backend's file, else -1 */
  bool writable;

  struct ow_header header;      /* latest written; guarded by flush_lock */
  struct ow_header opened_header;
  uint32_t salt;                /* seeds record CRCs: from the uuid */
  uint32_t block_size;
  unsigned block_shift;
  uint64_t size;                /* of the base, and of the view */
  uint64_t nblocks;
  struct ow_base *base;
  enum ow_compress compress;
  bool track_reads;
  uint64_t max_size;
  uint64_t headroom;            /* kept free of data for read-set records */

  struct ow_index index;
  struct ow_sbitmap readset;    /* every base block served to the SEE */
  struct ow_sbitmap pending;    /* of those, the ones not logged yet */
  _Atomic uint64_t read_seq, logged_seq;  /* see ow_log_reads */
  pthread_mutex_t readset_lock;
  atomic_bool read_all;         /* the read set is "everything" */

  _Atomic uint64_t tail;        /* where the next record goes */
  struct ow_inflight_slot *inflight;
  pthread_mutex_t flush_lock;
  atomic_bool broken;           /* a log write failed beyond repair */
  pthread_mutex_t rmw_lock[OW_RMW_LOCKS];

  /* Found when opening. */
  bool was_clean, used_checkpoint;
  uint64_t file_size_at_open, torn_bytes;
};

/* log.c: appending records. */
int ow_log_append (struct ow_overlay *ov, const struct ow_record *rec,
                   const uint8_t *extra, size_t extra_len,
                   const struct iovec *data, int ndata, bool metadata,
                   uint64_t *offset);
int ow_log_wait_below (struct ow_overlay *ov, uint64_t point);
int ow_write_header (struct ow_overlay *ov);
int ow_log_reads (struct ow_overlay *ov, bool flushing, uint64_t *end);
int ow_append_readset (struct ow_overlay *ov, uint64_t *end);

/* recovery.c: rebuilding the index from the file. */
int ow_load (struct ow_overlay *ov);

/* checkpoint.c */
int ow_write_checkpoint (struct ow_overlay *ov);
int ow_load_checkpoint (struct ow_overlay *ov);

/* Record payload helpers shared by the writer and the reader. */
int ow_apply_readset_payload (struct ow_overlay *ov, const uint8_t *p, size_t len,
                              uint32_t count, bool whole);

/* Per-thread scratch buffers, grown on demand. */
enum { OW_SCRATCH_BLOCK, OW_SCRATCH_LZ4, OW_SCRATCH_DESC, OW_SCRATCH_IOV,
       OW_SCRATCH_N };
void *ow_scratch (int which, size_t len);

/* Whole-file I/O through the backend. */
int ow_file_pread (struct ow_overlay *ov, void *buf, size_t count, uint64_t offset);
int ow_file_pwritev (struct ow_overlay *ov, const struct iovec *iov, int n, uint64_t offset);
int ow_file_sync (struct ow_overlay *ov);

#endif
