/* oneway: appending records to the overlay log.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * Appenders reserve space by compare-and-swap on the tail, so parallel
 * writers never wait for each other; each also holds an in-flight entry
 * while it writes, which is all a flush needs to know to sync only a
 * complete prefix of the log.
 *
 * Why the in-flight protocol is sound: an appender publishes a lower
 * bound L (the tail it saw) in a free entry, then reserves at or above
 * L.  A flush reads the tail T, then scans the entries.  If the scan
 * missed the appender's entry, the entry was filled after the scan,
 * hence after T was read, so the reservation (made later still, all
 * operations being sequentially consistent) starts at or above T and
 * does not concern this flush.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <lz4.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "oneway/crc32c.h"
#include "oneway/error.h"
#include "overlay-internal.h"

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

struct scratch {
  void *p[OW_SCRATCH_N];
  size_t len[OW_SCRATCH_N];
};

static void
scratch_free (void *v)
{
  struct scratch *s = v;
  for (int i = 0; i < OW_SCRATCH_N; i++)
    free (s->p[i]);
  free (s);
}

static void
scratch_init (void)
{
  pthread_key_create (&scratch_key, scratch_free);
}

void *
ow_scratch (int which, size_t len)
{
  struct scratch *s;

  pthread_once (&scratch_once, scratch_init);
  s = pthread_getspecific (scratch_key);
  if (!s) {
    s = calloc (1, sizeof *s);
    if (!s || pthread_setspecific (scratch_key, s) != 0) {
      free (s);
      errno = ENOMEM;
      return NULL;
    }
  }
  if (s->len[which] < len) {
    void *p = malloc (len);
    if (!p) {
      errno = ENOMEM;
      return NULL;
    }
    free (s->p[which]);
    s->p[which] = p;
    s->len[which] = len;
  }
  return s->p[which];
}

int
ow_file_pread (struct ow_overlay *ov, void *buf, size_t count, uint64_t offset)
{
  return ov->ops->pread (ov->ops_handle, buf, count, offset);
}

int
ow_file_pwritev (struct ow_overlay *ov, const struct iovec *iov, int n, uint64_t offset)
{
  return ov->ops->pwritev (ov->ops_handle, iov, n, offset);
}

/* A failed sync stops the overlay for good.  The kernel may have
 * dropped the dirty pages that failed to reach the disk and marked them
 * clean, so a later sync can succeed over data that is not there: a
 * flush after it would declare records durable that never reached the
 * disk (PostgreSQL learnt this in 2018).  Only reopening, which
 * recovers from what the disk really holds, makes it writable again. */
int
ow_file_sync (struct ow_overlay *ov)
{
  if (ov->ops->sync (ov->ops_handle) == 0) {
    ov->header_unsynced = false;
    return 0;
  }
  atomic_store (&ov->broken, true);
  return -1;
}

static _Thread_local unsigned inflight_hint;

static struct ow_inflight *
claim_inflight (struct ow_overlay *ov)
{
  unsigned i = inflight_hint % OW_INFLIGHT_MAX;

  for (;;) {
    for (unsigned n = 0; n < OW_INFLIGHT_MAX; n++, i = (i + 1) % OW_INFLIGHT_MAX) {
      uint64_t expected = OW_INFLIGHT_FREE;
      uint64_t lower = atomic_load (&ov->tail);
      if (atomic_load_explicit (&ov->inflight[i].start, memory_order_relaxed) == OW_INFLIGHT_FREE
          && atomic_compare_exchange_strong (&ov->inflight[i].start, &expected, lower)) {
        inflight_hint = i;
        return &ov->inflight[i];
      }
    }
    sched_yield ();             /* more appenders than entries: rare */
  }
}

/* How far the log may grow: max-overlay-size (data must leave the
 * headroom to metadata), and the 46 bits of offset of a location. */
