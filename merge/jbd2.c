/* oneway-merge: replay of an ext3/ext4 (JBD2) journal.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * The log is a ring of blocks in the journal inode, from s_start on:
 * transactions with consecutive IDs, each made of descriptor blocks
 * (tags naming filesystem blocks, each followed in the log by that
 * block's new content), revoke blocks (filesystem blocks whose earlier
 * logged copies must not be replayed) and a commit block.  It ends at
 * the first block that is not the expected next piece.
 *
 * Four walks over the log, the first three writing nothing:
 *  1. scan: find where the committed log ends, checking the checksums
 *     of descriptor, revoke and commit blocks;
 *  2. revokes: collect the revoke records of committed transactions;
 *  3. check: every tag of a committed transaction names a block of the
 *     filesystem outside the journal, and its data checksum matches;
 *  4. replay: write each logged block not revoked by its transaction
 *     or a later one.
 * A hostile journal is thus refused before anything is written.  Where
 * the kernel treats a problem as the end of the log (a torn or stale
 * transaction) so do we; where the kernel fails the mount, we fail.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "jbd2.h"
#include "jbd2-format.h"
#include "jbd2-revoke.h"
#include "oneway/error.h"

struct journal {
  ext2_filsys fs;
  ext2_ino_t ino;
  uint32_t bs;                  /* block size, of the journal and the fs */
  uint64_t fs_blocks;
  uint32_t maxlen;              /* journal blocks */
  uint32_t first, last;         /* the log ring: logical blocks [first, last) */
  uint32_t start, sequence;     /* where the log starts, and its first ID */
  uint32_t incompat;
  bool csum;                    /* csum v2 or v3: CRC-32C everywhere */
  bool csum_v1;                 /* CRC-32 of each transaction in its commit */
  uint32_t csum_seed;
  size_t tag_size;              /* a tag, without the UUID that may follow */
  size_t tail_size;             /* checksum at the end of descriptor, revoke blocks */
  blk64_t *map;                 /* physical block of each journal block */
  blk64_t *sorted;              /* the same, sorted */
  uint8_t *jsb;                 /* the journal superblock's block */
  uint8_t *buf, *data;          /* a log block, a logged data block */
  struct tag *tags;
  struct jbd2_revoke_table revokes;
  uint32_t end_tid;             /* the first transaction not to replay */
  bool failed_commit;
};

/* A tag of a descriptor block. */
struct tag {
  uint64_t block;               /* filesystem block */
  uint32_t flags;
  uint32_t checksum;            /* csum v2: the low 16 bits */
};

/* Where a walk is: the next log block to read, the transaction it
 * belongs to, and how many log blocks the walk has passed. */
struct cursor {
  uint32_t block;
  uint32_t tid;
  uint64_t steps;
};

static uint32_t
log_length (const struct journal *j)
{
  return j->last - j->first;
}

/* The log block n blocks after block, round the ring. */
static uint32_t
log_add (const struct journal *j, uint32_t block, uint64_t n)
{
  return j->first + (uint32_t) ((block - j->first + n) % log_length (j));
}

static void
advance (const struct journal *j, struct cursor *c, uint64_t n)
{
  c->block = log_add (j, c->block, n);
  c->steps += n;
}

/* jbd2's CRC-32C: no inversion before or after, as ext4 uses it. */
static uint32_t
crc32c (uint32_t crc, const void *buf, size_t len)
{
  return ext2fs_crc32c_le (crc, buf, len);
}

/* The big-endian CRC-32 (polynomial 0x04c11db7, no inversions) of
 * journals with the v1 transaction checksum. */
static uint32_t
crc32_be (uint32_t crc, const uint8_t *p, size_t len)
{
  static uint32_t table[256];

  if (table[1] == 0)
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i << 24;
      for (int k = 0; k < 8; k++)
        c = c << 1 ^ (c & 0x80000000U ? 0x04c11db7U : 0);
      table[i] = c;
    }
  while (len--)
    crc = crc << 8 ^ table[(crc >> 24 ^ *p++) & 0xff];
  return crc;
}

static int
read_journal_block (struct journal *j, uint32_t lblk, uint8_t *buf)
{
  errcode_t err = io_channel_read_blk64 (j->fs->io, j->map[lblk], 1, buf);

  if (err) {
    ow_error ("journal block %" PRIu32 " (filesystem block %llu): read: %s",
              lblk, (unsigned long long) j->map[lblk], error_message (err));
    errno = EIO;
    return -1;
  }
  return 0;
}

