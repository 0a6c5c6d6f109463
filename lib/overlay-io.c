/* oneway: the SEE's view: reads, writes, zeroes, flushes.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * This is the plugin's data path, so it avoids work: reads are served
 * in runs (one base read, one overlay read or one memset per run of
 * like blocks), writes go out as one record per request with one
 * system call, and nothing here takes a lock shared by all requests.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <lz4.h>
#include <stdlib.h>
#include <string.h>

#include "oneway/crc32c.h"
#include "oneway/error.h"
#include "oneway/util.h"
#include "overlay-internal.h"

/* A record holds at most this many bytes of blocks, which bounds the
 * per-thread scratch space. */
#define RECORD_MAX_BYTES (4u << 20)

static inline uint64_t
block_offset (const struct ow_overlay *ov, uint64_t block)
{
  return block << ov->block_shift;
}

/* Bytes of the block that lie inside the disk (less than a block only
 * for the last block of a disk whose size is not a multiple). */
static inline uint32_t
visible (const struct ow_overlay *ov, uint64_t block)
{
  return ow_min64 (ov->block_size, ov->size - block_offset (ov, block));
}

/* Reads of blocks already read cost one bitmap test each; new ones are
 * queued for the log (ow_log_reads). */
static int
note_base_read (struct ow_overlay *ov, uint64_t first, uint64_t count)
{
  int64_t fresh;

  if (!ov->track_reads || atomic_load_explicit (&ov->read_all, memory_order_relaxed))
    return 0;
  fresh = ow_sbitmap_set_range_noting (&ov->readset, first, count, &ov->pending);
  if (fresh == -1) {
    ow_error ("overlay %s: out of memory for the read set", ov->path);
    return -1;
  }
  if (fresh)
    atomic_fetch_add (&ov->read_seq, 1);
  return 0;
}

/* Read len bytes at within of a stored block into out. */
static int
read_stored (struct ow_overlay *ov, uint64_t block, const struct ow_loc *loc,
             uint8_t *out, uint32_t within, uint32_t len)
{
  uint8_t *comp, *plain;

  if (!loc->lz4) {
    if (ow_file_pread (ov, out, len, loc->offset + within) == 0)
      return 0;
    ow_error ("overlay %s: cannot read block %" PRIu64 " at offset %" PRIu64 ": %m",
              ov->path, block, loc->offset);
    return -1;
  }
  comp = ow_scratch (OW_SCRATCH_LZ4, loc->length);
  plain = within == 0 && len == ov->block_size ? out
    : ow_scratch (OW_SCRATCH_BLOCK, ov->block_size);
  if (!comp || !plain)
    return -1;
  if (ow_file_pread (ov, comp, loc->length, loc->offset) == -1) {
    ow_error ("overlay %s: cannot read block %" PRIu64 " at offset %" PRIu64 ": %m",
              ov->path, block, loc->offset);
    return -1;
  }
  if (LZ4_decompress_safe ((const char *) comp, (char *) plain, loc->length,
                           ov->block_size) != (int) ov->block_size) {
    errno = EIO;
    ow_error ("overlay %s: block %" PRIu64 " at offset %" PRIu64
              " does not decompress: the overlay file is damaged",
              ov->path, block, loc->offset);
    return -1;
  }
  if (plain != out)
    memcpy (out, plain + within, len);
  return 0;
}

/* Does next continue a run that ends with prev? */
static bool
continues (const struct ow_overlay *ov, const struct ow_loc *prev,
           const struct ow_loc *next)
{
  if (prev->kind != next->kind)
    return false;
  if (prev->kind != OW_LOC_DATA)
    return true;
  /* Raw blocks stored back to back are read with one call. */
  return !prev->lz4 && !next->lz4 && next->offset == prev->offset + ov->block_size;
}