static bool
fits (struct ow_overlay *ov, uint64_t cur, uint64_t len, bool metadata)
{
  uint64_t limit = OW_LOC_MAX_OFFSET;

  if (ov->max_size && ov->max_size - (metadata ? 0 : ov->headroom) < limit)
    limit = ov->max_size - (metadata ? 0 : ov->headroom);
  if (cur <= limit && len <= limit - cur)
    return true;
  if (limit == OW_LOC_MAX_OFFSET)
    ow_error ("overlay %s has reached the format's limit of 64 TiB; "
              "start a new one", ov->path);
  errno = ENOSPC;
  return false;
}

static int
reserve (struct ow_overlay *ov, uint64_t len, bool metadata, uint64_t *offset)
{
  uint64_t cur = atomic_load (&ov->tail);

  do {
    if (!fits (ov, cur, len, metadata))
      return -1;
  } while (!atomic_compare_exchange_weak (&ov->tail, &cur, cur + len));
  *offset = cur;
  return 0;
}

/* A failed write leaves a hole that would end recovery's scan there;
 * cover it with a PAD record so the records after it stay reachable.
 * If even that fails the log can no longer be trusted to grow. */
static void
repair_hole (struct ow_overlay *ov, uint64_t offset, uint64_t len)
{
  uint8_t hdr[OW_REC_HDR_SIZE];
  struct ow_record pad = { .type = OW_REC_PAD, .payload_length = len - OW_REC_HDR_SIZE };
  struct iovec iov = { hdr, sizeof hdr };
  int saved = errno;

  ow_record_encode (&pad, ov->salt, hdr);
  if (ow_file_pwritev (ov, &iov, 1, offset) == -1) {
    atomic_store (&ov->broken, true);
    ow_error ("overlay %s: cannot write at offset %" PRIu64 " (%m); "
              "refusing further writes, the data flushed so far is safe",
              ov->path, offset);
  }
  errno = saved;
}

int
ow_log_append (struct ow_overlay *ov, const struct ow_record *rec,
               const uint8_t *extra, size_t extra_len,
               const struct iovec *data, int ndata, bool metadata,
               uint64_t *offset)
{
  static const uint8_t zeroes[OW_REC_ALIGN];
  uint8_t hdr[OW_REC_HDR_SIZE];
  struct iovec stack_iov[64], *iov = stack_iov;
  uint64_t len = ow_record_length (rec->payload_length);
  size_t pad = len - OW_REC_HDR_SIZE - rec->payload_length;
  struct ow_inflight *entry;
  int n = 0, r;

  if (atomic_load_explicit (&ov->broken, memory_order_relaxed)) {
    errno = EIO;
    return -1;
  }
  if (!metadata && ow_log_reads (ov, false) == -1)
    return -1;
  if (ndata + 3 > 64) {
    iov = ow_scratch (OW_SCRATCH_IOV, (ndata + 3) * sizeof *iov);
    if (!iov)
      return -1;
  }
  ow_record_encode (rec, ov->salt, hdr);
  iov[n++] = (struct iovec) { hdr, sizeof hdr };
  if (extra_len)
    iov[n++] = (struct iovec) { (void *) extra, extra_len };
  for (int i = 0; i < ndata; i++)
    iov[n++] = data[i];
  if (pad)
    iov[n++] = (struct iovec) { (void *) zeroes, pad };

  entry = claim_inflight (ov);
  r = reserve (ov, len, metadata, offset);
  if (r == 0) {
    OW_HOOK (OW_HOOK_RESERVED, ov);
    r = ow_file_pwritev (ov, iov, n, *offset);
    if (r == -1) {
      ow_error ("overlay %s: writing %" PRIu64 " bytes at offset %" PRIu64 ": %m",
                ov->path, len, *offset);
      repair_hole (ov, *offset, len);
    }
  }
  atomic_store (&entry->start, OW_INFLIGHT_FREE);
  return r;
}

/* A SLOTS record with nslots slots.  Its header ends on a page
 * boundary, so each slot is page-aligned (a PAD record fills the gap
 * before it), and its last byte is written so that the file covers the
 * extent: recovery takes a SLOTS record the file does not cover for a
 * torn one.  *offset is set to the first slot. */
