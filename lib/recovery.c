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
 *
 * Blocks in slots are checked in a second pass, and only those still
 * current: an older record's slot may have been reused (slots.c).  A
 * current block that fails its checksum marks its record as torn; the
 * log is then replayed again up to that record, and checked again.
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

/* Why a DATA record is not acceptable, or NULL.  Inline (compressed)
 * data is checked here; slots later (verify_slots). */
static const char *
check_data_record (struct ow_overlay *ov, const struct ow_record *rec,
                   const uint8_t *payload)
{
  uint64_t stored = 0;
  int lz4_bound = LZ4_compressBound (ov->block_size);
  const uint8_t *data;
  size_t desc_len = (size_t) rec->count * OW_DESC_SIZE;

  if (rec->count == 0 || rec->block >= ov->nblocks
      || rec->count > ov->nblocks - rec->block)
    return "blocks outside the disk";
  if (rec->payload_length < desc_len)
    return "descriptor table longer than the record";
  if (ow_crc32c (ov->salt, payload, desc_len) != rec->payload_crc)
    return "descriptor table checksum mismatch";
  data = payload + desc_len;
  for (uint32_t i = 0; i < rec->count; i++) {
    const uint8_t *d = payload + i * OW_DESC_SIZE;
    uint32_t f = ow_get_le32 (d), len = f & OW_DESC_LEN_MASK;
    uint64_t slot = ow_get_le64 (d + 8);
    bool ok;

    if (f & ~(OW_DESC_LZ4 | OW_DESC_SLOT | OW_DESC_LEN_MASK))
      return "impossible block descriptor";
    if (f & OW_DESC_SLOT)
      ok = !(f & OW_DESC_LZ4) && len == ov->block_size
        && ow_slots_find (ov, slot, NULL) != NULL;
    else if (f & OW_DESC_LZ4)
      ok = len > 0 && len <= (uint32_t) lz4_bound && slot == 0;
    else
      ok = len == 0 && slot == 0;
    if (!ok)
      return "impossible block descriptor";
    if (!(f & OW_DESC_SLOT))
      stored += len;
  }
  if (stored + desc_len != rec->payload_length)
    return "descriptors do not add up to the record length";
  for (uint32_t i = 0; i < rec->count; i++) {
    const uint8_t *d = payload + i * OW_DESC_SIZE;
    uint32_t f = ow_get_le32 (d), len = f & OW_DESC_LEN_MASK;
    if (f & OW_DESC_SLOT)
      continue;
    if (len && ow_crc32c (ov->salt, data, len) != ow_get_le32 (d + 4))
      return "block checksum mismatch";
    data += len;
  }
  return NULL;
}

static int
apply_data_record (struct ow_overlay *ov, uint64_t pos, const struct ow_record *rec,
                   const uint8_t *payload)
{
  size_t desc_len = (size_t) rec->count * OW_DESC_SIZE;
  uint64_t inline_pos = pos + OW_REC_HDR_SIZE + desc_len;

  for (uint32_t i = 0; i < rec->count; i++) {
    const uint8_t *d = payload + i * OW_DESC_SIZE;
    uint32_t f = ow_get_le32 (d);
    struct ow_loc loc = { .kind = (f & OW_DESC_LEN_MASK) ? OW_LOC_DATA : OW_LOC_ZERO,
                          .length = f & OW_DESC_LEN_MASK, .lz4 = (f & OW_DESC_LZ4) != 0 };
    if (f & OW_DESC_SLOT) {
      uint32_t k;
      struct ow_extent *e;
      loc.offset = ow_get_le64 (d + 8);
      e = ow_slots_find (ov, loc.offset, &k);
      e->check[k] = (struct ow_slot_check) { ow_get_le32 (d + 4), pos };
    }
    else if (loc.lz4) {
      loc.offset = inline_pos;
      inline_pos += loc.length;
    }
    if (ow_index_set (&ov->index, rec->block + i, &loc, NULL) == -1)
      return -1;
  }
  return 0;
}

static const char *
check_slots_record (struct ow_overlay *ov, uint64_t pos, const struct ow_record *rec)
{
  if ((pos + OW_REC_HDR_SIZE) % OW_SLOTS_ALIGN || rec->count == 0
      || rec->payload_length != (uint64_t) rec->count * ov->block_size)
    return "impossible slot extent";
  return NULL;
}

