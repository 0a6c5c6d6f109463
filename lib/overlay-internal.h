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
#include "oneway/test-hooks.h"

/* Appends in progress.  A flush must not sync while a record below its
 * point is still being written, or a crash could leave a torn record
 * in front of a flushed one and recovery, which stops at the first bad
 * record, would drop the flushed one.  Each append holds an entry with
 * a lower bound of its offset; a flush waits until every entry is free
 * or above its point.  No lock: see log.c. */
#define OW_INFLIGHT_MAX 256
#define OW_INFLIGHT_FREE UINT64_MAX
struct ow_inflight {
  _Atomic uint64_t start;
  char pad[56];
};

/* Stripe locks order updates of a block: a writer holds the stripes of
 * its blocks (exclusively) from logging its record to applying it in
 * the index, so the index applies updates in log order; a reader of
 * stored data holds the stripe (shared) while it reads a slot, so the
 * slot cannot be reused under it.  A stripe covers groups of 16 blocks
 * (readers of a long run take few locks), groups spread over the locks
 * by number. */
#define OW_STRIPE_SHIFT 4
#define OW_STRIPES 4096

/* Slots for raw blocks (slots.c). */
#define OW_EXTENT_BYTES (1024 * 1024)
#define OW_SLOT_POOLS 8

struct ow_slot_check {          /* used by recovery only */
  uint32_t crc;
  uint64_t pos;                 /* of the record that wrote the slot last */
};

struct ow_extent {
  uint64_t offset;              /* of its first slot */
  uint32_t nslots;
  _Atomic uint32_t *tag;        /* per slot: epoch of the record that wrote it */
  struct ow_slot_check *check;
};

struct ow_pending_slot {
  uint64_t slot;
  uint32_t free_at;             /* durable epoch that frees it */
};

struct ow_slot_pool {
  pthread_mutex_t lock;
  uint64_t *fifo;               /* free slots, reused in the order freed */
  size_t head, count, cap;
  uint64_t fresh, fresh_end;    /* never used slots of the newest extent */
  uint64_t next_extent;         /* bytes of the pool's next extent */
  struct ow_pending_slot *pending;
  size_t npending, pcap;
} __attribute__((aligned (64)));

struct ow_overlay {
  char *path;
  const struct ow_file_ops *ops;
  void *ops_handle;
  int fd;                       /* the default backend's file, else -1 */
  bool writable;

  struct ow_header header;      /* latest written; guarded by flush_lock */
  bool header_unsynced;         /* it may not be on the disk yet (flush_lock) */
  struct ow_header opened_header;
  uint32_t salt;                /* seeds record CRCs: from the uuid */
  uint32_t block_size;
  unsigned block_shift;
  uint64_t size;                /* of the base, and of the view */
  uint64_t nblocks;
  struct ow_base *base;
  enum ow_compress compress;
  bool track_reads;
  bool reads_untracked;         /* a tool reads, not the SEE (for_tool) */
  uint64_t max_size;
  uint64_t headroom;            /* kept free of data for read-set records */

  struct ow_index index;
  struct ow_sbitmap readset;    /* every base block served to the SEE */
  struct ow_sbitmap pending;    /* of those, the ones not logged yet */
  _Atomic uint64_t read_seq, logged_seq;  /* see ow_log_reads */
  _Atomic uint64_t readset_end; /* end of the last read-set record logged */
  pthread_mutex_t readset_lock;
  atomic_bool read_all;         /* the read set is "everything" */

  _Atomic uint64_t tail;        /* where the next record goes */
  struct ow_inflight *inflight;
  pthread_mutex_t flush_lock;
  atomic_bool broken;           /* a log write or a sync failed: see ow_file_sync */
  pthread_rwlock_t *stripes;
  _Atomic uint32_t epoch;       /* flushes: odd while one runs */
  uint32_t durable_epoch;       /* end of the last flush that succeeded */

  struct ow_slot_pool *pools;
  struct ow_extent **extent_chunks;
  _Atomic size_t nextents;
  pthread_mutex_t extent_lock;

  /* Commit records: appended one at a time, under commit_lock; the
   * chain's head is header.last_commit, its length commit_count, both
   * guarded by flush_lock. */
  pthread_mutex_t commit_lock;
  uint32_t commit_count;

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
int ow_log_append_extent (struct ow_overlay *ov, uint32_t nslots, uint64_t *offset);
int ow_write_header (struct ow_overlay *ov);
int ow_log_reads (struct ow_overlay *ov, bool flushing);
int ow_append_readset (struct ow_overlay *ov);

/* recovery.c: rebuilding the index from the file. */
int ow_load (struct ow_overlay *ov);

/* checkpoint.c */
int ow_write_checkpoint (struct ow_overlay *ov);
int ow_load_checkpoint (struct ow_overlay *ov);

/* slots.c */
int ow_slots_init (struct ow_overlay *ov);
void ow_slots_free (struct ow_overlay *ov);
struct ow_extent *ow_slots_find (struct ow_overlay *ov, uint64_t slot, uint32_t *index);
int ow_slots_add_extent (struct ow_overlay *ov, uint64_t offset, uint32_t nslots);
int ow_slots_take (struct ow_overlay *ov, uint32_t n, uint64_t *slots);
void ow_slots_put_back (struct ow_overlay *ov, uint32_t n, const uint64_t *slots);
void ow_slots_written (struct ow_overlay *ov, uint32_t n, const uint64_t *slots, uint32_t tag);
void ow_slots_superseded (struct ow_overlay *ov, uint64_t slot, uint32_t new_tag);
void ow_slots_flush_done (struct ow_overlay *ov, uint32_t durable_epoch);
int ow_slots_rebuild_free (struct ow_overlay *ov);
uint64_t ow_slots_count (struct ow_overlay *ov, uint64_t *free_slots);
int ow_slots_for_each_extent (struct ow_overlay *ov,
                              int (*fn) (void *opaque, struct ow_extent *e),
                              void *opaque);

/* Record payload helpers shared by the writer and the reader. */
int ow_apply_readset_payload (struct ow_overlay *ov, const uint8_t *p, size_t len,
                              uint32_t count, bool whole);

/* Per-thread scratch buffers, grown on demand. */
enum { OW_SCRATCH_BLOCK, OW_SCRATCH_LZ4, OW_SCRATCH_DESC, OW_SCRATCH_IOV,
       OW_SCRATCH_SLOTS, OW_SCRATCH_N };
void *ow_scratch (int which, size_t len);

/* Whole-file I/O through the backend. */
int ow_file_pread (struct ow_overlay *ov, void *buf, size_t count, uint64_t offset);
int ow_file_pwritev (struct ow_overlay *ov, const struct iovec *iov, int n, uint64_t offset);
int ow_file_sync (struct ow_overlay *ov);

#endif