int
ow_log_append_extent (struct ow_overlay *ov, uint32_t nslots, uint64_t *offset)
{
  static const uint8_t zero;
  uint64_t bytes = (uint64_t) nslots * ov->block_size;
  uint64_t cur = atomic_load (&ov->tail), start, gap, total;
  uint8_t pad_hdr[OW_REC_HDR_SIZE], slots_hdr[OW_REC_HDR_SIZE];
  struct ow_record pad = { .type = OW_REC_PAD };
  struct ow_record rec = { .type = OW_REC_SLOTS, .count = nslots, .payload_length = bytes };
  struct ow_inflight *entry;
  struct iovec iov;
  int r = -1;

  if (atomic_load_explicit (&ov->broken, memory_order_relaxed)) {
    errno = EIO;
    return -1;
  }
  entry = claim_inflight (ov);
  do {
    start = (cur + OW_REC_HDR_SIZE + OW_SLOTS_ALIGN - 1) & ~(uint64_t) (OW_SLOTS_ALIGN - 1);
    gap = start - OW_REC_HDR_SIZE - cur;
    if (gap && gap < OW_REC_HDR_SIZE) {   /* no room for a PAD header */
      start += OW_SLOTS_ALIGN;
      gap += OW_SLOTS_ALIGN;
    }
    total = gap + OW_REC_HDR_SIZE + bytes;
    if (!fits (ov, cur, total, false))
      goto out;
  } while (!atomic_compare_exchange_weak (&ov->tail, &cur, cur + total));
  OW_HOOK (OW_HOOK_RESERVED, ov);

  if (gap) {
    pad.payload_length = gap - OW_REC_HDR_SIZE;
    ow_record_encode (&pad, ov->salt, pad_hdr);
    iov = (struct iovec) { pad_hdr, sizeof pad_hdr };
    if (ow_file_pwritev (ov, &iov, 1, cur) == -1)
      goto fail;
  }
  ow_record_encode (&rec, ov->salt, slots_hdr);
  iov = (struct iovec) { slots_hdr, sizeof slots_hdr };
  if (ow_file_pwritev (ov, &iov, 1, start - OW_REC_HDR_SIZE) == -1)
    goto fail;
  iov = (struct iovec) { (void *) &zero, 1 };
  if (ow_file_pwritev (ov, &iov, 1, start + bytes - 1) == -1)
    goto fail;
  *offset = start;
  r = 0;
  goto out;

 fail:
  ow_error ("overlay %s: writing a slot extent at offset %" PRIu64 ": %m", ov->path, cur);
  repair_hole (ov, cur, total);
 out:
  atomic_store (&entry->start, OW_INFLIGHT_FREE);
  return r;
}

int
ow_log_wait_below (struct ow_overlay *ov, uint64_t point)
{
  for (unsigned i = 0; i < OW_INFLIGHT_MAX; i++) {
    unsigned spins = 0;
    while (atomic_load (&ov->inflight[i].start) < point) {
      if (spins == 0)
        OW_HOOK (OW_HOOK_FLUSH_WAITING, ov);
      if (++spins < 64)
        sched_yield ();
      else
        nanosleep (&(struct timespec) { 0, 50000 }, NULL);
    }
  }
  return 0;
}

/* Write the header to the older of the two slots.  Caller holds
 * flush_lock.  Not synced here: callers sync when they need it.
 *
 * But the newer slot is made durable first if it may not be: a reader
 * whose newest header was torn by a power cut falls back to the other
 * slot, and must find there the header written just before it, not
 * one from further back.  Fields only ever grow (durable_end) for
 * which an older header is merely less precise, but the head of the
 * commit records is not such a field: two generations back, it may
 * lack a record whose append has returned. */
int
ow_write_header (struct ow_overlay *ov)
{
  uint8_t slot[OW_HEADER_SLOT_SIZE];
  struct iovec iov;

  if (ov->header_unsynced && ow_file_sync (ov) == -1) {
    ow_error ("overlay %s: cannot sync before writing its header: %m", ov->path);
    return -1;
  }
  ov->header.generation++;
  ow_header_encode (&ov->header, slot);
  iov = (struct iovec) { slot, OW_HEADER_SLOT_SIZE };
  if (ow_file_pwritev (ov, &iov, 1,
                       (ov->header.generation & 1) * OW_HEADER_SLOT_SIZE) == -1) {
    ow_error ("overlay %s: cannot write header: %m", ov->path);
    return -1;
  }
  ov->header_unsynced = true;
  return 0;
}

