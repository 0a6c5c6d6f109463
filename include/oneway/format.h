/* oneway: the on-disk overlay format (docs/overlay-format.md).
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * This header and lib/format.c are the only places that know byte
 * offsets; everything else works on the decoded structures.
 */
#ifndef ONEWAY_FORMAT_H
#define ONEWAY_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OW_MAGIC "ONEWAYOV"
#define OW_VERSION 1
#define OW_HEADER_SLOT_SIZE 4096
#define OW_LOG_START (2 * OW_HEADER_SLOT_SIZE)
#define OW_BASE_NAME_MAX 1024
#define OW_FINGERPRINT_SIZE 32

/* Feature bits.  A reader refuses an overlay with an incompat bit it
 * does not know, and refuses to write one with an unknown ro_compat
 * bit. */
#define OW_INCOMPAT_COMMIT_RECORDS 1    /* the log may hold COMMIT records */
#define OW_INCOMPAT_KNOWN OW_INCOMPAT_COMMIT_RECORDS
#define OW_RO_COMPAT_KNOWN 0

/* Header flags. */
#define OW_HDR_CLEAN 1          /* closed cleanly: checkpoint is valid */
#define OW_HDR_TRACK_READS 2    /* the read set was being recorded */
#define OW_HDR_READ_ALL 4       /* the read set could not be logged within
                                   max-overlay-size: take every block as read */
#define OW_HDR_FLAGS_KNOWN (OW_HDR_CLEAN | OW_HDR_TRACK_READS | OW_HDR_READ_ALL)

enum ow_compress { OW_COMPRESS_NONE = 0, OW_COMPRESS_LZ4 = 1 };

/* How the base fingerprint was computed (see lib/fingerprint.c). */
#define OW_FINGERPRINT_SAMPLED_SHA256 1

struct ow_header {
  uint32_t version;
  uint64_t incompat, ro_compat, compat;
  uint64_t generation;          /* the newer of the two slots wins */
  uint8_t uuid[16];
  uint32_t block_size;
  uint32_t compress;            /* default for new writes */
  uint64_t base_size;
  uint32_t fingerprint_method;
  uint8_t fingerprint[OW_FINGERPRINT_SIZE];
  uint32_t flags;
  uint64_t created;             /* seconds since the epoch */
  uint64_t durable_end;         /* records below this were fsynced */
  uint64_t log_end;             /* if clean: end of the last record */
  uint64_t checkpoint_offset;   /* if clean: where the checkpoint starts */
  uint64_t checkpoint_length;
  uint64_t last_commit;         /* the newest chained COMMIT record, 0: none */
  char base_name[OW_BASE_NAME_MAX + 1];
};

/* Encode into / decode from one OW_HEADER_SLOT_SIZE slot.  Decoding
 * returns 0 if the slot holds a header with a good checksum, -1 if
 * not (no magic, or torn). */
void ow_header_encode (const struct ow_header *h, uint8_t *slot);
int ow_header_decode (const uint8_t *slot, struct ow_header *h);

/* Records.  Every record starts on an 8-byte boundary with this
 * 32-byte header; its total length is OW_REC_HDR_SIZE + payload_length
 * rounded up to 8. */
#define OW_REC_MAGIC 0x3152574fU        /* "OWR1" */
#define OW_REC_HDR_SIZE 32
#define OW_REC_ALIGN 8

enum ow_record_type {
  OW_REC_DATA = 1,              /* count blocks from block: descriptors, then data */
  OW_REC_ZERO = 2,              /* count blocks from block read as zeroes */
  OW_REC_READSET = 3,           /* lz4'ed (leaf index, bitmap) pairs to OR in */
  OW_REC_CHECKPOINT = 4,        /* one part of an index snapshot */
  OW_REC_PAD = 5,               /* filler: alignment, or a failed write */
  OW_REC_SLOTS = 6,             /* an extent of raw-block slots follows */
  OW_REC_COMMIT = 7,            /* what a commit applied: the merge tool's bytes */
};

struct ow_record {
  uint8_t type;
  uint8_t flags;
  uint32_t count;
  uint32_t payload_length;
  uint64_t block;
  uint32_t payload_crc;         /* DATA: of the descriptor table */
};

/* A DATA record's payload starts with count descriptors of 16 bytes:
 * the stored length with flags, the CRC of the stored bytes, and the
 * file offset of the slot holding them (SLOT), else 0.  Compressed
 * bytes follow the descriptor table.  Stored length 0 means the block
 * is all zeroes and has no bytes. */
#define OW_DESC_SIZE 16
#define OW_DESC_LZ4 0x80000000U
#define OW_DESC_SLOT 0x40000000U
#define OW_DESC_LEN_MASK 0x00ffffffU

/* SLOTS records end on this boundary, so their slots are page-aligned. */
#define OW_SLOTS_ALIGN 4096

/* CHECKPOINT and READSET payloads are lz4-compressed when this flag
 * is set; the uncompressed length is then in `block`. */
#define OW_REC_FLAG_LZ4 1

/* A READSET record's items are (leaf index, 4096 bytes of bits to OR
 * in), or with this flag just leaf indexes: every block of those leaves
 * was read (a coarser read set that fits when space is short). */
#define OW_READSET_WHOLE_LEAVES 2

/* A CHECKPOINT part holds single-block entries, 16 bytes each (block,
 * packed location); with ZRANGES, zero ranges (first block, count); with
 * EXTENTS, slot extents (offset of the first slot, number of slots). */
#define OW_CKPT_ZRANGES 2
#define OW_CKPT_EXTENTS 4

/* A COMMIT record's payload is the merge tool's, 1 byte to this many;
 * its count is its number in the chain of commit records (1 for the
 * first) and its block the offset of the record before it in the chain
 * (0 for the first).  The header's last_commit is the chain's head. */
#define OW_COMMIT_RECORD_MAX (64u << 20)

void ow_record_encode (const struct ow_record *r, uint32_t salt, uint8_t *hdr);
int ow_record_decode (const uint8_t *hdr, uint32_t salt, struct ow_record *r);

static inline uint64_t
ow_record_length (uint32_t payload_length)
{
  return (OW_REC_HDR_SIZE + (uint64_t) payload_length + OW_REC_ALIGN - 1)
    & ~(uint64_t) (OW_REC_ALIGN - 1);
}

/* Little-endian helpers. */
static inline void
ow_put_le32 (uint8_t *p, uint32_t v)
{
  p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24;
}

static inline void
ow_put_le64 (uint8_t *p, uint64_t v)
{
  ow_put_le32 (p, (uint32_t) v);
  ow_put_le32 (p + 4, (uint32_t) (v >> 32));
}

static inline uint32_t
ow_get_le32 (const uint8_t *p)
{
  return p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static inline uint64_t
ow_get_le64 (const uint8_t *p)
{
  return ow_get_le32 (p) | (uint64_t) ow_get_le32 (p + 4) << 32;
}

#endif /* ONEWAY_FORMAT_H */