static int
compare_blocks (const void *a, const void *b)
{
  blk64_t x = *(const blk64_t *) a, y = *(const blk64_t *) b;
  return x < y ? -1 : x > y;
}

static bool
in_journal (const struct journal *j, uint64_t block)
{
  blk64_t key = block;
  return bsearch (&key, j->sorted, j->maxlen, sizeof key, compare_blocks) != NULL;
}

/* Map the journal inode's first n blocks.  Only the superblock's block
 * is mapped first; the rest once s_maxlen is known to be sane. */
static int
map_journal (struct journal *j, struct ext2_inode *inode, uint32_t from, uint32_t n)
{
  for (uint32_t l = from; l < n; l++) {
    blk64_t p = 0;
    errcode_t err = ext2fs_bmap2 (j->fs, j->ino, inode, NULL, 0, l, NULL, &p);

    if (err) {
      ow_error ("journal inode %u: mapping its block %" PRIu32 ": %s",
                j->ino, l, error_message (err));
      errno = EIO;
      return -1;
    }
    if (p == 0) {
      ow_error ("journal inode %u: its block %" PRIu32 " is a hole", j->ino, l);
      errno = EINVAL;
      return -1;
    }
    if (p >= j->fs_blocks || p < j->fs->super->s_first_data_block) {
      ow_error ("journal inode %u: its block %" PRIu32 " maps to block %llu, outside "
                "the filesystem (%llu blocks)", j->ino, l, (unsigned long long) p,
                (unsigned long long) j->fs_blocks);
      errno = EINVAL;
      return -1;
    }
    j->map[l] = p;
  }
  return 0;
}

static const char *
bad_features (uint32_t incompat, uint32_t compat, uint32_t ro_compat)
{
  if (incompat & ~JBD2_KNOWN_INCOMPAT)
    return "unknown incompatible features";
  if (ro_compat)
    return "unknown read-only compatible features";
  if ((incompat & JBD2_INCOMPAT_CSUM_V2) && (incompat & JBD2_INCOMPAT_CSUM_V3))
    return "both checksum v2 and v3";
  if ((compat & JBD2_COMPAT_CHECKSUM)
      && (incompat & (JBD2_INCOMPAT_CSUM_V2 | JBD2_INCOMPAT_CSUM_V3)))
    return "both checksum v1 and v2/v3";
  return NULL;
}