/* Read-set records: up to this many leaves each, lz4-compressed. */
#define READSET_BATCH 256
#define READSET_ITEM (8 + OW_SB_LEAF_WORDS * 8)

struct readset_batch {
  struct ow_overlay *ov;
  bool whole;                   /* leaf indexes only (OW_READSET_WHOLE_LEAVES) */
  bool taken;                   /* bits came from ow_sbitmap_take: give back on failure */
  uint8_t *buf;                 /* READSET_BATCH items */
  uint32_t n;
};

static size_t
item_size (const struct readset_batch *b)
{
  return b->whole ? 8 : READSET_ITEM;
}

/* The taken bits of a batch that could not be written go back. */
static void
give_back_batch (struct readset_batch *b)
{
  uint64_t words[OW_SB_LEAF_WORDS];

  for (uint32_t i = 0; i < b->n; i++) {
    const uint8_t *p = b->buf + i * item_size (b);
    if (b->whole)
      memset (words, 0xff, sizeof words);
    else
      for (size_t w = 0; w < OW_SB_LEAF_WORDS; w++)
        words[w] = ow_get_le64 (p + 8 + w * 8);
    ow_sbitmap_give_back (&b->ov->pending, ow_get_le64 (p), words);
  }
}

static int
readset_emit (struct readset_batch *b)
{
  struct ow_overlay *ov = b->ov;
  size_t raw = (size_t) b->n * item_size (b);
  int bound = LZ4_compressBound (raw);
  char *comp = malloc (bound);
  struct ow_record rec = { .type = OW_REC_READSET,
                           .flags = OW_REC_FLAG_LZ4 | (b->whole ? OW_READSET_WHOLE_LEAVES : 0),
                           .count = b->n, .block = raw };
  struct iovec iov;
  uint64_t off, end, seen;
  int clen, r = -1;

  if (b->n == 0) {
    free (comp);
    return 0;
  }
  if (!comp)
    goto out;
  clen = LZ4_compress_default ((const char *) b->buf, comp, raw, bound);
  if (clen <= 0) {
    errno = EIO;
    goto out;
  }
  rec.payload_length = clen;
  rec.payload_crc = ow_crc32c (ov->salt, comp, clen);
  iov = (struct iovec) { comp, clen };
  if (b->taken)
    OW_HOOK (OW_HOOK_READS_TAKEN, ov);
  if (ow_log_append (ov, &rec, NULL, 0, &iov, 1, true, &off) == -1)
    goto out;
  /* A flush covers every read-set record logged before it looked
   * (ow_flush), also those other threads logged after its point. */
  end = off + ow_record_length (clen);
  seen = atomic_load (&ov->readset_end);
  while (seen < end && !atomic_compare_exchange_weak (&ov->readset_end, &seen, end))
    ;
  r = 0;
 out:
  if (r == -1 && b->taken)
    give_back_batch (b);
  b->n = 0;
  free (comp);
  return r;
}

static int
readset_add (void *opaque, size_t leaf, const uint64_t *words)
{
  struct readset_batch *b = opaque;
  uint8_t *p = b->buf + (size_t) b->n * item_size (b);

  ow_put_le64 (p, leaf);
  if (!b->whole)
    for (size_t i = 0; i < OW_SB_LEAF_WORDS; i++)
      ow_put_le64 (p + 8 + i * 8, words[i]);
  b->n++;
  if (b->n == READSET_BATCH && readset_emit (b) == -1)
    return -1;
  return 0;
}

/* Write read-set records: the whole read set (checkpoint), or the new
 * reads taken from the pending set, exactly or as whole leaves. */
enum readset_what { READSET_ALL, READSET_NEW, READSET_NEW_COARSE };