int
ow_pread (struct ow_overlay *ov, void *buf, uint64_t count, uint64_t offset)
{
  uint8_t *out = buf;
  uint64_t end = offset + count;
  uint64_t b = offset >> ov->block_shift;
  struct ow_loc loc, next;

  if (count == 0)
    return 0;
  ow_index_lookup (&ov->index, b, &loc);
  while (offset < end) {
    uint64_t last = (end - 1) >> ov->block_shift;
    uint64_t e = b + 1;           /* the run is [b, e) */
    bool have_next = false;

    if (loc.kind != OW_LOC_DATA || !loc.lz4) {
      while (e <= last) {
        ow_index_lookup (&ov->index, e, &next);
        have_next = true;
        struct ow_loc prev = loc;
        prev.offset += (e - 1 - b) * ov->block_size;
        if (!continues (ov, &prev, &next))
          break;
        have_next = false;
        e++;
      }
    }
    uint64_t run_end = ow_min64 (end, block_offset (ov, e));
    uint64_t n = run_end - offset;
    uint32_t within = offset - block_offset (ov, b);

    switch (loc.kind) {
    case OW_LOC_BASE:
      if (!ov->base) {
        errno = ENXIO;
        ow_error ("overlay %s was opened without its base", ov->path);
        return -1;
      }
      if (ow_base_pread (ov->base, out, n, offset) == -1
          || note_base_read (ov, b, e - b) == -1)
        return -1;
      break;
    case OW_LOC_ZERO:
      memset (out, 0, n);
      break;
    case OW_LOC_DATA:
      if (read_stored (ov, b, &loc, out, within, n) == -1)
        return -1;
      break;
    }
    out += n;
    offset = run_end;
    b = e;
    if (offset < end) {
      if (have_next)
        loc = next;
      else
        ow_index_lookup (&ov->index, b, &loc);
    }
  }
  return 0;
}

static bool
is_zero (const uint8_t *p, size_t len)
{
  /* Cheap rejection first: most written blocks are not zero. */
  if (p[0] || p[len - 1] || p[len / 2])
    return false;
  return memcmp (p, p + 1, len - 1) == 0;
}

/* Write count whole blocks from first as one DATA record and publish
 * them in the index. */
static int
write_record (struct ow_overlay *ov, uint64_t first, uint32_t count, const uint8_t *data)
{
  const uint32_t bs = ov->block_size;
  const bool lz4 = ov->compress == OW_COMPRESS_LZ4;
  uint8_t *desc = ow_scratch (OW_SCRATCH_DESC, (size_t) count * OW_DESC_SIZE);
  uint8_t *comp = NULL;
  struct iovec stack_iov[32], *iov = stack_iov;
  int niov = 0;
  uint64_t stored = 0, off, dpos;
  struct ow_record rec = { .type = OW_REC_DATA, .count = count, .block = first };

  if (!desc)
    return -1;
  if (lz4) {
    /* Compressed and incompressible blocks alike are packed into comp,
     * so the whole payload is a single iovec. */
    comp = ow_scratch (OW_SCRATCH_LZ4, (size_t) count * bs);
    if (!comp)
      return -1;
  }
  else if (count > 32) {
    iov = ow_scratch (OW_SCRATCH_IOV, (size_t) count * sizeof *iov);
    if (!iov)
      return -1;
  }
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t *p = data + (size_t) i * bs;
    uint32_t len = bs, flags = 0, crc = 0;

    if (is_zero (p, bs))
      len = 0;
    else if (lz4) {
      /* Keep the compressed form only if it saves an eighth or more:
       * less is not worth the decompression on every read. */
      int c = LZ4_compress_default ((const char *) p, (char *) comp + stored,
                                    bs, bs - bs / 8);
      if (c > 0) {
        len = c;
        flags = OW_DESC_LZ4;
      }
      else
        memcpy (comp + stored, p, bs);
      crc = ow_crc32c (ov->salt, comp + stored, len);
    }
    else {
      crc = ow_crc32c (ov->salt, p, bs);
      if (niov && (const uint8_t *) iov[niov - 1].iov_base + iov[niov - 1].iov_len == p)
        iov[niov - 1].iov_len += bs;
      else
        iov[niov++] = (struct iovec) { (void *) p, bs };
    }
    ow_put_le32 (desc + i * OW_DESC_SIZE, len | flags);
    ow_put_le32 (desc + i * OW_DESC_SIZE + 4, crc);
    stored += len;
  }
  if (lz4 && stored)
    iov[niov++] = (struct iovec) { comp, stored };
  rec.payload_length = (uint64_t) count * OW_DESC_SIZE + stored;
  rec.payload_crc = ow_crc32c (ov->salt, desc, (size_t) count * OW_DESC_SIZE);
  if (ow_log_append (ov, &rec, desc, (size_t) count * OW_DESC_SIZE, iov, niov,
                     false, &off) == -1)
    return -1;

  dpos = off + OW_REC_HDR_SIZE + (uint64_t) count * OW_DESC_SIZE;
  for (uint32_t i = 0; i < count; i++) {
    uint32_t d = ow_get_le32 (desc + i * OW_DESC_SIZE);
    struct ow_loc loc = {
      .kind = (d & OW_DESC_LEN_MASK) ? OW_LOC_DATA : OW_LOC_ZERO,
      .offset = dpos, .length = d & OW_DESC_LEN_MASK, .lz4 = (d & OW_DESC_LZ4) != 0,
    };
    if (ow_index_set (&ov->index, first + i, &loc) == -1) {
      ow_error ("overlay %s: out of memory for the index", ov->path);
      return -1;
    }
    dpos += loc.length;
  }
  return 0;
}