/* Read and check the journal superblock; map the journal. */
static int
load_journal (struct journal *j)
{
  struct ext2_inode inode;
  uint8_t *sb;
  uint64_t inode_blocks;
  uint32_t type, compat = 0, ro_compat = 0;
  const char *why;
  errcode_t err;

  err = ext2fs_read_inode (j->fs, j->ino, &inode);
  if (err) {
    ow_error ("journal inode %u: %s", j->ino, error_message (err));
    errno = EIO;
    return -1;
  }
  inode_blocks = EXT2_I_SIZE (&inode) / j->bs;
  if (inode_blocks < 2) {
    ow_error ("journal inode %u: only %llu bytes long", j->ino,
              (unsigned long long) EXT2_I_SIZE (&inode));
    errno = EINVAL;
    return -1;
  }
  j->map = calloc (1, sizeof *j->map);
  j->jsb = malloc (j->bs);
  j->buf = malloc (j->bs);
  j->data = malloc (j->bs);
  if (!j->map || !j->jsb || !j->buf || !j->data) {
    ow_error ("journal: %m");
    return -1;
  }
  if (map_journal (j, &inode, 0, 1) == -1 || read_journal_block (j, 0, j->jsb) == -1)
    return -1;
  sb = j->jsb;

  type = jbd2_get32 (sb + JBD2_H_BLOCKTYPE);
  if (jbd2_get32 (sb + JBD2_H_MAGIC) != JBD2_MAGIC
      || (type != JBD2_SUPERBLOCK_V1 && type != JBD2_SUPERBLOCK_V2)) {
    ow_error ("journal superblock (inode %u, block 0): not a JBD2 superblock "
              "(magic 0x%08" PRIx32 ", type %" PRIu32 ")",
              j->ino, jbd2_get32 (sb + JBD2_H_MAGIC), type);
    errno = EINVAL;
    return -1;
  }
  if (type == JBD2_SUPERBLOCK_V2) {
    compat = jbd2_get32 (sb + JSB_FEATURE_COMPAT);
    j->incompat = jbd2_get32 (sb + JSB_FEATURE_INCOMPAT);
    ro_compat = jbd2_get32 (sb + JSB_FEATURE_RO_COMPAT);
  }
  if ((why = bad_features (j->incompat, compat, ro_compat)) != NULL) {
    ow_error ("journal superblock: %s (compat 0x%" PRIx32 ", incompat 0x%" PRIx32
              ", ro_compat 0x%" PRIx32 "): cannot replay it",
              why, compat, j->incompat, ro_compat);
    errno = ENOTSUP;
    return -1;
  }
  j->csum = j->incompat & (JBD2_INCOMPAT_CSUM_V2 | JBD2_INCOMPAT_CSUM_V3);
  j->csum_v1 = compat & JBD2_COMPAT_CHECKSUM;
  if (j->csum) {
    uint32_t stored = jbd2_get32 (sb + JSB_CHECKSUM), computed;

    if (sb[JSB_CHECKSUM_TYPE] != JBD2_CHECKSUM_CRC32C) {
      ow_error ("journal superblock: checksum type %u, expected %u (crc32c)",
                sb[JSB_CHECKSUM_TYPE], JBD2_CHECKSUM_CRC32C);
      errno = ENOTSUP;
      return -1;
    }
    jbd2_put32 (sb + JSB_CHECKSUM, 0);
    computed = crc32c (~0U, sb, JSB_SIZE);
    jbd2_put32 (sb + JSB_CHECKSUM, stored);
    if (stored != computed) {
      ow_error ("journal superblock: checksum 0x%08" PRIx32 " but its content "
                "gives 0x%08" PRIx32, stored, computed);
      errno = EINVAL;
      return -1;
    }
    j->csum_seed = crc32c (~0U, sb + JSB_UUID, 16);
  }

  if (jbd2_get32 (sb + JSB_BLOCKSIZE) != j->bs) {
    ow_error ("journal superblock: block size %" PRIu32 ", the filesystem's is %" PRIu32,
              jbd2_get32 (sb + JSB_BLOCKSIZE), j->bs);
    errno = EINVAL;
    return -1;
  }
  j->maxlen = jbd2_get32 (sb + JSB_MAXLEN);
  j->first = jbd2_get32 (sb + JSB_FIRST);
  j->start = jbd2_get32 (sb + JSB_START);
  j->sequence = jbd2_get32 (sb + JSB_SEQUENCE);
  j->last = j->maxlen;
  if (j->incompat & JBD2_INCOMPAT_FAST_COMMIT) {
    /* The fast-commit area is at the end, outside the ring. */
    uint32_t fc = jbd2_get32 (sb + JSB_NUM_FC_BLOCKS);

    if (fc == 0)
      fc = JBD2_DEFAULT_FC_BLOCKS;
    j->last = j->maxlen > fc ? j->maxlen - fc : 0;
  }
  if (j->maxlen > inode_blocks || j->first == 0 || j->first >= j->last
      || (j->start != 0 && (j->start < j->first || j->start >= j->last))) {
    ow_error ("journal superblock: impossible layout: %" PRIu32 " blocks (the journal "
              "inode has %llu), log from block %" PRIu32 " to %" PRIu32 ", starting at %"
              PRIu32, j->maxlen, (unsigned long long) inode_blocks, j->first, j->last,
              j->start);
    errno = EINVAL;
    return -1;
  }

  if (j->incompat & JBD2_INCOMPAT_CSUM_V3)
    j->tag_size = JBD2_TAG3_SIZE;
  else {
    j->tag_size = 12;
    if (j->incompat & JBD2_INCOMPAT_CSUM_V2)
      j->tag_size += 2;
    if (!(j->incompat & JBD2_INCOMPAT_64BIT))
      j->tag_size -= 4;
  }
  j->tail_size = j->csum ? JBD2_TAIL_SIZE : 0;

  /* Bounded by the inode's size, itself bounded by the filesystem. */
  free (j->map);
  j->map = calloc (j->maxlen, sizeof *j->map);
  j->sorted = calloc (j->maxlen, sizeof *j->sorted);
  j->tags = calloc ((j->bs - JBD2_HEADER_SIZE) / j->tag_size, sizeof *j->tags);
  if (!j->map || !j->sorted || !j->tags) {
    ow_error ("journal: %" PRIu32 " blocks: %m", j->maxlen);
    return -1;
  }
  if (map_journal (j, &inode, 0, j->maxlen) == -1)
    return -1;
  memcpy (j->sorted, j->map, j->maxlen * sizeof *j->map);
  qsort (j->sorted, j->maxlen, sizeof *j->sorted, compare_blocks);
  return 0;
}