static int
append_readset (struct ow_overlay *ov, enum readset_what what)
{
  struct readset_batch b = { .ov = ov, .whole = what == READSET_NEW_COARSE,
                             .taken = what != READSET_ALL };
  int r;

  b.buf = malloc ((size_t) READSET_BATCH * READSET_ITEM);
  if (!b.buf)
    return -1;
  if (what == READSET_ALL)
    r = ow_sbitmap_for_each_leaf (&ov->readset, readset_add, &b);
  else
    r = ow_sbitmap_take (&ov->pending, readset_add, &b);
  if (r == 0)
    r = readset_emit (&b);
  free (b.buf);
  return r ? -1 : 0;
}

int
ow_append_readset (struct ow_overlay *ov)
{
  return append_readset (ov, READSET_ALL);
}

/* Every write record must follow, in the log, the records of the reads
 * that completed before the write was issued: then no crash can keep a
 * write and lose a read it may depend on (promise 10, also for writes
 * that survive a crash without a flush).  Readers bump read_seq after
 * noting new bits in the pending set; whoever logs them records which
 * bump it covered.  A writer that sees read_seq ahead of logged_seq
 * logs (or waits, on the lock, for the one logging) before it appends:
 * if another thread already took the bits, its record is reserved
 * before the lock is released, so still in front. */
int
ow_log_reads (struct ow_overlay *ov, bool flushing)
{
  uint64_t seen;
  int r = 0;

  if (!ov->track_reads
      || atomic_load (&ov->read_seq) == atomic_load (&ov->logged_seq))
    return 0;
  pthread_mutex_lock (&ov->readset_lock);
  seen = atomic_load (&ov->read_seq);
  if (seen != atomic_load (&ov->logged_seq)) {
    r = append_readset (ov, READSET_NEW);
    /* Out of room (max-overlay-size): a flush must still not lose a
     * read, so it says less precisely what was read, and at worst that
     * everything was.  Both err on the side of more conflicts. */
    if (r == -1 && errno == ENOSPC && flushing) {
      r = append_readset (ov, READSET_NEW_COARSE);
      if (r == -1 && errno == ENOSPC) {
        ow_error ("warning: overlay %s: no room left for the read set within "
                  "max-overlay-size; from now on every block counts as read",
                  ov->path);
        atomic_store (&ov->read_all, true);
        r = 0;
      }
    }
    if (r == 0)
      atomic_store (&ov->logged_seq, seen);
    else
      ow_error ("overlay %s: cannot record the read set: %m", ov->path);
  }
  pthread_mutex_unlock (&ov->readset_lock);
  return r;
}

int
ow_apply_readset_payload (struct ow_overlay *ov, const uint8_t *p, size_t len,
                          uint32_t count, bool whole)
{
  uint64_t words[OW_SB_LEAF_WORDS];
  size_t isize = whole ? 8 : READSET_ITEM;

  if (len != (size_t) count * isize) {
    errno = EINVAL;
    return -1;
  }
  if (whole)
    memset (words, 0xff, sizeof words);
  for (uint32_t i = 0; i < count; i++, p += isize) {
    uint64_t leaf = ow_get_le64 (p);
    if (leaf >= ov->readset.nleaves) {
      errno = EINVAL;
      return -1;
    }
    for (size_t w = 0; !whole && w < OW_SB_LEAF_WORDS; w++)
      words[w] = ow_get_le64 (p + 8 + w * 8);
    if (ow_sbitmap_or_leaf (&ov->readset, leaf, words) == -1)
      return -1;
  }
  return 0;
}

/* ---- Commit records (docs/overlay-format.md, "Commit records") ---- */

/* The header says that the log may hold COMMIT records, durably,
 * before the first one can reach the log: an older oneway, which does
 * not know the record type, then refuses the overlay by its header
 * whatever a crash leaves in the log.  Caller holds flush_lock. */
