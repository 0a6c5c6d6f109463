/* oneway: writing the index checkpoint at a clean close.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * The next open then loads the index in one sequential read instead of
 * replaying the whole log.  The checkpoint is appended after the last
 * record and only trusted once the header, written after a sync, says
 * the overlay is clean and points at it; the next writer truncates it
 * away before appending (overlay.c: prepare_for_writing).
 */
#include <config.h>

#include <errno.h>
#include <lz4.h>
#include <stdlib.h>

#include "oneway/crc32c.h"
#include "oneway/error.h"
#include "overlay-internal.h"

#define PART_ITEMS 65536

struct part {
  struct ow_overlay *ov;
  uint8_t *buf;
  uint32_t n;
  uint8_t flags;
};

static int
emit_part (struct part *pt)
{
  size_t raw = (size_t) pt->n * 16;
  int bound = LZ4_compressBound (raw);
  char *comp;
  int clen;
  struct ow_record rec = { .type = OW_REC_CHECKPOINT, .flags = pt->flags | OW_REC_FLAG_LZ4,
                           .count = pt->n, .block = raw };
  struct iovec iov;
  uint64_t off;

  if (pt->n == 0)
    return 0;
  comp = malloc (bound);
  if (!comp)
    return -1;
  clen = LZ4_compress_default ((const char *) pt->buf, comp, raw, bound);
  if (clen <= 0) {
    free (comp);
    errno = EIO;
    return -1;
  }
  rec.payload_length = clen;
  rec.payload_crc = ow_crc32c (pt->ov->salt, comp, clen);
  iov = (struct iovec) { comp, clen };
  int r = ow_log_append (pt->ov, &rec, NULL, 0, &iov, 1, true, &off);
  free (comp);
  pt->n = 0;
  return r;
}

static int
add_pair (struct part *pt, uint64_t a, uint64_t b)
{
  uint8_t *it = pt->buf + pt->n * 16;

  ow_put_le64 (it, a);
  ow_put_le64 (it + 8, b);
  return ++pt->n == PART_ITEMS ? emit_part (pt) : 0;
}

static int
add_block (void *opaque, uint64_t block, const struct ow_loc *loc)
{
  return add_pair (opaque, block, ow_loc_pack (loc));
}

static int
add_zrange (void *opaque, uint64_t first, uint64_t count)
{
  return add_pair (opaque, first, count);
}

static int
add_extent (void *opaque, struct ow_extent *e)
{
  return add_pair (opaque, e->offset, e->nslots);
}

/* Caller holds flush_lock, has flushed, and nothing else writes. */
int
ow_write_checkpoint (struct ow_overlay *ov)
{
  uint64_t start = atomic_load (&ov->tail), end;
  struct part pt = { .ov = ov, .flags = OW_CKPT_EXTENTS };
  int r = -1;

  pt.buf = malloc ((size_t) PART_ITEMS * 16);
  if (!pt.buf)
    return -1;
  /* Extents first: the entries that point into them are checked
   * against them when loaded.  Zero ranges before the single entries:
   * loading a range removes the entries inside it, and those entries
   * are newer than the range. */
  if (ow_slots_for_each_extent (ov, add_extent, &pt) || emit_part (&pt))
    goto out;
  pt.flags = OW_CKPT_ZRANGES;
  if (ow_index_for_each_zrange (&ov->index, add_zrange, &pt) || emit_part (&pt))
    goto out;
  pt.flags = 0;
  if (ow_index_for_each_block (&ov->index, add_block, &pt) || emit_part (&pt))
    goto out;
  if (!atomic_load (&ov->read_all) && ow_append_readset (ov) == -1)
    goto out;
  end = atomic_load (&ov->tail);
  if (ow_file_sync (ov) == -1)
    goto out;
  ov->header.flags |= OW_HDR_CLEAN;
  ov->header.log_end = start;
  ov->header.durable_end = start;
  ov->header.checkpoint_offset = start;
  ov->header.checkpoint_length = end - start;
  if (ow_write_header (ov) == -1 || ow_file_sync (ov) == -1)
    goto out;
  r = 0;
 out:
  if (r == -1 && errno == ENOSPC) {
    /* No room under max-overlay-size: close cleanly without one; the
     * next open replays the log, which says the same. */
    ow_debug ("overlay %s: no room for the checkpoint", ov->path);
    if (ov->ops->truncate (ov->ops_handle, start) == 0) {
      atomic_store (&ov->tail, start);
      ov->header.flags |= OW_HDR_CLEAN;
      ov->header.log_end = start;
      ov->header.durable_end = start;
      ov->header.checkpoint_offset = ov->header.checkpoint_length = 0;
      if (ow_file_sync (ov) == 0 && ow_write_header (ov) == 0 && ow_file_sync (ov) == 0)
        r = 0;
    }
  }
  if (r == -1)
    ow_error ("overlay %s: cannot write the index checkpoint (%m); "
              "nothing is lost, the next open replays the log instead", ov->path);
  free (pt.buf);
  return r;
}
