/* oneway-merge: the on-disk layout of a JBD2 journal.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * Written from the format as documented for ext4 (the kernel's
 * Documentation/filesystems/ext4/journal.rst).  All journal fields are
 * big-endian; they are read byte by byte, so no struct layout or
 * alignment is assumed.  Offsets are in bytes from the block start.
 */
#ifndef ONEWAY_MERGE_JBD2_FORMAT_H
#define ONEWAY_MERGE_JBD2_FORMAT_H

#include <stdint.h>

#define JBD2_MAGIC 0xc03b3998U

/* Every metadata block of the journal starts with this header. */
#define JBD2_H_MAGIC 0
#define JBD2_H_BLOCKTYPE 4
#define JBD2_H_SEQUENCE 8
#define JBD2_HEADER_SIZE 12

#define JBD2_DESCRIPTOR_BLOCK 1
#define JBD2_COMMIT_BLOCK 2
#define JBD2_SUPERBLOCK_V1 3
#define JBD2_SUPERBLOCK_V2 4
#define JBD2_REVOKE_BLOCK 5

/* The journal superblock, logical block 0 of the journal. */
#define JSB_BLOCKSIZE 0x0c
#define JSB_MAXLEN 0x10          /* blocks in the journal */
#define JSB_FIRST 0x14           /* first block of the log */
#define JSB_SEQUENCE 0x18        /* first transaction expected in the log */
#define JSB_START 0x1c           /* where the log starts; 0: it is empty */
#define JSB_ERRNO 0x20
#define JSB_FEATURE_COMPAT 0x24
#define JSB_FEATURE_INCOMPAT 0x28
#define JSB_FEATURE_RO_COMPAT 0x2c
#define JSB_UUID 0x30
#define JSB_NR_USERS 0x40
#define JSB_CHECKSUM_TYPE 0x50   /* one byte */
#define JSB_NUM_FC_BLOCKS 0x54
#define JSB_CHECKSUM 0xfc
#define JSB_SIZE 0x400           /* the checksum covers this much */

#define JBD2_COMPAT_CHECKSUM 0x1 /* v1: CRC-32 of a transaction in its commit */
#define JBD2_INCOMPAT_REVOKE 0x1
#define JBD2_INCOMPAT_64BIT 0x2
#define JBD2_INCOMPAT_ASYNC_COMMIT 0x4
#define JBD2_INCOMPAT_CSUM_V2 0x8
#define JBD2_INCOMPAT_CSUM_V3 0x10
#define JBD2_INCOMPAT_FAST_COMMIT 0x20
#define JBD2_KNOWN_INCOMPAT 0x3f

#define JBD2_CHECKSUM_CRC32 1
#define JBD2_CHECKSUM_CRC32C 4

/* Without a count in the superblock, a fast-commit area has this size. */
#define JBD2_DEFAULT_FC_BLOCKS 256
#define JBD2_MIN_JOURNAL_BLOCKS 1024

/* Commit block: after the header. */
#define JBD2_C_CHKSUM_TYPE 12    /* one byte */
#define JBD2_C_CHKSUM_SIZE 13    /* one byte */
#define JBD2_C_CHKSUM 16         /* be32 [8]; csum v2/v3 and v1 use the first */
#define JBD2_C_COMMIT_SEC 48     /* be64 */

/* Descriptor block tags, after the header.  The layout depends on the
 * journal's features; see tag_size in jbd2.c.  Both formats put the
 * block number at 0 and its high half at 8. */
#define JBD2_TAG_BLOCKNR 0
#define JBD2_TAG_BLOCKNR_HIGH 8
#define JBD2_TAG3_FLAGS 4        /* be32 */
#define JBD2_TAG3_CHECKSUM 12    /* be32 */
#define JBD2_TAG_CHECKSUM 4      /* be16, csum v2 */
#define JBD2_TAG_FLAGS 6         /* be16 */
#define JBD2_TAG3_SIZE 16
#define JBD2_TAG_UUID_SIZE 16

#define JBD2_FLAG_ESCAPE 1       /* the block started with the magic: zeroed */
#define JBD2_FLAG_SAME_UUID 2    /* no UUID follows this tag */
#define JBD2_FLAG_DELETED 4
#define JBD2_FLAG_LAST_TAG 8

/* Descriptor and revoke blocks end with a be32 checksum with csum v2/v3. */
#define JBD2_TAIL_SIZE 4

/* Revoke block: be32 count of bytes used, records from 16 on. */
#define JBD2_R_COUNT 12
#define JBD2_R_RECORDS 16

/* The first fast-commit block starts with a head tag (little-endian,
 * as ext4 writes it): tag, length, features, tid. */
#define EXT4_FC_TAG_HEAD 0x0009
#define EXT4_FC_HEAD_TID 8

static inline uint32_t
jbd2_get32 (const uint8_t *p)
{
  return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static inline uint16_t
jbd2_get16 (const uint8_t *p)
{
  return (uint16_t) (p[0] << 8 | p[1]);
}

static inline uint64_t
jbd2_get64 (const uint8_t *p)
{
  return (uint64_t) jbd2_get32 (p) << 32 | jbd2_get32 (p + 4);
}

static inline void
jbd2_put32 (uint8_t *p, uint32_t v)
{
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

/* Transaction IDs wrap: compare them as the kernel does. */
static inline int
jbd2_tid_gt (uint32_t x, uint32_t y)
{
  return (int32_t) (x - y) > 0;
}

#endif