static int
write_blocks (struct ow_overlay *ov, uint64_t first, uint64_t count, const uint8_t *data)
{
  uint32_t per = RECORD_MAX_BYTES >> ov->block_shift;

  if (per == 0)
    per = 1;
  while (count) {
    uint32_t n = ow_min64 (count, per);
    if (write_record (ov, first, n, data) == -1)
      return -1;
    first += n;
    count -= n;
    data += (size_t) n << ov->block_shift;
  }
  return 0;
}

/* Change len bytes at within of one block: src, or zeroes if NULL.
 * The rest of the block comes from the current view, unless the change
 * covers all of the block's visible bytes. */
static int
modify_block (struct ow_overlay *ov, uint64_t block, uint32_t within,
              const uint8_t *src, uint32_t len)
{
  pthread_mutex_t *lock = &ov->rmw_lock[block % OW_RMW_LOCKS];
  uint8_t *buf = malloc (ov->block_size);
  uint32_t vis = visible (ov, block);
  int r = -1;

  if (!buf)
    return -1;
  pthread_mutex_lock (lock);
  memset (buf, 0, ov->block_size);
  if (!(within == 0 && len == vis)
      && ow_pread (ov, buf, vis, block_offset (ov, block)) == -1)
    goto out;
  if (src)
    memcpy (buf + within, src, len);
  else
    memset (buf + within, 0, len);
  r = write_blocks (ov, block, 1, buf);
 out:
  pthread_mutex_unlock (lock);
  free (buf);
  return r;
}

static int
check_writable (struct ow_overlay *ov)
{
  if (!ov->writable) {
    errno = EROFS;
    return -1;
  }
  if (atomic_load_explicit (&ov->broken, memory_order_relaxed)) {
    errno = EIO;
    return -1;
  }
  return 0;
}

/* Split [offset, offset + count) into whole blocks, handed to whole()
 * in runs, and partial blocks, handed to modify_block.  src advances
 * with the bytes unless it is NULL (zeroing). */
static int
for_each_piece (struct ow_overlay *ov, const uint8_t *src, uint64_t count,
                uint64_t offset,
                int (*whole) (struct ow_overlay *, uint64_t, uint64_t, const uint8_t *))
{
  uint64_t end = offset + count;

  while (offset < end) {
    uint64_t b = offset >> ov->block_shift;
    uint32_t within = offset - block_offset (ov, b);
    uint32_t vis = visible (ov, b);
    uint64_t n;

    /* Blocks wholly inside the request and the disk. */
    uint64_t full = within ? 0 : ow_min64 ((end - offset) >> ov->block_shift,
                                           (ov->size >> ov->block_shift) - b);
    if (full) {
      if (whole (ov, b, full, src) == -1)
        return -1;
      n = full << ov->block_shift;
    }
    else {
      n = ow_min64 (end - offset, vis - within);
      if (modify_block (ov, b, within, src, n) == -1)
        return -1;
    }
    offset += n;
    if (src)
      src += n;
  }
  return 0;
}

int
ow_pwrite (struct ow_overlay *ov, const void *buf, uint64_t count, uint64_t offset,
           bool fua)
{
  if (check_writable (ov) == -1
      || for_each_piece (ov, buf, count, offset, write_blocks) == -1)
    return -1;
  return fua ? ow_flush (ov) : 0;
}