/* The tags of the descriptor block in j->buf, into j->tags. */
static size_t
parse_tags (struct journal *j)
{
  const uint8_t *d = j->buf;
  size_t off = JBD2_HEADER_SIZE, end = j->bs - j->tail_size, n = 0;
  bool v3 = j->incompat & JBD2_INCOMPAT_CSUM_V3;

  while (off + j->tag_size <= end) {
    const uint8_t *t = d + off;
    struct tag *tag = &j->tags[n++];

    tag->block = jbd2_get32 (t + JBD2_TAG_BLOCKNR);
    if (j->incompat & JBD2_INCOMPAT_64BIT)
      tag->block |= (uint64_t) jbd2_get32 (t + JBD2_TAG_BLOCKNR_HIGH) << 32;
    /* The kernel reads only the low 16 bits of tag3's flags. */
    tag->flags = v3 ? jbd2_get32 (t + JBD2_TAG3_FLAGS) & 0xffff
      : jbd2_get16 (t + JBD2_TAG_FLAGS);
    tag->checksum = v3 ? jbd2_get32 (t + JBD2_TAG3_CHECKSUM)
      : j->csum ? jbd2_get16 (t + JBD2_TAG_CHECKSUM) : 0;
    off += j->tag_size;
    if (!(tag->flags & JBD2_FLAG_SAME_UUID))
      off += JBD2_TAG_UUID_SIZE;
    if (tag->flags & JBD2_FLAG_LAST_TAG)
      break;
  }
  return n;
}

/* Descriptor and revoke blocks: CRC-32C of the block with its tail zeroed. */
static bool
tail_ok (struct journal *j, uint8_t *b)
{
  uint8_t *tail = b + j->bs - JBD2_TAIL_SIZE;
  uint32_t stored, computed;

  if (!j->csum)
    return true;
  stored = jbd2_get32 (tail);
  jbd2_put32 (tail, 0);
  computed = crc32c (j->csum_seed, b, j->bs);
  jbd2_put32 (tail, stored);
  return stored == computed;
}

static bool
commit_ok (struct journal *j, uint8_t *b)
{
  uint32_t stored, computed;

  if (!j->csum)
    return true;
  stored = jbd2_get32 (b + JBD2_C_CHKSUM);
  jbd2_put32 (b + JBD2_C_CHKSUM, 0);
  computed = crc32c (j->csum_seed, b, j->bs);
  jbd2_put32 (b + JBD2_C_CHKSUM, stored);
  return stored == computed;
}

/* A logged block against its tag's checksum: CRC-32C of the transaction
 * ID (big-endian) and the block, truncated to 16 bits with csum v2. */
static bool
data_ok (struct journal *j, const struct tag *tag, const uint8_t *data, uint32_t tid)
{
  uint8_t seq[4];
  uint32_t c;

  jbd2_put32 (seq, tid);
  c = crc32c (crc32c (j->csum_seed, seq, 4), data, j->bs);
  if (!(j->incompat & JBD2_INCOMPAT_CSUM_V3))
    c &= 0xffff;
  return c == tag->checksum;
}

static void
unescape (uint8_t *data)
{
  jbd2_put32 (data, JBD2_MAGIC);
}

/* Read the next log block into j->buf: 1 if it is a piece of
 * transaction c->tid, 0 if not (the end of the log), -1 on error. */
static int
read_header (struct journal *j, struct cursor *c, uint32_t *lblk, uint32_t *type)
{
  *lblk = c->block;
  if (read_journal_block (j, c->block, j->buf) == -1)
    return -1;
  advance (j, c, 1);
  *type = jbd2_get32 (j->buf + JBD2_H_BLOCKTYPE);
  return jbd2_get32 (j->buf + JBD2_H_MAGIC) == JBD2_MAGIC
    && jbd2_get32 (j->buf + JBD2_H_SEQUENCE) == c->tid;
}

