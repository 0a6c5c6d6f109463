/* oneway: rebuilding the index from the overlay file.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * After a clean close the checkpoint holds the index.  Otherwise the
 * log is replayed from the start, every checksum verified.  The rule
 * (docs/overlay-format.md, "Recovery"): a bad record below the header's
 * durable_end is corruption, the overlay is refused; a bad record at or
 * past it is the torn tail of a crash, and it and everything after it
 * is dropped.  Nothing after it was flushed: a flush syncs only once
 * every record below its point is complete (log.c).
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <lz4.h>
#include <stdlib.h>
#include <string.h>

#include "oneway/crc32c.h"
#include "oneway/error.h"
#include "overlay-internal.h"

#define WINDOW (4 * 1024 * 1024)

/* Sequential reader over the file with a sliding window. */
struct scanner {
  struct ow_overlay *ov;
  uint64_t file_size;
  uint8_t *buf;
  size_t cap;
  uint64_t start;
  size_t len;
};

/* Pointer to n bytes at off, or NULL (read error, errno set). */
static const uint8_t *
scan_get (struct scanner *s, uint64_t off, size_t n)
{
  size_t want;

  if (off >= s->start && off + n <= s->start + s->len)
    return s->buf + (off - s->start);
  want = n > WINDOW ? n : WINDOW;
  if (want > s->file_size - off)
    want = s->file_size - off;
  if (want > s->cap) {
    uint8_t *p = realloc (s->buf, want);
    if (!p)
      return NULL;
    s->buf = p;
    s->cap = want;
  }
  if (ow_file_pread (s->ov, s->buf, want, off) == -1) {
    ow_error ("cannot read overlay %s at offset %" PRIu64 ": %m", s->ov->path, off);
    return NULL;
  }
  s->start = off;
  s->len = want;
  return s->buf;
}

/* Why a record is not acceptable, or NULL. */
static const char *
check_data_record (struct ow_overlay *ov, const struct ow_record *rec,
                   const uint8_t *payload)
{
  uint64_t stored = 0;
  int lz4_bound = LZ4_compressBound (ov->block_size);
  const uint8_t *data;

  if (rec->count == 0 || rec->block >= ov->nblocks
      || rec->count > ov->nblocks - rec->block)
    return "blocks outside the disk";
  if (rec->payload_length < (uint64_t) rec->count * OW_DESC_SIZE)
    return "descriptor table longer than the record";
  if (ow_crc32c (ov->salt, payload, (size_t) rec->count * OW_DESC_SIZE) != rec->payload_crc)
    return "descriptor table checksum mismatch";
  data = payload + (size_t) rec->count * OW_DESC_SIZE;
  for (uint32_t i = 0; i < rec->count; i++) {
    uint32_t d = ow_get_le32 (payload + i * OW_DESC_SIZE);
    uint32_t len = d & OW_DESC_LEN_MASK;
    if ((d & ~(OW_DESC_LZ4 | OW_DESC_LEN_MASK))
        || (d & OW_DESC_LZ4 ? len == 0 || len > (uint32_t) lz4_bound
                            : len != 0 && len != ov->block_size))
      return "impossible block descriptor";
    stored += len;
  }
  if (stored + (uint64_t) rec->count * OW_DESC_SIZE != rec->payload_length)
    return "descriptors do not add up to the record length";
  for (uint32_t i = 0; i < rec->count; i++) {
    uint32_t len = ow_get_le32 (payload + i * OW_DESC_SIZE) & OW_DESC_LEN_MASK;
    if (len && ow_crc32c (ov->salt, data, len) != ow_get_le32 (payload + i * OW_DESC_SIZE + 4))
      return "block checksum mismatch";
    data += len;
  }
  return NULL;
}

static int
apply_data_record (struct ow_overlay *ov, uint64_t pos, const struct ow_record *rec,
                   const uint8_t *payload)
{
  uint64_t dpos = pos + OW_REC_HDR_SIZE + (uint64_t) rec->count * OW_DESC_SIZE;

  for (uint32_t i = 0; i < rec->count; i++) {
    uint32_t d = ow_get_le32 (payload + i * OW_DESC_SIZE);
    struct ow_loc loc = {
      .kind = (d & OW_DESC_LEN_MASK) ? OW_LOC_DATA : OW_LOC_ZERO,
      .offset = dpos, .length = d & OW_DESC_LEN_MASK, .lz4 = (d & OW_DESC_LZ4) != 0,
    };
    if (ow_index_set (&ov->index, rec->block + i, &loc) == -1)
      return -1;
    dpos += loc.length;
  }
  return 0;
}

