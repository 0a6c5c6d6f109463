/* oneway: the SEE's view: reads, writes, zeroes, flushes.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * This is the plugin's data path, so it avoids work: reads are served
 * in runs (one base read, one slot read or one memset per run of like
 * blocks), raw blocks are written whole and page-aligned into slots,
 * and the only locks are per stripe of blocks (see overlay-internal.h).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lz4.h>
#include <stdlib.h>
#include <string.h>

#include "oneway/crc32c.h"
#include "oneway/error.h"
#include "oneway/util.h"
#include "overlay-internal.h"

/* A record holds at most this many bytes of blocks, which bounds the
 * per-thread scratch space and the stripes one writer holds. */
#define RECORD_MAX_BYTES (1u << 20)

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

static inline pthread_rwlock_t *
stripe_of (struct ow_overlay *ov, uint64_t group)
{
  return &ov->stripes[group % OW_STRIPES];
}

/* Lock the stripes of blocks [first, last], always in increasing lock
 * order, so that writers holding several never deadlock.  The groups
 * are consecutive, so their stripes are one range of lock numbers, or
 * two when it wraps around. */
static void
lock_one (pthread_rwlock_t *l, bool exclusive)
{
  if (exclusive)
    pthread_rwlock_wrlock (l);
  else
    pthread_rwlock_rdlock (l);
}

static void
lock_blocks (struct ow_overlay *ov, uint64_t first, uint64_t last, bool exclusive)
{
  uint64_t g0 = first >> OW_STRIPE_SHIFT, g1 = last >> OW_STRIPE_SHIFT;
  unsigned s0 = g0 % OW_STRIPES, s1 = g1 % OW_STRIPES;

  if (g1 - g0 + 1 >= OW_STRIPES) {
    s0 = 0;
    s1 = OW_STRIPES - 1;
  }
  if (s0 <= s1)
    for (unsigned s = s0; s <= s1; s++)
      lock_one (&ov->stripes[s], exclusive);
  else {
    for (unsigned s = 0; s <= s1; s++)
      lock_one (&ov->stripes[s], exclusive);
    for (unsigned s = s0; s < OW_STRIPES; s++)
      lock_one (&ov->stripes[s], exclusive);
  }
}

static void
unlock_blocks (struct ow_overlay *ov, uint64_t first, uint64_t last)
{
  uint64_t g0 = first >> OW_STRIPE_SHIFT, g1 = last >> OW_STRIPE_SHIFT;

  if (g1 - g0 + 1 >= OW_STRIPES)
    for (unsigned s = 0; s < OW_STRIPES; s++)
      pthread_rwlock_unlock (&ov->stripes[s]);
  else
    for (uint64_t g = g0; g <= g1; g++)
      pthread_rwlock_unlock (stripe_of (ov, g));
}

/* Reads of blocks already read cost one bitmap test each; new ones are
 * queued for the log (ow_log_reads).
 *
 * The order matters, because a read of a block that another thread is
 * noting returns as soon as it finds the block in the read set: by
 * then the block must be where flushes and writers look.  So a new
 * read goes to the pending set, then bumps read_seq (which sends them
 * there), and only then shows in the read set.  (Set the other way,
 * a second reader could return, and a flush start and end, before the
 * first reader made the block pending: a served read lost.) */
static int
note_base_read (struct ow_overlay *ov, uint64_t first, uint64_t count)
{
  int64_t missing;

  if (!ov->track_reads || ov->reads_untracked
      || atomic_load_explicit (&ov->read_all, memory_order_relaxed))
    return 0;
  missing = ow_sbitmap_note_missing (&ov->readset, first, count, &ov->pending);
  if (missing > 0) {
    atomic_fetch_add (&ov->read_seq, 1);
    OW_HOOK (OW_HOOK_READ_NOTED, ov);
    missing = ow_sbitmap_set_range (&ov->readset, first, count);
  }
  if (missing == -1) {
    ow_error ("overlay %s: out of memory for the read set", ov->path);
    return -1;
  }
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
  /* Raw blocks in consecutive slots are read with one call. */
  return !prev->lz4 && !next->lz4 && next->offset == prev->offset + ov->block_size;
}

/* Serve [offset, end).  Stored data is read under its stripe lock,
 * taken here unless the caller holds it (locked: then the range lies in
 * stripes the caller holds). */