/* Pass 1: find the end of the committed log. */
static int
scan_log (struct journal *j)
{
  struct cursor c = { j->start, j->sequence, 0 };
  bool in_transaction = false, bad_block = false, end_known = false;
  uint64_t last_commit_time = 0;
  uint32_t crc_v1 = ~0U;

  for (;;) {
    uint32_t lblk, type;
    int r;

    /* Back at the start: the log fills the ring, and the block there
     * belongs to the first transaction, not to the next. */
    if (c.steps >= log_length (j)) {
      if (in_transaction) {
        ow_error ("journal: transaction %" PRIu32 " runs past the start of the log "
                  "(block %" PRIu32 "): corrupt journal", c.tid, j->start);
        errno = EINVAL;
        return -1;
      }
      break;
    }
    r = read_header (j, &c, &lblk, &type);
    if (r == -1)
      return -1;
    if (r == 0)
      break;

    if (type == JBD2_DESCRIPTOR_BLOCK) {
      size_t n;

      /* A stale block from an earlier lap may look like the next one
       * (lazily initialised journals): the commit block decides. */
      if (!tail_ok (j, j->buf))
        bad_block = true;
      in_transaction = true;
      n = parse_tags (j);
      if (c.steps + n > log_length (j)) {
        ow_error ("journal block %" PRIu32 " (transaction %" PRIu32 "): its %zu "
                  "tags run past the start of the log: corrupt journal",
                  lblk, c.tid, n);
        errno = EINVAL;
        return -1;
      }
      if (j->csum_v1 && !bad_block && !end_known) {
        crc_v1 = crc32_be (crc_v1, j->buf, j->bs);
        for (size_t i = 0; i < n; i++) {
          if (read_journal_block (j, log_add (j, c.block, i), j->data) == -1)
            return -1;
          crc_v1 = crc32_be (crc_v1, j->data, j->bs);
        }
      }
      advance (j, &c, n);
    }
    else if (type == JBD2_REVOKE_BLOCK) {
      if (!tail_ok (j, j->buf))
        bad_block = true;
      in_transaction = true;
    }
    else if (type == JBD2_COMMIT_BLOCK) {
      uint64_t commit_time = jbd2_get64 (j->buf + JBD2_C_COMMIT_SEC);
      bool ok = true;

      if (bad_block) {
        if (commit_time >= last_commit_time) {
          ow_error ("journal transaction %" PRIu32 " (commit in journal block %"
                    PRIu32 "): a descriptor or revoke block fails its checksum",
                    c.tid, lblk);
          errno = EINVAL;
          return -1;
        }
        break;                  /* stale: the log ended before it */
      }
      if (j->csum_v1) {
        uint8_t t = j->buf[JBD2_C_CHKSUM_TYPE], s = j->buf[JBD2_C_CHKSUM_SIZE];
        uint32_t found = jbd2_get32 (j->buf + JBD2_C_CHKSUM);

        if (end_known) {
          j->failed_commit = true;
          break;
        }
        ok = (t == JBD2_CHECKSUM_CRC32 && s == 4 && found == crc_v1)
          || (t == 0 && s == 0 && found == 0);
        crc_v1 = ~0U;
      }
      if (ok)
        ok = commit_ok (j, j->buf);
      if (!ok) {
        if (commit_time < last_commit_time)
          break;                /* stale */
        if (!end_known) {
          j->end_tid = c.tid;
          end_known = true;
        }
        /* Without async commit, the commit block is written after the
         * rest of the transaction is on disk: it being bad means the
         * journal is damaged, and the kernel says so. */
        if (!(j->incompat & JBD2_INCOMPAT_ASYNC_COMMIT)) {
          j->failed_commit = true;
          break;
        }
      }
      last_commit_time = commit_time;
      in_transaction = false;
      c.tid++;
    }
    else
      break;
  }
  if (!end_known)
    j->end_tid = c.tid;
  return 0;
}

/* Passes 2 to 4 walk the committed log that pass 1 found, calling fn
 * on each descriptor block (with its tags in j->tags) and each revoke
 * block (in j->buf).  cur is at the block after it. */
typedef int (*block_fn) (struct journal *j, const struct cursor *cur, uint32_t lblk,
                         uint32_t type, size_t ntags, void *opaque);

static int
walk_committed (struct journal *j, block_fn fn, void *opaque)
{
  struct cursor c = { j->start, j->sequence, 0 };

  while (c.tid != j->end_tid) {
    uint32_t lblk, type;
    size_t n = 0;
    int r;

    if (c.steps >= log_length (j))
      r = 0;
    else
      r = read_header (j, &c, &lblk, &type);
    if (r == -1)
      return -1;
    if (r == 0) {
      ow_error ("journal: transaction %" PRIu32 " is no longer where the first "
                "pass found it: the journal changed while it was read", c.tid);
      errno = EIO;
      return -1;
    }
    if (type == JBD2_COMMIT_BLOCK) {
      c.tid++;
      continue;
    }
    if (type == JBD2_DESCRIPTOR_BLOCK)
      n = parse_tags (j);
    if (fn (j, &c, lblk, type, n, opaque) == -1)
      return -1;
    advance (j, &c, n);
  }
  return 0;
}