/* Decompress (if flagged) a READSET or CHECKPOINT payload; *out is
 * either payload itself or a malloc'ed buffer the caller frees. */
static const char *
unpack_payload (const struct ow_record *rec, const uint8_t *payload,
                uint8_t **out, size_t *len, uint8_t **to_free)
{
  *to_free = NULL;
  if (!(rec->flags & OW_REC_FLAG_LZ4)) {
    *out = (uint8_t *) payload;
    *len = rec->payload_length;
    return NULL;
  }
  if (rec->block > (64u << 20))
    return "compressed payload claims an impossible size";
  *to_free = malloc (rec->block ? rec->block : 1);
  if (!*to_free)
    return "out of memory";
  if (LZ4_decompress_safe ((const char *) payload, (char *) *to_free,
                           rec->payload_length, rec->block) != (int) rec->block) {
    free (*to_free);
    *to_free = NULL;
    return "compressed payload does not decompress";
  }
  *out = *to_free;
  *len = rec->block;
  return NULL;
}

static const char *
apply_readset_record (struct ow_overlay *ov, const struct ow_record *rec,
                      const uint8_t *payload)
{
  uint8_t *p, *to_free;
  size_t len;
  const char *why;

  if (ow_crc32c (ov->salt, payload, rec->payload_length) != rec->payload_crc)
    return "read-set checksum mismatch";
  if ((why = unpack_payload (rec, payload, &p, &len, &to_free)))
    return why;
  if (ow_apply_readset_payload (ov, p, len, rec->count,
                                (rec->flags & OW_READSET_WHOLE_LEAVES) != 0) == -1)
    why = "malformed read-set record";
  free (to_free);
  return why;
}

/* Replay the log.  Sets the tail and the torn-tail size. */
static int
scan_log (struct ow_overlay *ov, uint64_t file_size)
{
  struct scanner s = { .ov = ov, .file_size = file_size };
  uint64_t pos = OW_LOG_START, durable = ov->header.durable_end;
  const char *why = NULL;
  int r = -1;

  if (file_size < durable) {
    errno = EBADMSG;
    ow_error ("overlay %s is truncated: it is %" PRIu64 " bytes long but its log "
              "was flushed up to %" PRIu64 "; it cannot be used (restore it from a copy)",
              ov->path, file_size, durable);
    return -1;
  }
  while (pos + OW_REC_HDR_SIZE <= file_size) {
    struct ow_record rec;
    const uint8_t *p = scan_get (&s, pos, OW_REC_HDR_SIZE);
    uint64_t reclen;

    if (!p)
      goto out;
    if (ow_record_decode (p, ov->salt, &rec) == -1) {
      why = "bad record header";
      break;
    }
    reclen = ow_record_length (rec.payload_length);
    if (reclen > file_size - pos) {
      why = "record runs past the end of the file";
      break;
    }
    p = scan_get (&s, pos + OW_REC_HDR_SIZE, rec.payload_length);
    if (!p)
      goto out;
    switch (rec.type) {
    case OW_REC_DATA:
      if ((why = check_data_record (ov, &rec, p)))
        break;
      if (apply_data_record (ov, pos, &rec, p) == -1)
        goto oom;
      break;
    case OW_REC_ZERO:
      if (rec.count == 0 || rec.block >= ov->nblocks
          || rec.count > ov->nblocks - rec.block || rec.payload_length) {
        why = "zero record outside the disk";
        break;
      }
      if (ow_index_set_zero_range (&ov->index, rec.block, rec.count, pos) == -1)
        goto oom;
      break;
    case OW_REC_READSET:
      why = apply_readset_record (ov, &rec, p);
      break;
    case OW_REC_CHECKPOINT:
      /* A checkpoint inside the log is stale: the records before it
       * say the same and more.  Checked only so a torn one is seen. */
      if (ow_crc32c (ov->salt, p, rec.payload_length) != rec.payload_crc)
        why = "checkpoint checksum mismatch";
      break;
    case OW_REC_PAD:
      break;
    default:
      /* A valid header of a type we do not know is not a torn write. */
      errno = ENOTSUP;
      ow_error ("overlay %s has a record of unknown type %u at offset %" PRIu64
                ": it was written by a newer oneway", ov->path, rec.type, pos);
      goto out;
    }
    if (why)
      break;
    pos += reclen;
  }
  if (why && pos < durable) {
    errno = EBADMSG;
    ow_error ("overlay %s is corrupt: %s in the record at offset %" PRIu64
              ", inside the part of the log that was flushed (up to %" PRIu64 ")",
              ov->path, why, pos, durable);
    goto out;
  }
  if (pos < durable) {
    errno = EBADMSG;
    ow_error ("overlay %s is corrupt: its log ends at %" PRIu64 " but was flushed "
              "up to %" PRIu64, ov->path, pos, durable);
    goto out;
  }
  atomic_store (&ov->tail, pos);
  ov->torn_bytes = file_size - pos;
  if (ov->torn_bytes)
    ow_debug ("overlay %s: dropping %" PRIu64 " bytes of torn tail at offset %"
              PRIu64 " (%s)", ov->path, ov->torn_bytes, pos,
              why ? why : "partial record header");
  r = 0;
  goto out;

 oom:
  ow_error ("overlay %s: out of memory rebuilding the index", ov->path);
 out:
  free (s.buf);
  return r;
}