static int
read_range (struct ow_overlay *ov, uint8_t *out, uint64_t offset, uint64_t end,
            bool locked)
{
  uint64_t b = offset >> ov->block_shift;
  struct ow_loc loc, next;

  ow_index_lookup (&ov->index, b, &loc);
  while (offset < end) {
    uint64_t last = (end - 1) >> ov->block_shift;

    if (loc.kind == OW_LOC_DATA && !locked) {
      /* Look again under the lock, one group at a time. */
      uint64_t gend = ow_min64 (end, block_offset (ov, (b | ((1u << OW_STRIPE_SHIFT) - 1)) + 1));
      int r;
      lock_blocks (ov, b, b, false);
      r = read_range (ov, out, offset, gend, true);
      unlock_blocks (ov, b, b);
      if (r == -1)
        return -1;
      out += gend - offset;
      offset = gend;
      b = offset >> ov->block_shift;
      if (offset < end)
        ow_index_lookup (&ov->index, b, &loc);
      continue;
    }

    uint64_t e = b + 1;           /* the run is [b, e) */
    bool have_next = false;
    if (loc.kind != OW_LOC_DATA || !loc.lz4) {
      while (e <= last) {
        struct ow_loc prev = loc;
        ow_index_lookup (&ov->index, e, &next);
        have_next = true;
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

int
ow_pread (struct ow_overlay *ov, void *buf, uint64_t count, uint64_t offset)
{
  return count ? read_range (ov, buf, offset, offset + count, false) : 0;
}

void
ow_base_view_prefetch (struct ow_overlay *ov, uint64_t count, uint64_t offset)
{
  if (ov->base && offset < ov->size)
    ow_base_prefetch (ov->base, offset, ow_min64 (count, ov->size - offset));
}

void
ow_prefetch (struct ow_overlay *ov, uint64_t count, uint64_t offset)
{
  uint64_t first, last, run = 0, run_start = 0, file_start = 0, file_end = 0;

  if (count == 0 || offset >= ov->size)
    return;
  first = offset >> ov->block_shift;
  last = (ow_min64 (offset + count, ov->size) - 1) >> ov->block_shift;
  /* Only a hint: no stripe lock, a stale location costs a wasted read. */
  for (uint64_t b = first; b <= last + 1; b++) {
    struct ow_loc loc = { .kind = OW_LOC_ZERO };
    if (b <= last)
      ow_index_lookup (&ov->index, b, &loc);
    if (loc.kind == OW_LOC_BASE) {
      if (!run++)
        run_start = b;
      continue;
    }
    if (run && ov->base)
      ow_base_prefetch (ov->base, block_offset (ov, run_start), run * ov->block_size);
    run = 0;
    /* Stored blocks, merged while they follow each other in the file. */
    uint64_t len = loc.kind != OW_LOC_DATA ? 0 : loc.lz4 ? loc.length : ov->block_size;
    if (len && loc.offset == file_end) {
      file_end += len;
      continue;
    }
    if (file_end > file_start && ov->fd >= 0)
      posix_fadvise (ov->fd, file_start, file_end - file_start, POSIX_FADV_WILLNEED);
    file_start = loc.offset;
    file_end = loc.offset + len;
  }
}

int
ow_base_view_pread (struct ow_overlay *ov, void *buf, uint64_t count,
                    uint64_t offset)
{
  if (!ov->base) {
    errno = ENXIO;
    ow_error ("overlay %s was opened without its base", ov->path);
    return -1;
  }
  return count ? ow_base_pread (ov->base, buf, count, offset) : 0;
}

static bool
is_zero (const uint8_t *p, size_t len)
{
  /* Cheap rejection first: most written blocks are not zero. */
  if (p[0] || p[len - 1] || p[len / 2])
    return false;
  return memcmp (p, p + 1, len - 1) == 0;
}

/* Index update after a record: a slot the new location replaces is
 * released (slots.c decides when it may be used again). */
struct superseder {
  struct ow_overlay *ov;
  uint32_t tag;
};

static void
release_old (void *opaque, uint64_t block, const struct ow_loc *old)
{
  struct superseder *s = opaque;

  if (old->kind == OW_LOC_DATA && !old->lz4)
    ow_slots_superseded (s->ov, old->offset, s->tag);
}

/* Write raw blocks' bytes into their slots: one call per run of
 * consecutive slots, of at most SLOT_WRITE_MAX bytes.  The page cache
 * sizes its folios by the length of the write, and ext4 walks every
 * buffer of a folio on each write into it: slots filled by 1 MiB
 * writes made later 4 KiB rewrites 40% slower (perf: ext4's
 * block_write_begin at a quarter of the time).  64 KiB pieces keep
 * both fast. */
#define SLOT_WRITE_MAX (64 * 1024)
static int
write_slots (struct ow_overlay *ov, uint32_t n, const uint64_t *slots,
             const uint8_t *const *src)
{
  struct iovec stack_iov[64], *iov = stack_iov;
  uint32_t i = 0;

  if (n > 64 && !(iov = malloc (n * sizeof *iov)))
    return -1;
  while (i < n) {
    uint32_t j = i, k = 0;
    do
      iov[k++] = (struct iovec) { (void *) src[j], ov->block_size };
    while (++j < n && (k + 1) * ov->block_size <= SLOT_WRITE_MAX
           && slots[j] == slots[j - 1] + ov->block_size);
    if (ow_file_pwritev (ov, iov, k, slots[i]) == -1) {
      ow_error ("overlay %s: writing blocks at offset %" PRIu64 ": %m", ov->path, slots[i]);
      if (iov != stack_iov)
        free (iov);
      return -1;
    }
    i = j;
  }
  if (iov != stack_iov)
    free (iov);
  return 0;
}

/* Write count whole blocks from first as one DATA record and publish
 * them in the index.  The caller holds their stripes exclusively. */
static int
write_record (struct ow_overlay *ov, uint64_t first, uint32_t count, const uint8_t *data)
{
  const uint32_t bs = ov->block_size;
  const bool lz4 = ov->compress == OW_COMPRESS_LZ4;
  size_t desc_len = (size_t) count * OW_DESC_SIZE;
  uint8_t *desc = ow_scratch (OW_SCRATCH_DESC, desc_len);
  uint8_t *comp = lz4 ? ow_scratch (OW_SCRATCH_LZ4, (size_t) count * bs) : NULL;
  uint64_t *slots = ow_scratch (OW_SCRATCH_SLOTS, (size_t) count * (sizeof (uint64_t) + sizeof (void *)));
  const uint8_t **raw_src;
  uint32_t nraw = 0, slot_tag;
  uint64_t stored = 0, off;
  struct ow_record rec = { .type = OW_REC_DATA, .count = count, .block = first };
  struct superseder sup = { .ov = ov };
  struct iovec iov;

  if (!desc || !slots || (lz4 && !comp))
    return -1;
  raw_src = (const uint8_t **) (slots + count);
  /* Compress what shrinks by an eighth or more (less is not worth
   * decompressing on every read); the rest is stored raw, in slots. */
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t *p = data + (size_t) i * bs;
    uint32_t len = 0, flags = 0, crc = 0;
    int c;

    if (is_zero (p, bs))
      ;
    else if (lz4 && (c = LZ4_compress_default ((const char *) p, (char *) comp + stored,
                                               bs, bs - bs / 8)) > 0) {
      len = c;
      flags = OW_DESC_LZ4;
      crc = ow_crc32c (ov->salt, comp + stored, len);
      stored += len;
    }
    else {
      len = bs;
      flags = OW_DESC_SLOT;
      crc = ow_crc32c (ov->salt, p, bs);
      raw_src[nraw++] = p;
    }
    ow_put_le32 (desc + i * OW_DESC_SIZE, len | flags);
    ow_put_le32 (desc + i * OW_DESC_SIZE + 4, crc);
    ow_put_le64 (desc + i * OW_DESC_SIZE + 8, 0);
  }
  /* The data goes to the slots before the record that points at them
   * is logged: a flush that syncs the record syncs the data too. */
  if (nraw) {
    if (ow_slots_take (ov, nraw, slots) == -1)
      return -1;
    if (write_slots (ov, nraw, slots, raw_src) == -1)
      goto give_back;
    for (uint32_t i = 0, k = 0; i < count; i++)
      if (ow_get_le32 (desc + i * OW_DESC_SIZE) & OW_DESC_SLOT)
        ow_put_le64 (desc + i * OW_DESC_SIZE + 8, slots[k++]);
  }
  rec.payload_length = desc_len + stored;
  rec.payload_crc = ow_crc32c (ov->salt, desc, desc_len);
  iov = (struct iovec) { comp, stored };
  /* Two epochs (slots.c).  Read before the space is reserved: if it is
   * still the epoch when a later write supersedes this record, no flush
   * can have made the record durable, and its slots are free at once.
   * Read after: the next flush to start covers this record, and frees
   * the slots it supersedes. */
  slot_tag = atomic_load (&ov->epoch);
  if (ow_log_append (ov, &rec, desc, desc_len, &iov, stored ? 1 : 0, false, &off) == -1)
    goto give_back;
  OW_HOOK (OW_HOOK_APPENDED, ov);
  sup.tag = atomic_load (&ov->epoch);
  ow_slots_written (ov, nraw, slots, slot_tag);

  uint64_t inline_pos = off + OW_REC_HDR_SIZE + desc_len;
  for (uint32_t i = 0; i < count; i++) {
    uint32_t d = ow_get_le32 (desc + i * OW_DESC_SIZE);
    struct ow_loc loc = { .kind = (d & OW_DESC_LEN_MASK) ? OW_LOC_DATA : OW_LOC_ZERO,
                          .length = d & OW_DESC_LEN_MASK, .lz4 = (d & OW_DESC_LZ4) != 0 };
    struct ow_loc old;
    if (d & OW_DESC_SLOT)
      loc.offset = ow_get_le64 (desc + i * OW_DESC_SIZE + 8);
    else if (loc.lz4) {
      loc.offset = inline_pos;
      inline_pos += loc.length;
    }
    if (ow_index_set (&ov->index, first + i, &loc, &old) == -1) {
      ow_error ("overlay %s: out of memory for the index", ov->path);
      return -1;
    }
    release_old (&sup, first + i, &old);
  }
  return 0;

 give_back:
  ow_slots_put_back (ov, nraw, slots);
  return -1;
}

static int
write_blocks (struct ow_overlay *ov, uint64_t first, uint64_t count, const uint8_t *data)
{
  uint32_t per = RECORD_MAX_BYTES >> ov->block_shift;

  if (per == 0)
    per = 1;
  while (count) {
    uint32_t n = ow_min64 (count, per);
    int r;
    lock_blocks (ov, first, first + n - 1, true);
    r = write_record (ov, first, n, data);
    unlock_blocks (ov, first, first + n - 1);
    if (r == -1)
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
  uint8_t *buf = malloc (ov->block_size);
  uint32_t vis = visible (ov, block);
  uint64_t start = block_offset (ov, block);
  int r = -1;

  if (!buf)
    return -1;
  lock_blocks (ov, block, block, true);
  memset (buf, 0, ov->block_size);
  if (!(within == 0 && len == vis) && read_range (ov, buf, start, start + vis, true) == -1)
    goto out;
  if (src)
    memcpy (buf + within, src, len);
  else
    memset (buf + within, 0, len);
  r = write_record (ov, block, 1, buf);
 out:
  unlock_blocks (ov, block, block);
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
    struct superseder sup = { .ov = ov };
    uint64_t off;
    int r;

    lock_blocks (ov, first, first + n - 1, true);
    r = ow_log_append (ov, &rec, NULL, 0, NULL, 0, false, &off);
    if (r == 0) {
      sup.tag = atomic_load (&ov->epoch);
      r = ow_index_set_zero_range (&ov->index, first, n, release_old, &sup);
      if (r == -1)
        ow_error ("overlay %s: out of memory for the index", ov->path);
    }
    unlock_blocks (ov, first, first + n - 1);
    if (r == -1)
      return -1;
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
  uint64_t point, readset_end;
  int r = -1;

  if (!ov->writable)
    return 0;
  pthread_mutex_lock (&ov->flush_lock);
  /* Checked under the lock: a flush that failed to sync a moment ago
   * must stop this one from syncing what it lost. */
  if (check_writable (ov) == -1) {
    pthread_mutex_unlock (&ov->flush_lock);
    return -1;
  }
  /* The epoch turns odd before the point is taken (slots.c). */
  atomic_fetch_add (&ov->epoch, 1);
  point = atomic_load (&ov->tail);
  ow_log_wait_below (ov, point);
  OW_HOOK (OW_HOOK_FLUSH_POINT, ov);
  /* Promise 10: the reads served so far go into the same sync: those
   * still pending are logged now, and those a writer took and logged
   * after point was taken are covered by moving point past the last
   * read-set record.  What lies below it must then be complete too. */
  if (ow_log_reads (ov, true) == -1)
    goto out;
  readset_end = atomic_load (&ov->readset_end);
  if (readset_end > point) {
    point = readset_end;
    ow_log_wait_below (ov, point);
  }
  if (atomic_load (&ov->read_all) && !(ov->header.flags & OW_HDR_READ_ALL)) {
    ov->header.flags |= OW_HDR_READ_ALL;
    if (ow_write_header (ov) == -1)
      goto out;
  }
  if (ow_file_sync (ov) == -1) {
    ow_error ("overlay %s: sync failed (%m); refusing further writes and flushes "
              "until it is opened again, which recovers what earlier flushes made durable",
              ov->path);
    goto out;
  }
  OW_HOOK (OW_HOOK_FLUSH_SYNCED, ov);
  /* Not synced now: the next flush's sync takes it along, and until
   * then the older header's smaller durable_end is just as true. */
  if (point > ov->header.durable_end) {
    ov->header.durable_end = point;
    if (ow_write_header (ov) == -1)
      goto out;
  }
  r = 0;
 out:
  atomic_fetch_add (&ov->epoch, 1);
  if (r == 0) {
    ov->durable_epoch = atomic_load (&ov->epoch);
    ow_slots_flush_done (ov, ov->durable_epoch);
  }
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