static int
add_extent (struct ow_overlay *ov, uint64_t pos, uint32_t nslots)
{
  struct ow_extent *e;

  if (ow_slots_add_extent (ov, pos + OW_REC_HDR_SIZE, nslots) == -1)
    return -1;
  e = ow_slots_find (ov, pos + OW_REC_HDR_SIZE, NULL);
  e->check = calloc (nslots, sizeof *e->check);
  return e->check ? 0 : -1;
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

/* Why a COMMIT record at pos is not acceptable by its header, or NULL.
 * Its count is its number in the chain and its block the offset of the
 * one before (docs/overlay-format.md, "Commit records"); each record
 * before it in the chain takes at least 40 bytes of the log before it,
 * which bounds the chain by the log's size. */
static const char *
check_commit_header (const struct ow_record *rec, uint64_t pos)
{
  const uint64_t least = ow_record_length (1);

  if (rec->type != OW_REC_COMMIT)
    return "not a commit record";
  if (rec->flags || rec->count == 0 || rec->payload_length == 0
      || rec->payload_length > OW_COMMIT_RECORD_MAX
      || rec->count - 1 > (pos - OW_LOG_START) / least)
    return "impossible commit record";
  if (rec->count == 1 ? rec->block != 0
      : rec->block < OW_LOG_START || rec->block % OW_REC_ALIGN || rec->block >= pos)
    return "impossible link to the previous commit record";
  return NULL;
}

/* Replay the log up to limit.  Sets the tail and the torn-tail size. */
static int
scan_log (struct ow_overlay *ov, uint64_t file_size, uint64_t limit)
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
  while (pos + OW_REC_HDR_SIZE <= file_size && pos < limit) {
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
    if (rec.type == OW_REC_SLOTS) {   /* the slots themselves are not read here */
      if ((why = check_slots_record (ov, pos, &rec)))
        break;
      if (add_extent (ov, pos, rec.count) == -1)
        goto oom;
      pos += reclen;
      continue;
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
      if (ow_index_set_zero_range (&ov->index, rec.block, rec.count, NULL, NULL) == -1)
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
    case OW_REC_COMMIT:
      /* Checked like any other; what is in the chain is what the
       * header leads to (ow_commit_records), not what the log holds. */
      if (!(why = check_commit_header (&rec, pos))
          && ow_crc32c (ov->salt, p, rec.payload_length) != rec.payload_crc)
        why = "commit record checksum mismatch";
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
  if (why && pos < durable && pos < limit) {
    errno = EBADMSG;
    ow_error ("overlay %s is corrupt: %s in the record at offset %" PRIu64
              ", inside the part of the log that was flushed (up to %" PRIu64 ")",
              ov->path, why, pos, durable);
    goto out;
  }
  if (pos < durable && pos < limit) {
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

/* Check the current blocks in slots.  Sets *cut to the first record
 * whose current block fails, or leaves it. */
struct slot_ref {
  uint64_t slot;
  const struct ow_slot_check *check;
};

struct slot_refs {
  struct ow_overlay *ov;
  struct slot_ref *refs;
  size_t n, cap;
};

static int
collect_slot (void *opaque, uint64_t block, const struct ow_loc *loc)
{
  struct slot_refs *sr = opaque;
  struct ow_extent *e;
  uint32_t k;

  if (loc->kind != OW_LOC_DATA || loc->lz4)
    return 0;
  if (ow_grow_array (&sr->refs, &sr->cap, sr->n + 1, sizeof *sr->refs) == -1)
    return -1;
  e = ow_slots_find (sr->ov, loc->offset, &k);
  sr->refs[sr->n++] = (struct slot_ref) { loc->offset, &e->check[k] };
  return 0;
}

static int
cmp_slot (const void *a, const void *b)
{
  uint64_t x = ((const struct slot_ref *) a)->slot, y = ((const struct slot_ref *) b)->slot;
  return x < y ? -1 : x > y;
}

static int
verify_slots (struct ow_overlay *ov, uint64_t *cut)
{
  struct slot_refs sr = { .ov = ov };
  struct slot_ref *refs;
  size_t n;
  uint8_t *buf = malloc (OW_EXTENT_BYTES > ov->block_size ? OW_EXTENT_BYTES : ov->block_size);
  int r = -1;

  if (!buf || ow_index_for_each_block (&ov->index, collect_slot, &sr) != 0) {
    ow_error ("overlay %s: out of memory checking its blocks", ov->path);
    goto out;
  }
  refs = sr.refs;
  n = sr.n;
  /* In file order, a run of neighbouring slots per read. */
  if (n)
    qsort (refs, n, sizeof *refs, cmp_slot);
  for (size_t i = 0; i < n; ) {
    size_t j = i + 1;
    uint64_t max = OW_EXTENT_BYTES / ov->block_size;
    while (j < n && j - i < max && refs[j].slot == refs[j - 1].slot + ov->block_size)
      j++;
    if (ow_file_pread (ov, buf, (j - i) * ov->block_size, refs[i].slot) == -1) {
      if (errno != EIO) {
        ow_error ("cannot read overlay %s at offset %" PRIu64 ": %m", ov->path, refs[i].slot);
        goto out;
      }
      /* Past the end of the file: torn like a bad checksum. */
      for (size_t k = i; k < j; k++)
        *cut = ow_min64 (*cut, refs[k].check->pos);
    }
    else
      for (size_t k = i; k < j; k++) {
        const struct ow_slot_check *c = refs[k].check;
        if (ow_crc32c (ov->salt, buf + (k - i) * ov->block_size, ov->block_size) != c->crc)
          *cut = ow_min64 (*cut, c->pos);
      }
    i = j;
  }
  r = 0;
 out:
  free (sr.refs);
  free (buf);
  return r;
}

static int
reset_state (struct ow_overlay *ov)
{
  ow_index_free (&ov->index);
  ow_sbitmap_free (&ov->readset);
  ow_slots_free (ov);
  return ow_index_init (&ov->index, ov->nblocks) == -1
    || ow_sbitmap_init (&ov->readset, ov->nblocks, false) == -1
    || ow_slots_init (ov) == -1 ? -1 : 0;
}

static int
drop_check (void *opaque, struct ow_extent *e)
{
  free (e->check);
  e->check = NULL;
  return 0;
}

static int
load_index (struct ow_overlay *ov)
{
  uint64_t file_size, limit = UINT64_MAX;

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
      return ow_slots_rebuild_free (ov);
    }
    ow_error ("warning: overlay %s: the checkpoint cannot be used (%m); "
              "rebuilding the index from the log", ov->path);
    if (reset_state (ov) == -1)
      return -1;
  }
  for (;;) {
    uint64_t cut = UINT64_MAX;
    if (scan_log (ov, file_size, limit) == -1 || verify_slots (ov, &cut) == -1)
      return -1;
    if (cut == UINT64_MAX)
      break;
    if (cut < ov->header.durable_end) {
      errno = EBADMSG;
      ow_error ("overlay %s is corrupt: a block of the record at offset %" PRIu64
                " fails its checksum, inside the part of the log that was flushed "
                "(up to %" PRIu64 ")", ov->path, cut, ov->header.durable_end);
      return -1;
    }
    /* A torn record: replay again without it and what follows. */
    ow_debug ("overlay %s: the record at offset %" PRIu64 " was torn", ov->path, cut);
    limit = cut;
    if (reset_state (ov) == -1)
      return -1;
  }
  ow_slots_for_each_extent (ov, drop_check, NULL);
  return ow_slots_rebuild_free (ov);
}

/* ---- Commit records ----
 * The chain runs from the header's last_commit back through each
 * record's block field.  The log below durable_end is never truncated,
 * nor rewritten, so a chain the header reaches stays whole: damage in
 * it is corruption, reported, never taken for the end of the chain. */

static int
commit_damage (struct ow_overlay *ov, uint64_t off, const char *why)
{
  errno = EBADMSG;
  ow_error ("overlay %s is corrupt: %s in the commit record at offset %" PRIu64
            ", in the part of the log that was flushed", ov->path, why, off);
  return -1;
}

/* Read the header of the chain's record at off, which must end by
 * limit (the next record in the chain, or the end of the log) and be
 * number seq (0: any). */
static int
read_commit_link (struct ow_overlay *ov, uint64_t off, uint64_t limit, uint32_t seq,
                  struct ow_record *rec)
{
  uint8_t hdr[OW_REC_HDR_SIZE];
  const char *why;

  if (off < OW_LOG_START || off % OW_REC_ALIGN || off >= limit
      || limit - off < OW_REC_HDR_SIZE)
    return commit_damage (ov, off, "a link outside the log");
  if (ow_file_pread (ov, hdr, sizeof hdr, off) == -1) {
    ow_error ("cannot read overlay %s at offset %" PRIu64 ": %m", ov->path, off);
    return -1;
  }
  if (ow_record_decode (hdr, ov->salt, rec) == -1)
    return commit_damage (ov, off, "bad record header");
  if ((why = check_commit_header (rec, off)))
    return commit_damage (ov, off, why);
  if (ow_record_length (rec->payload_length) > limit - off)
    return commit_damage (ov, off, "a record longer than the room it has");
  if (seq && rec->count != seq)
    return commit_damage (ov, off, "a record out of sequence");
  return 0;
}

/* The newest record: how many there are (ow_get_info), and a check
 * that the header leads to a commit record at all. */
static int
load_commit_head (struct ow_overlay *ov)
{
  struct ow_record rec;

  ov->commit_count = 0;
  if (ov->header.last_commit == 0)
    return 0;
  if (read_commit_link (ov, ov->header.last_commit, atomic_load (&ov->tail), 0,
                        &rec) == -1)
    return -1;
  ov->commit_count = rec.count;
  return 0;
}

int
ow_load (struct ow_overlay *ov)
{
  if (load_index (ov) == -1)
    return -1;
  return load_commit_head (ov);
}

struct commit_link {
  uint64_t offset;
  uint32_t length, crc;         /* of the payload */
};

/* The payload of a link into buf, checked. */
static int
read_commit_payload (struct ow_overlay *ov, const struct commit_link *l, uint8_t *buf)
{
  if (ow_file_pread (ov, buf, l->length, l->offset + OW_REC_HDR_SIZE) == -1) {
    ow_error ("cannot read overlay %s at offset %" PRIu64 ": %m", ov->path,
              l->offset + OW_REC_HDR_SIZE);
    return -1;
  }
  if (ow_crc32c (ov->salt, buf, l->length) != l->crc)
    return commit_damage (ov, l->offset, "checksum mismatch");
  return 0;
}

int
ow_commit_records (struct ow_overlay *ov,
                   int (*fn) (void *opaque, const void *payload, uint32_t len),
                   void *opaque)
{
  struct commit_link *links = NULL;
  size_t n = 0, cap = 0;
  uint32_t seq, longest = 0;
  uint8_t *buf = NULL;
  uint64_t off, limit;
  int r = -1;

  /* The chain as it is now; appends after this do not change it. */
  pthread_mutex_lock (&ov->flush_lock);
  off = ov->header.last_commit;
  seq = ov->commit_count;
  pthread_mutex_unlock (&ov->flush_lock);
  limit = atomic_load (&ov->tail);

  /* Newest to oldest, headers only: each link is checked, and the
   * numbers count down to 1, so the walk ends, offsets falling. */
  for (; off; seq--) {
    struct ow_record rec;
    if (read_commit_link (ov, off, limit, seq, &rec) == -1)
      goto out;
    if (ow_grow_array (&links, &cap, n + 1, sizeof *links) == -1)
      goto oom;
    links[n++] = (struct commit_link) { off, rec.payload_length, rec.payload_crc };
    if (rec.payload_length > longest)
      longest = rec.payload_length;
    limit = off;
    off = rec.block;
  }
  if (n == 0) {
    r = 0;
    goto out;
  }
  buf = malloc (longest);
  if (!buf)
    goto oom;
  /* All of it is checked before fn sees any of it, so that a caller
   * never acts on part of a damaged chain. */
  for (size_t i = n; i-- > 0; )
    if (read_commit_payload (ov, &links[i], buf) == -1)
      goto out;
  for (size_t i = n; i-- > 0; ) {
    if (read_commit_payload (ov, &links[i], buf) == -1)
      goto out;
    if ((r = fn (opaque, buf, links[i].length)) != 0)
      goto out;
  }
  r = 0;
  goto out;

 oom:
  ow_error ("overlay %s: out of memory reading its commit records", ov->path);
 out:
  free (links);
  free (buf);
  return r;
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
      isize = 16;
      if (len != (size_t) rec.count * isize)
        why = "bad length";
      for (uint32_t i = 0; i < rec.count && !why; i++) {
        const uint8_t *it = items + i * isize;
        uint64_t a = ow_get_le64 (it), b = ow_get_le64 (it + 8);
        if (rec.flags & OW_CKPT_EXTENTS) {
          if (a < OW_LOG_START + OW_REC_HDR_SIZE || a % OW_SLOTS_ALIGN || b == 0
              || b > UINT32_MAX || a + b * ov->block_size > h->log_end
              || ow_slots_add_extent (ov, a, b) == -1)
            why = "bad extent";
        }
        else if (rec.flags & OW_CKPT_ZRANGES) {
          if (a >= ov->nblocks || b == 0 || b > ov->nblocks - a
              || ow_index_set_zero_range (&ov->index, a, b, NULL, NULL) == -1)
            why = "bad range";
        }
        else {
          struct ow_loc loc;
          ow_loc_unpack (b, &loc);
          if (a >= ov->nblocks || loc.offset + loc.length > h->log_end
              || (loc.kind == OW_LOC_DATA && !loc.lz4
                  && (loc.length != ov->block_size || !ow_slots_find (ov, loc.offset, NULL)))
              || ow_index_set (&ov->index, a, &loc, NULL) == -1)
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