static int
zero_blocks (struct ow_overlay *ov, uint64_t first, uint64_t count, const uint8_t *unused)
{
  while (count) {
    uint32_t n = ow_min64 (count, UINT32_MAX);
    struct ow_record rec = { .type = OW_REC_ZERO, .count = n, .block = first };
    uint64_t off;

    if (ow_log_append (ov, &rec, NULL, 0, NULL, 0, false, &off) == -1)
      return -1;
    if (ow_index_set_zero_range (&ov->index, first, n, off) == -1) {
      ow_error ("overlay %s: out of memory for the index", ov->path);
      return -1;
    }
    first += n;
    count -= n;
  }
  return 0;
}

int
ow_zero (struct ow_overlay *ov, uint64_t count, uint64_t offset, bool fua)
{
  if (check_writable (ov) == -1
      || for_each_piece (ov, NULL, count, offset, zero_blocks) == -1)
    return -1;
  return fua ? ow_flush (ov) : 0;
}

int
ow_flush (struct ow_overlay *ov)
{
  uint64_t point;
  int r = -1;

  if (!ov->writable)
    return 0;
  if (check_writable (ov) == -1)
    return -1;
  pthread_mutex_lock (&ov->flush_lock);
  point = atomic_load (&ov->tail);
  ow_log_wait_below (ov, point);
  /* Promise 10: the reads served so far go into the same sync.
   * Appenders that raced past point meanwhile must be complete below
   * the read-set record too. */
  uint64_t end = point;
  if (ow_log_reads (ov, true, &end) == -1)
    goto out;
  if (end > point) {
    point = end;
    ow_log_wait_below (ov, point);
  }
  if (atomic_load (&ov->read_all) && !(ov->header.flags & OW_HDR_READ_ALL)) {
    ov->header.flags |= OW_HDR_READ_ALL;
    if (ow_write_header (ov) == -1)
      goto out;
  }
  if (ow_file_sync (ov) == -1) {
    ow_error ("overlay %s: sync failed: %m", ov->path);
    goto out;
  }
  /* Not synced now: the next flush's sync takes it along, and until
   * then the older header's smaller durable_end is just as true. */
  if (point > ov->header.durable_end) {
    ov->header.durable_end = point;
    if (ow_write_header (ov) == -1)
      goto out;
  }
  r = 0;
 out:
  pthread_mutex_unlock (&ov->flush_lock);
  return r;
}

int
ow_extents (struct ow_overlay *ov, uint64_t count, uint64_t offset,
            int (*fn) (void *, uint64_t, uint64_t, bool), void *opaque)
{
  uint64_t end = offset + count;
  uint64_t run_start = offset;
  bool run_hole = false, have_run = false;

  while (offset < end) {
    uint64_t b = offset >> ov->block_shift;
    uint64_t n;
    bool hole;
    struct ow_loc loc;

    ow_index_lookup (&ov->index, b, &loc);
    if (loc.kind == OW_LOC_BASE) {
      /* Ask the base about the whole stretch up to the next block the
       * overlay knows about. */
      uint64_t nb = ow_index_next_known (&ov->index, b + 1);
      uint64_t stop = nb >= ov->nblocks ? end : ow_min64 (end, block_offset (ov, nb));
      int64_t len = ov->base ? ow_base_extent (ov->base, offset, stop - offset, &hole)
                             : (hole = false, (int64_t) (stop - offset));
      if (len <= 0)
        return -1;
      n = len;
    }
    else {
      uint64_t e = b + 1;
      hole = loc.kind == OW_LOC_ZERO;
      if (hole)
        e = ow_index_zero_run_end (&ov->index, b);
      n = ow_min64 (end, e >= ov->nblocks ? end : block_offset (ov, e)) - offset;
    }
    if (have_run && hole != run_hole) {
      if (fn (opaque, run_start, offset - run_start, run_hole) == -1)
        return -1;
      run_start = offset;
    }
    run_hole = hole;
    have_run = true;
    offset += n;
  }
  if (have_run && fn (opaque, run_start, end - run_start, run_hole) == -1)
    return -1;
  return 0;
}