static int
announce_commit_records (struct ow_overlay *ov)
{
  if (ov->header.incompat & OW_INCOMPAT_COMMIT_RECORDS)
    return 0;
  ov->header.incompat |= OW_INCOMPAT_COMMIT_RECORDS;
  if (ow_write_header (ov) == -1)
    return -1;
  if (ow_file_sync (ov) == -1) {
    ow_error ("overlay %s: sync failed (%m); refusing further writes until it is "
              "opened again", ov->path);
    return -1;
  }
  return 0;
}

/* Make the header point at the record at off, number seq, durably.
 * The record was synced first, so no header ever names a record that
 * a power cut could take; and ow_write_header keeps the header before
 * this one durable, so a torn write of this one falls back to a chain
 * without the new record, never to one without an older record. */
static int
link_commit_record (struct ow_overlay *ov, uint64_t off, uint32_t seq)
{
  int r = -1;

  pthread_mutex_lock (&ov->flush_lock);
  /* A sync that failed since ours: nothing more is written. */
  if (atomic_load (&ov->broken)) {
    errno = EIO;
    ow_error ("overlay %s: a sync failed while a commit record was appended; "
              "refusing further writes until it is opened again", ov->path);
    goto out;
  }
  /* Set whatever becomes of this write: the record is durable, and any
   * later header may as well name it. */
  ov->header.last_commit = off;
  ov->commit_count = seq;
  if (ow_write_header (ov) == -1)
    goto out;
  if (ow_file_sync (ov) == -1) {
    ow_error ("overlay %s: sync failed (%m); refusing further writes until it is "
              "opened again, which recovers the commit records made durable",
              ov->path);
    goto out;
  }
  r = 0;
 out:
  pthread_mutex_unlock (&ov->flush_lock);
  return r;
}

static int
append_commit_record (struct ow_overlay *ov, const void *payload, uint32_t len)
{
  struct ow_record rec = { .type = OW_REC_COMMIT, .payload_length = len,
                           .payload_crc = ow_crc32c (ov->salt, payload, len) };
  struct iovec iov = { (void *) payload, len };
  uint64_t off;
  int r = 0;

  /* The chain's head cannot move meanwhile: appends hold commit_lock. */
  pthread_mutex_lock (&ov->flush_lock);
  rec.block = ov->header.last_commit;
  rec.count = ov->commit_count + 1;
  if (ov->commit_count == UINT32_MAX) {
    errno = EFBIG;
    ow_error ("overlay %s holds as many commit records as it can", ov->path);
    r = -1;
  }
  else
    r = announce_commit_records (ov);
  pthread_mutex_unlock (&ov->flush_lock);
  if (r == -1)
    return -1;

  /* Metadata: it may use the room kept for the read set and the
   * checkpoint, which have ways out when short of it (READ_ALL, a
   * replay), where a commit that cannot record what it applied has
   * none. */
  if (ow_log_append (ov, &rec, NULL, 0, &iov, 1, true, &off) == -1) {
    if (errno == ENOSPC) {
      errno = EFBIG;
      ow_error ("overlay %s: no room for a commit record of %" PRIu32 " bytes "
                "within its size limit", ov->path, len);
    }
    return -1;
  }
  if (ow_flush (ov) == -1)
    return -1;
  return link_commit_record (ov, off, rec.count);
}

int
ow_append_commit_record (struct ow_overlay *ov, const void *payload, uint32_t len)
{
  int r;

  if (!ov->writable) {
    errno = EROFS;
    ow_error ("overlay %s is open read-only: cannot append a commit record", ov->path);
    return -1;
  }
  if (len == 0 || len > OW_COMMIT_RECORD_MAX || !payload) {
    errno = EINVAL;
    ow_error ("overlay %s: a commit record of %" PRIu32 " bytes: it must hold "
              "1 to %u bytes", ov->path, len, OW_COMMIT_RECORD_MAX);
    return -1;
  }
  if (atomic_load (&ov->broken)) {
    errno = EIO;
    ow_error ("overlay %s: a write or sync failed earlier; it takes no commit record "
              "until it is opened again", ov->path);
    return -1;
  }
  pthread_mutex_lock (&ov->commit_lock);
  r = append_commit_record (ov, payload, len);
  pthread_mutex_unlock (&ov->commit_lock);
  return r;
}