/* Pass 2. */
static int
collect_revokes (struct journal *j, const struct cursor *c, uint32_t lblk,
                 uint32_t type, size_t ntags, void *opaque)
{
  uint32_t count, rec = (j->incompat & JBD2_INCOMPAT_64BIT) ? 8 : 4;

  if (type != JBD2_REVOKE_BLOCK)
    return 0;
  count = jbd2_get32 (j->buf + JBD2_R_COUNT);
  if (count > j->bs - j->tail_size) {
    ow_error ("journal block %" PRIu32 " (transaction %" PRIu32 "): revoke block "
              "claims %" PRIu32 " bytes, more than the block holds", lblk, c->tid, count);
    errno = EINVAL;
    return -1;
  }
  for (uint32_t off = JBD2_R_RECORDS; off + rec <= count; off += rec) {
    uint64_t block = rec == 8 ? jbd2_get64 (j->buf + off) : jbd2_get32 (j->buf + off);

    /* A block outside the filesystem has no tag to cancel: tags are
     * checked against the filesystem's size before anything happens. */
    if (block < j->fs_blocks && jbd2_revoke_add (&j->revokes, block, c->tid) == -1) {
      ow_error ("journal: revoke table: %m");
      return -1;
    }
  }
  return 0;
}

struct counts {
  uint64_t replayed, revoked;
};

/* Pass 3: everything that pass 4 will do is possible and sound. */
static int
check_tags (struct journal *j, const struct cursor *c, uint32_t lblk,
            uint32_t type, size_t ntags, void *opaque)
{
  struct counts *counts = opaque;

  if (type != JBD2_DESCRIPTOR_BLOCK)
    return 0;
  for (size_t i = 0; i < ntags; i++) {
    const struct tag *tag = &j->tags[i];
    uint32_t dblk = log_add (j, c->block, i);

    if (tag->block >= j->fs_blocks) {
      ow_error ("journal block %" PRIu32 " (transaction %" PRIu32 "): descriptor tag "
                "points at block %llu past the end of the filesystem (%llu blocks)",
                lblk, c->tid, (unsigned long long) tag->block,
                (unsigned long long) j->fs_blocks);
      errno = EINVAL;
      return -1;
    }
    if (in_journal (j, tag->block)) {
      ow_error ("journal block %" PRIu32 " (transaction %" PRIu32 "): descriptor tag "
                "points at block %llu, which is part of the journal itself",
                lblk, c->tid, (unsigned long long) tag->block);
      errno = EINVAL;
      return -1;
    }
    if (jbd2_revoked (&j->revokes, tag->block, c->tid)) {
      counts->revoked++;
      continue;
    }
    if (j->csum) {
      if (read_journal_block (j, dblk, j->data) == -1)
        return -1;
      /* Which copy the writer summed, escaped or not, has varied. */
      if (!data_ok (j, tag, j->data, c->tid)
          && !((tag->flags & JBD2_FLAG_ESCAPE)
               && (unescape (j->data), data_ok (j, tag, j->data, c->tid)))) {
        ow_error ("journal block %" PRIu32 " (transaction %" PRIu32 "): the logged "
                  "copy of filesystem block %llu fails its checksum",
                  dblk, c->tid, (unsigned long long) tag->block);
        errno = EINVAL;
        return -1;
      }
    }
    counts->replayed++;
  }
  return 0;
}

/* Pass 4. */
static int
replay_tags (struct journal *j, const struct cursor *c, uint32_t lblk,
             uint32_t type, size_t ntags, void *opaque)
{
  if (type != JBD2_DESCRIPTOR_BLOCK)
    return 0;
  for (size_t i = 0; i < ntags; i++) {
    const struct tag *tag = &j->tags[i];
    errcode_t err;

    if (jbd2_revoked (&j->revokes, tag->block, c->tid))
      continue;
    if (read_journal_block (j, log_add (j, c->block, i), j->data) == -1)
      return -1;
    if (tag->flags & JBD2_FLAG_ESCAPE)
      unescape (j->data);
    err = io_channel_write_blk64 (j->fs->io, tag->block, 1, j->data);
    if (err) {
      ow_error ("replaying transaction %" PRIu32 ": writing filesystem block %llu: %s",
                c->tid, (unsigned long long) tag->block, error_message (err));
      errno = EIO;
      return -1;
    }
  }
  return 0;
}