int
ow_load (struct ow_overlay *ov)
{
  uint64_t file_size;

  if (ov->ops->size (ov->ops_handle, &file_size) == -1) {
    ow_error ("cannot get the size of overlay %s: %m", ov->path);
    return -1;
  }
  ov->was_clean = ov->header.flags & OW_HDR_CLEAN;
  atomic_store (&ov->read_all, (ov->header.flags & OW_HDR_READ_ALL) != 0);
  if (ov->was_clean && ov->header.checkpoint_offset) {
    if (ow_load_checkpoint (ov) == 0) {
      ov->used_checkpoint = true;
      atomic_store (&ov->tail, ov->header.log_end);
      return 0;
    }
    ow_error ("warning: overlay %s: the checkpoint cannot be used (%m); "
              "rebuilding the index from the log", ov->path);
    ow_index_free (&ov->index);
    ow_sbitmap_free (&ov->readset);
    if (ow_index_init (&ov->index, ov->nblocks) == -1
        || ow_sbitmap_init (&ov->readset, ov->nblocks, false) == -1)
      return -1;
  }
  return scan_log (ov, file_size);
}

/* Checkpoint regions are read with the same scanner. */
int
ow_load_checkpoint (struct ow_overlay *ov)
{
  const struct ow_header *h = &ov->header;
  uint64_t file_size, pos = h->checkpoint_offset;
  uint64_t end = h->checkpoint_offset + h->checkpoint_length;
  struct scanner s = { .ov = ov };
  int r = -1;

  if (ov->ops->size (ov->ops_handle, &file_size) == -1)
    return -1;
  s.file_size = file_size;
  errno = EBADMSG;
  if (h->checkpoint_offset < OW_LOG_START || end > file_size || end < pos
      || h->log_end != h->checkpoint_offset)
    return -1;
  while (pos < end) {
    struct ow_record rec;
    const uint8_t *p = scan_get (&s, pos, OW_REC_HDR_SIZE);
    uint8_t *items, *to_free;
    size_t len, isize;
    const char *why = NULL;

    if (!p || ow_record_decode (p, ov->salt, &rec) == -1
        || ow_record_length (rec.payload_length) > end - pos
        || !(p = scan_get (&s, pos + OW_REC_HDR_SIZE, rec.payload_length)))
      goto out;
    if (rec.type == OW_REC_READSET) {
      if (apply_readset_record (ov, &rec, p))
        goto out;
    }
    else if (rec.type == OW_REC_CHECKPOINT) {
      if (ow_crc32c (ov->salt, p, rec.payload_length) != rec.payload_crc
          || unpack_payload (&rec, p, &items, &len, &to_free))
        goto out;
      isize = rec.flags & OW_CKPT_ZRANGES ? 24 : 16;
      if (len != (size_t) rec.count * isize)
        why = "bad length";
      for (uint32_t i = 0; i < rec.count && !why; i++) {
        const uint8_t *it = items + i * isize;
        uint64_t a = ow_get_le64 (it), b = ow_get_le64 (it + 8);
        if (rec.flags & OW_CKPT_ZRANGES) {
          uint64_t off = ow_get_le64 (it + 16);
          if (a >= ov->nblocks || b == 0 || b > ov->nblocks - a
              || off >= h->log_end || ow_index_set_zero_range (&ov->index, a, b, off) == -1)
            why = "bad range";
        }
        else {
          struct ow_loc loc;
          ow_loc_unpack (b, &loc);
          if (a >= ov->nblocks || loc.offset + loc.length > h->log_end
              || (loc.kind == OW_LOC_DATA && !loc.lz4 && loc.length != ov->block_size)
              || ow_index_set (&ov->index, a, &loc) == -1)
            why = "bad entry";
        }
      }
      free (to_free);
      if (why)
        goto out;
    }
    else
      goto out;
    pos += ow_record_length (rec.payload_length);
  }
  r = 0;
 out:
  free (s.buf);
  if (r)
    errno = EBADMSG;
  return r;
}