/* The fast-commit area holds blocks for the transaction after the last
 * full commit when it starts with a head tag naming that transaction.
 * Replaying those means redoing ext4's logical operations: not done. */
static int
refuse_fast_commits (struct journal *j)
{
  uint32_t fc_first = j->last + 1;
  const uint8_t *d = j->data, *tid = d + EXT4_FC_HEAD_TID;

  if (!(j->incompat & JBD2_INCOMPAT_FAST_COMMIT) || fc_first >= j->maxlen)
    return 0;
  if (read_journal_block (j, fc_first, j->data) == -1)
    return -1;
  if ((d[0] | d[1] << 8) == EXT4_FC_TAG_HEAD
      && (tid[0] | tid[1] << 8 | tid[2] << 16 | (uint32_t) tid[3] << 24) == j->end_tid) {
    ow_error ("journal: holds fast commits for transaction %" PRIu32 "; replaying "
              "those is not supported (let the kernel or e2fsck recover it)", j->end_tid);
    errno = ENOTSUP;
    return -1;
  }
  return 0;
}

/* The journal is empty from now on, starting after the last
 * transaction that may have reached it (the kernel skips one ID so a
 * torn transaction's blocks can never look like the next one's). */
static int
write_journal_superblock (struct journal *j)
{
  uint8_t *sb = j->jsb;
  errcode_t err;

  jbd2_put32 (sb + JSB_START, 0);
  jbd2_put32 (sb + JSB_SEQUENCE, j->end_tid + 1);
  if (j->csum) {
    jbd2_put32 (sb + JSB_CHECKSUM, 0);
    jbd2_put32 (sb + JSB_CHECKSUM, crc32c (~0U, sb, JSB_SIZE));
  }
  err = io_channel_write_blk64 (j->fs->io, j->map[0], 1, sb);
  if (err) {
    ow_error ("journal superblock (filesystem block %llu): write: %s",
              (unsigned long long) j->map[0], error_message (err));
    errno = EIO;
    return -1;
  }
  return 0;
}

/* The filesystem superblock, as the replay may have rewritten it: read
 * it from disk, clear RECOVER there and write it back.  A corrupt
 * transaction marks the filesystem as having errors, as e2fsck does
 * (the kernel too, through the journal's errno), so that it gets a
 * full check before it is trusted. */
static int
clear_recover_on_disk (ext2_filsys fs, bool errors, uint8_t *block, uint32_t *last_orphan)
{
  blk64_t blk = SUPERBLOCK_OFFSET / fs->blocksize;
  struct ext2_super_block *sb =
    (struct ext2_super_block *) (block + SUPERBLOCK_OFFSET % fs->blocksize);
  errcode_t err;

  err = io_channel_read_blk64 (fs->io, blk, 1, block);
  if (!err) {
    sb->s_feature_incompat &= ext2fs_cpu_to_le32 (~EXT3_FEATURE_INCOMPAT_RECOVER);
    if (errors)
      sb->s_state |= ext2fs_cpu_to_le16 (EXT2_ERROR_FS);
    if (sb->s_feature_ro_compat & ext2fs_cpu_to_le32 (EXT4_FEATURE_RO_COMPAT_METADATA_CSUM))
      sb->s_checksum = ext2fs_cpu_to_le32 (crc32c (~0U, sb,
                                                   offsetof (struct ext2_super_block,
                                                             s_checksum)));
    err = io_channel_write_blk64 (fs->io, blk, 1, block);
  }
  if (!err)
    err = io_channel_flush (fs->io);
  if (err) {
    ow_error ("filesystem superblock: clearing the recovery flag: %s",
              error_message (err));
    errno = EIO;
    return -1;
  }
  *last_orphan = ext2fs_le32_to_cpu (sb->s_last_orphan);
  return 0;
}

/* The length of the orphan list (linked through i_dtime), bounded by
 * the number of inodes even if it loops. */
static uint32_t
count_orphans (ext2_filsys fs, uint32_t ino)
{
  uint32_t n = 0;

  ext2fs_flush_icache (fs);
  while (ino != 0 && ino <= fs->super->s_inodes_count && n < fs->super->s_inodes_count) {
    struct ext2_inode inode;

    n++;
    if (ext2fs_read_inode (fs, ino, &inode) != 0)
      break;
    ino = inode.i_dtime;
  }
  return n;
}

static void
free_journal (struct journal *j)
{
  free (j->map);
  free (j->sorted);
  free (j->jsb);
  free (j->buf);
  free (j->data);
  free (j->tags);
  jbd2_revoke_free (&j->revokes);
}

/* Whether the filesystem, marked for recovery, has a journal we can
 * replay: 1 if so, else -1 with the reason. */
static int
has_internal_journal (ext2_filsys fs)
{
  static const uint8_t null_uuid[16];
  struct ext2_super_block *s = fs->super;

  if (ext2fs_has_feature_journal_dev (s)) {
    ow_error ("this is an external journal device, not a filesystem");
    errno = ENOTSUP;
    return -1;
  }
  if (!ext2fs_has_feature_journal (s)) {
    ow_error ("filesystem: needs recovery but has no journal");
    errno = EINVAL;
    return -1;
  }
  if (s->s_journal_inum == 0) {
    if (s->s_journal_dev || memcmp (s->s_journal_uuid, null_uuid, 16) != 0)
      ow_error ("filesystem: its journal is on an external device: not supported");
    else
      ow_error ("filesystem: has a journal but no journal inode");
    errno = ENOTSUP;
    return -1;
  }
  if (s->s_journal_inum > s->s_inodes_count) {
    ow_error ("filesystem: journal inode %u does not exist (%u inodes)",
              s->s_journal_inum, s->s_inodes_count);
    errno = EINVAL;
    return -1;
  }
  return 1;
}

int
jbd2_replay (ext2_filsys fs, bool dry_run, struct jbd2_replay_result *result)
{
  struct journal j = { .fs = fs };
  struct counts counts = { 0, 0 };
  uint32_t last_orphan = fs->super->s_last_orphan;
  int r = -1;

  memset (result, 0, sizeof *result);
  /* The kernel mounts a filesystem not marked for recovery without
   * replaying anything, whatever its journal holds (and then empties
   * the journal): the view we show is the same. */
  if (!ext2fs_has_feature_journal_needs_recovery (fs->super))
    return 0;
  if (!dry_run && !(fs->flags & EXT2_FLAG_RW)) {
    ow_error ("filesystem: needs recovery but is opened read-only");
    errno = EROFS;
    return -1;
  }
  if (has_internal_journal (fs) == -1)
    return -1;
  j.ino = fs->super->s_journal_inum;
  j.bs = fs->blocksize;
  j.fs_blocks = ext2fs_blocks_count (fs->super);
  jbd2_revoke_init (&j.revokes);
  if (load_journal (&j) == -1)
    goto out;

  result->first_tid = result->next_tid = j.sequence;
  result->needed = true;
  if (j.start == 0)
    j.end_tid = j.sequence;     /* marked, but the log is empty */
  else if (scan_log (&j) == -1
           || refuse_fast_commits (&j) == -1
           || walk_committed (&j, collect_revokes, NULL) == -1
           || walk_committed (&j, check_tags, &counts) == -1)
    goto out;

  result->transactions = j.end_tid - j.sequence;
  result->next_tid = j.end_tid;
  result->blocks_replayed = counts.replayed;
  result->blocks_revoked = counts.revoked;
  result->failed_commit = j.failed_commit;
  result->failed_tid = j.failed_commit ? j.end_tid : 0;

  if (dry_run) {
    result->orphans = last_orphan ? count_orphans (fs, last_orphan) : 0;
    r = 0;
    goto out;
  }
  if (j.start != 0 && walk_committed (&j, replay_tags, NULL) == -1)
    goto out;
  if (io_channel_flush (fs->io) != 0) {
    ow_error ("replaying the journal: flushing the filesystem's blocks failed");
    errno = EIO;
    goto out;
  }
  if (write_journal_superblock (&j) == -1
      || clear_recover_on_disk (fs, j.failed_commit, j.data, &last_orphan) == -1)
    goto out;
  /* What fs holds in memory is from before the replay; see jbd2.h. */
  fs->super->s_feature_incompat &= ~EXT3_FEATURE_INCOMPAT_RECOVER;
  fs->flags &= ~EXT2_FLAG_RW;
  result->orphans = last_orphan ? count_orphans (fs, last_orphan) : 0;
  r = 0;
 out:
  free_journal (&j);
  return r;
}
