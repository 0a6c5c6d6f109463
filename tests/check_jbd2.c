/* oneway: unit test of the JBD2 journal replay.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * Real filesystems from mke2fs, journals written by debugfs' journal
 * commands.  Each image is copied: our replay runs on one copy,
 * e2fsck's on the other, and the two must then hold the same blocks
 * outside the journal.  Damaged journals must give an error or a safe
 * result, never a crash (the sanitizer and valgrind runs watch that).
 */
#include <config.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jbd2.h"
#include "jbd2-format.h"
#include "testlib.h"

static int
run (const char *fmt, ...) __attribute__((format (printf, 1, 2)));

static int
run (const char *fmt, ...)
{
  char cmd[4096];
  va_list ap;
  int status;

  va_start (ap, fmt);
  vsnprintf (cmd, sizeof cmd, fmt, ap);
  va_end (ap);
  status = system (cmd);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static void
setup (void)
{
  tl_capture_errors ();
}

static void
teardown (void)
{
  tl_cleanup ();
}

/* ---- images ---- */

struct image {
  char path[512];
  uint32_t bs;
  uint64_t blocks;
  uint32_t jlen;                /* journal blocks */
  uint64_t *jmap;               /* journal logical → physical */
  uint64_t targets[8];          /* free blocks to log, outside the journal */
};

static void
image_free (struct image *im)
{
  free (im->jmap);
  im->jmap = NULL;
}

static bool
in_jmap (const struct image *im, uint64_t b)
{
  for (uint32_t i = 0; i < im->jlen; i++)
    if (im->jmap[i] == b)
      return true;
  return false;
}

/* Learn the geometry and the journal's blocks, with libext2fs. */
static void
image_load (struct image *im)
{
  ext2_filsys fs;
  struct ext2_inode inode;
  int n = 0;

  ck_assert_int_eq (ext2fs_open (im->path, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs), 0);
  im->bs = fs->blocksize;
  im->blocks = ext2fs_blocks_count (fs->super);
  ck_assert_int_eq (ext2fs_read_inode (fs, fs->super->s_journal_inum, &inode), 0);
  im->jlen = EXT2_I_SIZE (&inode) / im->bs;
  free (im->jmap);
  im->jmap = calloc (im->jlen, sizeof *im->jmap);
  ck_assert_ptr_nonnull (im->jmap);
  for (uint32_t l = 0; l < im->jlen; l++) {
    blk64_t p;
    ck_assert_int_eq (ext2fs_bmap2 (fs, fs->super->s_journal_inum, &inode, NULL, 0, l,
                                    NULL, &p), 0);
    im->jmap[l] = p;
  }
  /* Free blocks near the end of the filesystem. */
  ck_assert_int_eq (ext2fs_read_block_bitmap (fs), 0);
  for (uint64_t b = im->blocks - 1; b > im->blocks / 2 && n < 8; b--)
    if (!ext2fs_test_block_bitmap2 (fs->block_map, b) && !in_jmap (im, b))
      im->targets[n++] = b;
  ck_assert_int_eq (n, 8);
  ext2fs_close (fs);
}

static void
make_image (struct image *im, const char *name, const char *mkfs_opts, const char *size)
{
  memset (im, 0, sizeof *im);
  snprintf (im->path, sizeof im->path, "%s", tl_path (name));
  ck_assert_int_eq (run ("mke2fs -q -F %s '%s' %s >/dev/null 2>&1",
                         mkfs_opts, im->path, size), 0);
  image_load (im);
}

static void
copy_image (const struct image *im, struct image *copy, const char *name)
{
  *copy = *im;
  snprintf (copy->path, sizeof copy->path, "%s", tl_path (name));
  copy->jmap = calloc (im->jlen, sizeof *im->jmap);
  ck_assert_ptr_nonnull (copy->jmap);
  memcpy (copy->jmap, im->jmap, im->jlen * sizeof *im->jmap);
  ck_assert_int_eq (run ("cp --sparse=always '%s' '%s'", im->path, copy->path), 0);
}

/* Blocks of data for debugfs to log: block i is filled from seed + i,
 * and block 1 starts with the journal's magic so it must be escaped. */
static void
make_data (const char *path, uint32_t bs, int nblocks, uint32_t seed)
{
  uint8_t *buf = malloc ((size_t) bs * nblocks);
  FILE *f = fopen (path, "w");

  ck_assert_ptr_nonnull (buf);
  ck_assert_ptr_nonnull (f);
  for (int i = 0; i < nblocks; i++)
    tl_fill (buf + (size_t) i * bs, bs, 0, seed + i);
  if (nblocks > 1)
    jbd2_put32 (buf + bs, JBD2_MAGIC);
  ck_assert_int_eq (fwrite (buf, bs, nblocks, f), (size_t) nblocks);
  fclose (f);
  free (buf);
}

/* Several transactions, one revoking a block an earlier one logged,
 * and a last one never committed. */
static void
write_transactions (const struct image *im, const char *open_opts)
{
  const uint64_t *t = im->targets;
  char data[512], cmds[512];
  FILE *f;

  snprintf (data, sizeof data, "%s", tl_path ("data"));
  snprintf (cmds, sizeof cmds, "%s", tl_path ("cmds"));
  make_data (data, im->bs, 3, 7);
  f = fopen (cmds, "w");
  ck_assert_ptr_nonnull (f);
  fprintf (f, "jo %s\n", open_opts);
  fprintf (f, "jw -b %llu,%llu,%llu %s\n", (unsigned long long) t[0],
           (unsigned long long) t[1], (unsigned long long) t[2], data);
  fprintf (f, "jw -r %llu %s\n", (unsigned long long) t[2], data);
  fprintf (f, "jw -b %llu,%llu,%llu %s\n", (unsigned long long) t[1],
           (unsigned long long) t[3], (unsigned long long) t[4], data);
  fprintf (f, "jw -b %llu,%llu %s\n", (unsigned long long) t[5],
           (unsigned long long) t[2], data);
  fprintf (f, "jw -b %llu -c %s\n", (unsigned long long) t[6], data);
  fprintf (f, "jc\n");
  fclose (f);
  ck_assert_int_eq (run ("debugfs -w -f '%s' '%s' >/dev/null 2>&1", cmds, im->path), 0);
}

/* ---- raw access to the journal in an image file ---- */

static void
jblock_io (const struct image *im, uint32_t l, uint8_t *buf, bool write)
{
  int fd = open (im->path, O_RDWR);
  off_t off = (off_t) im->jmap[l] * im->bs;

  ck_assert_int_ge (fd, 0);
  if (write)
    ck_assert_int_eq (pwrite (fd, buf, im->bs, off), (ssize_t) im->bs);
  else
    ck_assert_int_eq (pread (fd, buf, im->bs, off), (ssize_t) im->bs);
  close (fd);
}

static void
jsb_fix_checksum (uint8_t *sb)
{
  uint32_t inc = jbd2_get32 (sb + JSB_FEATURE_INCOMPAT);

  if (inc & (JBD2_INCOMPAT_CSUM_V2 | JBD2_INCOMPAT_CSUM_V3)) {
    jbd2_put32 (sb + JSB_CHECKSUM, 0);
    jbd2_put32 (sb + JSB_CHECKSUM, ext2fs_crc32c_le (~0U, sb, JSB_SIZE));
  }
}

/* The journal block holding the nth block of type in the log. */
static uint32_t
find_log_block (const struct image *im, uint32_t type, int nth)
{
  uint8_t *b = malloc (im->bs);
  uint32_t start, found = 0;

  ck_assert_ptr_nonnull (b);
  jblock_io (im, 0, b, false);
  start = jbd2_get32 (b + JSB_START);
  ck_assert_uint_ne (start, 0);
  for (uint32_t l = start; l < im->jlen && !found; l++) {
    jblock_io (im, l, b, false);
    if (jbd2_get32 (b) == JBD2_MAGIC && jbd2_get32 (b + JBD2_H_BLOCKTYPE) == type
        && nth-- == 0)
      found = l;
  }
  free (b);
  ck_assert_uint_ne (found, 0);
  return found;
}

/* ---- replays and comparisons ---- */

static int
replay_ours (const char *path, bool dry_run, struct jbd2_replay_result *res)
{
  ext2_filsys fs;
  int r;

  ck_assert_int_eq (ext2fs_open (path, EXT2_FLAG_RW | EXT2_FLAG_64BITS, 0, 0,
                                 unix_io_manager, &fs), 0);
  r = jbd2_replay (fs, dry_run, res);
  ck_assert_int_eq (ext2fs_close (fs), 0);
  return r;
}

static void
replay_reference (const char *path)
{
  /* 0: nothing to fix beyond the journal; 1: fixed. */
  ck_assert_int_le (run ("e2fsck -y -E journal_only '%s' >/dev/null 2>&1", path), 1);
}

/* The filesystem superblock fields a replay sets. */
static void
same_super_state (const char *a, const char *b)
{
  ext2_filsys fa, fb;

  ck_assert_int_eq (ext2fs_open (a, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fa), 0);
  ck_assert_int_eq (ext2fs_open (b, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fb), 0);
  ck_assert_uint_eq (fa->super->s_state, fb->super->s_state);
  ck_assert_uint_eq (fa->super->s_feature_incompat, fb->super->s_feature_incompat);
  ck_assert_uint_eq (fa->super->s_feature_compat, fb->super->s_feature_compat);
  ck_assert_uint_eq (fa->super->s_feature_ro_compat, fb->super->s_feature_ro_compat);
  ext2fs_close (fa);
  ext2fs_close (fb);
}

static bool
needs_recovery (const char *path)
{
  ext2_filsys fs;
  bool r;

  ck_assert_int_eq (ext2fs_open (path, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs), 0);
  r = ext2fs_has_feature_journal_needs_recovery (fs->super);
  ext2fs_close (fs);
  return r;
}

/* Every block outside the journal and the superblock is the same in
 * both; so are the journal superblocks' start and sequence. */
static void
compare_images (const struct image *a, const struct image *b)
{
  uint8_t *x = malloc (a->bs), *y = malloc (a->bs);
  int fa = open (a->path, O_RDONLY), fb = open (b->path, O_RDONLY);
  uint64_t sb_block = 1024 / a->bs;

  ck_assert_int_ge (fa, 0);
  ck_assert_int_ge (fb, 0);
  for (uint64_t blk = 0; blk < a->blocks; blk++) {
    off_t off = (off_t) blk * a->bs;

    if (in_jmap (a, blk) && blk != a->jmap[0])
      continue;
    ck_assert_int_eq (pread (fa, x, a->bs, off), (ssize_t) a->bs);
    ck_assert_int_eq (pread (fb, y, a->bs, off), (ssize_t) a->bs);
    if (blk == a->jmap[0]) {
      ck_assert_uint_eq (jbd2_get32 (x + JSB_START), 0);
      ck_assert_uint_eq (jbd2_get32 (y + JSB_START), 0);
      ck_assert_uint_eq (jbd2_get32 (x + JSB_SEQUENCE), jbd2_get32 (y + JSB_SEQUENCE));
      continue;
    }
    if (blk == sb_block)          /* times and counters differ */
      memset (x + 1024 % a->bs, 0, 1024), memset (y + 1024 % a->bs, 0, 1024);
    if (memcmp (x, y, a->bs) != 0)
      ck_abort_msg ("%s and %s differ in block %llu", a->path, b->path,
                    (unsigned long long) blk);
  }
  close (fa);
  close (fb);
  free (x);
  free (y);
  ck_assert (!needs_recovery (a->path));
  same_super_state (a->path, b->path);
}

/* e2fsck -n finds nothing to fix (a filesystem marked with errors is
 * only reported). */
static void
fsck_accepts (const char *path)
{
  ck_assert_int_eq (run ("e2fsck -fn '%s' >/dev/null 2>&1", path), 0);
}

/* Ours on one copy, e2fsck's on another: the same filesystem. */
static struct jbd2_replay_result
replay_both (const struct image *im)
{
  struct image a, b;
  struct jbd2_replay_result res;

  copy_image (im, &a, "ours");
  copy_image (im, &b, "reference");
  ck_assert_msg (replay_ours (a.path, false, &res) == 0, "%s", tl_last_error ());
  replay_reference (b.path);
  compare_images (&a, &b);
  fsck_accepts (a.path);
  ck_assert (res.needed);
  image_free (&a);
  image_free (&b);
  return res;
}

/* ---- the tests ---- */

static void
check_format (const char *mkfs_opts, const char *size, const char *jo_opts)
{
  struct image im;
  struct jbd2_replay_result res;

  make_image (&im, "fs", mkfs_opts, size);
  write_transactions (&im, jo_opts);
  ck_assert (needs_recovery (im.path));
  res = replay_both (&im);
  /* 4 committed; t2 is revoked in the 2nd and relogged in the 4th. */
  ck_assert_uint_eq (res.transactions, 4);
  ck_assert_uint_eq (res.blocks_replayed, 7);
  ck_assert_uint_eq (res.blocks_revoked, 1);
  ck_assert_uint_eq (res.next_tid - res.first_tid, 4);
  ck_assert (!res.failed_commit);
  image_free (&im);
}

START_TEST (test_ext4_4k)
{
  check_format ("-t ext4 -b 4096", "64M", "");
}
END_TEST

START_TEST (test_ext4_4k_csum_v3)
{
  check_format ("-t ext4 -b 4096 -O metadata_csum,64bit", "64M", "-c");
}
END_TEST

START_TEST (test_ext4_csum_v2)
{
  check_format ("-t ext4 -b 4096", "64M", "-c -v 2");
}
END_TEST

START_TEST (test_ext4_1k)
{
  check_format ("-t ext4 -b 1024", "32M", "-c");
}
END_TEST

START_TEST (test_ext4_no_csum_32bit)
{
  check_format ("-t ext4 -b 4096 -O ^metadata_csum,^64bit", "64M", "");
}
END_TEST

START_TEST (test_ext3)
{
  check_format ("-t ext3", "32M", "");
}
END_TEST

START_TEST (test_clean)
{
  struct image im;
  struct jbd2_replay_result res;

  make_image (&im, "fs", "-t ext4", "32M");
  ck_assert_int_eq (run ("cp '%s' '%s'", im.path, tl_path ("orig")), 0);
  ck_assert_int_eq (replay_ours (im.path, false, &res), 0);
  ck_assert (!res.needed);
  ck_assert_uint_eq (res.transactions, 0);
  ck_assert_int_eq (run ("cmp -s '%s' '%s'", im.path, tl_path ("orig")), 0);
  image_free (&im);
}
END_TEST

START_TEST (test_dry_run)
{
  struct image im;
  struct jbd2_replay_result dry, real;

  make_image (&im, "fs", "-t ext4", "64M");
  write_transactions (&im, "-c");
  ck_assert_int_eq (run ("cp '%s' '%s'", im.path, tl_path ("orig")), 0);
  ck_assert_int_eq (replay_ours (im.path, true, &dry), 0);
  ck_assert_int_eq (run ("cmp -s '%s' '%s'", im.path, tl_path ("orig")), 0);
  ck_assert (dry.needed);
  ck_assert_int_eq (replay_ours (im.path, false, &real), 0);
  ck_assert_uint_eq (dry.transactions, real.transactions);
  ck_assert_uint_eq (dry.blocks_replayed, real.blocks_replayed);
  ck_assert_uint_eq (dry.blocks_revoked, real.blocks_revoked);
  /* A second run has nothing left to do. */
  ck_assert_int_eq (replay_ours (im.path, false, &real), 0);
  ck_assert (!real.needed);
  fsck_accepts (im.path);
  image_free (&im);
}
END_TEST

/* Move the log round the ring by shift blocks, so that it wraps. */
static void
rotate_log (struct image *im, uint32_t shift)
{
  uint8_t *sb = malloc (im->bs);
  uint32_t first, maxlen, start, n;
  uint8_t *all;

  jblock_io (im, 0, sb, false);
  first = jbd2_get32 (sb + JSB_FIRST);
  maxlen = jbd2_get32 (sb + JSB_MAXLEN);
  start = jbd2_get32 (sb + JSB_START);
  ck_assert_uint_eq (start, first);
  n = maxlen - first;
  all = malloc ((size_t) n * im->bs);
  ck_assert_ptr_nonnull (all);
  for (uint32_t i = 0; i < n; i++)
    jblock_io (im, first + i, all + (size_t) i * im->bs, false);
  for (uint32_t i = 0; i < n; i++)
    jblock_io (im, first + (i + shift) % n, all + (size_t) i * im->bs, true);
  jbd2_put32 (sb + JSB_START, first + shift);
  jsb_fix_checksum (sb);
  jblock_io (im, 0, sb, true);
  free (all);
  free (sb);
}

START_TEST (test_wrap_around)
{
  struct image im;
  struct jbd2_replay_result res;
  uint32_t n = 0;
  const char *opts[] = { "", "-c" };

  for (int i = 0; i < 2; i++) {
    make_image (&im, "fs", "-t ext4 -b 4096", "64M");
    write_transactions (&im, opts[i]);
    uint8_t *sb = malloc (im.bs);

    jblock_io (&im, 0, sb, false);
    n = jbd2_get32 (sb + JSB_MAXLEN) - jbd2_get32 (sb + JSB_FIRST);
    free (sb);
    /* The log is about 20 blocks: 5 at the ring's end, the rest at
     * its beginning. */
    rotate_log (&im, n - 5);
    res = replay_both (&im);
    ck_assert_uint_eq (res.transactions, 4);
    image_free (&im);
  }
}
END_TEST

/* Renumber the transactions so that their IDs wrap past 2^32. */
START_TEST (test_sequence_wrap)
{
  struct image im;
  struct jbd2_replay_result res;
  uint8_t *b;
  uint32_t first, maxlen, delta = 0xfffffffeU - 1;

  make_image (&im, "fs", "-t ext4 -b 4096", "64M");
  write_transactions (&im, "");         /* no checksums over the IDs */
  b = malloc (im.bs);
  jblock_io (&im, 0, b, false);
  first = jbd2_get32 (b + JSB_FIRST);
  maxlen = jbd2_get32 (b + JSB_MAXLEN);
  ck_assert_uint_eq (jbd2_get32 (b + JSB_SEQUENCE), 1);
  jbd2_put32 (b + JSB_SEQUENCE, 1 + delta);
  jblock_io (&im, 0, b, true);
  for (uint32_t l = first; l < maxlen; l++) {
    jblock_io (&im, l, b, false);
    if (jbd2_get32 (b) != JBD2_MAGIC)
      continue;
    jbd2_put32 (b + JBD2_H_SEQUENCE, jbd2_get32 (b + JBD2_H_SEQUENCE) + delta);
    jblock_io (&im, l, b, true);
  }
  free (b);
  res = replay_both (&im);
  ck_assert_uint_eq (res.transactions, 4);
  ck_assert_uint_eq (res.first_tid, 0xfffffffeU);
  ck_assert_uint_eq (res.next_tid, 2);
  ck_assert_uint_eq (res.blocks_revoked, 1);
  image_free (&im);
}
END_TEST

/* The v1 transaction checksum, which no tool here writes: add it to a
 * journal without checksums, with an independent CRC-32 (big-endian,
 * bit by bit), and let e2fsck judge. */
static uint32_t
crc32_be_bitwise (uint32_t crc, const uint8_t *p, size_t len)
{
  while (len--) {
    crc ^= (uint32_t) *p++ << 24;
    for (int k = 0; k < 8; k++)
      crc = crc & 0x80000000U ? crc << 1 ^ 0x04c11db7U : crc << 1;
  }
  return crc;
}

static void
add_v1_checksums (struct image *im, int corrupt_commit)
{
  uint8_t *b = malloc (im->bs);
  uint32_t first, maxlen, crc = ~0U;
  int commits = 0;

  jblock_io (im, 0, b, false);
  first = jbd2_get32 (b + JSB_FIRST);
  maxlen = jbd2_get32 (b + JSB_MAXLEN);
  jbd2_put32 (b + JSB_FEATURE_COMPAT, JBD2_COMPAT_CHECKSUM);
  jbd2_put32 (b + JSB_FEATURE_INCOMPAT,
              jbd2_get32 (b + JSB_FEATURE_INCOMPAT) | JBD2_INCOMPAT_ASYNC_COMMIT);
  jblock_io (im, 0, b, true);
  /* debugfs writes a transaction as descriptor, data, revoke, commit:
   * the checksum covers descriptors and data. */
  for (uint32_t l = first; l < maxlen; l++) {
    jblock_io (im, l, b, false);
    uint32_t type = jbd2_get32 (b) == JBD2_MAGIC ? jbd2_get32 (b + JBD2_H_BLOCKTYPE) : 0;

    if (type == JBD2_COMMIT_BLOCK) {
      b[JBD2_C_CHKSUM_TYPE] = JBD2_CHECKSUM_CRC32;
      b[JBD2_C_CHKSUM_SIZE] = 4;
      jbd2_put32 (b + JBD2_C_CHKSUM, crc ^ (commits++ == corrupt_commit));
      jblock_io (im, l, b, true);
      crc = ~0U;
    }
    else if (type == JBD2_DESCRIPTOR_BLOCK || (type == 0 && crc != ~0U))
      crc = crc32_be_bitwise (crc, b, im->bs);
  }
  free (b);
}

START_TEST (test_checksum_v1)
{
  struct image im;
  struct jbd2_replay_result res;

  make_image (&im, "fs", "-t ext4 -b 4096 -O ^metadata_csum", "64M");
  write_transactions (&im, "");
  add_v1_checksums (&im, -1);
  res = replay_both (&im);
  ck_assert_uint_eq (res.transactions, 4);
  ck_assert (!res.failed_commit);
  image_free (&im);

  /* With async commit, a bad checksum in the 2nd transaction ends the
   * log there; the next commit makes it a failed commit. */
  make_image (&im, "fs", "-t ext4 -b 4096 -O ^metadata_csum", "64M");
  write_transactions (&im, "");
  add_v1_checksums (&im, 1);
  res = replay_both (&im);
  ck_assert_uint_eq (res.transactions, 1);
  ck_assert (res.failed_commit);
  image_free (&im);
}
END_TEST

/* A damaged image must be refused, with nothing written. */
static void
expect_refused (const struct image *im, const char *expect)
{
  struct jbd2_replay_result res;

  ck_assert_int_eq (run ("cp '%s' '%s'", im->path, tl_path ("before")), 0);
  tl_clear_error ();
  ck_assert_int_eq (replay_ours (im->path, false, &res), -1);
  ck_assert_msg (strstr (tl_last_error (), expect) != NULL,
                 "error \"%s\" lacks \"%s\"", tl_last_error (), expect);
  ck_assert_int_eq (run ("cmp -s '%s' '%s'", im->path, tl_path ("before")), 0);
}

START_TEST (test_tag_past_end)
{
  struct image im;
  uint8_t *b;
  uint32_t l;

  make_image (&im, "fs", "-t ext4 -b 4096", "64M");
  write_transactions (&im, "");
  b = malloc (im.bs);
  l = find_log_block (&im, JBD2_DESCRIPTOR_BLOCK, 1);
  jblock_io (&im, l, b, false);
  jbd2_put32 (b + JBD2_HEADER_SIZE + JBD2_TAG_BLOCKNR, 99999999);
  jblock_io (&im, l, b, true);
  expect_refused (&im, "past the end of the filesystem");

  /* At a block of the journal itself. */
  jbd2_put32 (b + JBD2_HEADER_SIZE + JBD2_TAG_BLOCKNR, im.jmap[3]);
  jblock_io (&im, l, b, true);
  expect_refused (&im, "part of the journal itself");
  free (b);
  image_free (&im);
}
END_TEST

START_TEST (test_bad_descriptor_checksum)
{
  struct image im;
  uint8_t *b;
  uint32_t l;

  make_image (&im, "fs", "-t ext4 -b 4096", "64M");
  write_transactions (&im, "-c");
  b = malloc (im.bs);
  l = find_log_block (&im, JBD2_DESCRIPTOR_BLOCK, 1);
  jblock_io (&im, l, b, false);
  jbd2_put32 (b + JBD2_HEADER_SIZE + JBD2_TAG_BLOCKNR, 99999999);
  jblock_io (&im, l, b, true);
  expect_refused (&im, "fails its checksum");
  free (b);
  image_free (&im);
}
END_TEST

START_TEST (test_bad_data_checksum)
{
  struct image im;
  uint8_t *b;
  uint32_t l;

  make_image (&im, "fs", "-t ext4 -b 4096", "64M");
  write_transactions (&im, "-c");
  b = malloc (im.bs);
  l = find_log_block (&im, JBD2_DESCRIPTOR_BLOCK, 0) + 1;
  jblock_io (&im, l, b, false);
  b[100] ^= 1;
  jblock_io (&im, l, b, true);
  expect_refused (&im, "fails its checksum");
  free (b);
  image_free (&im);
}
END_TEST

/* The kernel drops a transaction whose commit block is bad, and all
 * later ones; so does e2fsck, and so must we. */
START_TEST (test_bad_commit_checksum)
{
  struct image im;
  struct jbd2_replay_result res;
  uint8_t *b;
  uint32_t l;

  make_image (&im, "fs", "-t ext4 -b 4096", "64M");
  write_transactions (&im, "-c");
  b = malloc (im.bs);
  l = find_log_block (&im, JBD2_COMMIT_BLOCK, 2);
  jblock_io (&im, l, b, false);
  b[200] ^= 1;
  jblock_io (&im, l, b, true);
  free (b);
  res = replay_both (&im);
  ck_assert_uint_eq (res.transactions, 2);
  ck_assert (res.failed_commit);
  ck_assert_uint_eq (res.failed_tid, res.first_tid + 2);
  image_free (&im);
}
END_TEST

START_TEST (test_absurd_superblock)
{
  struct image im;
  uint8_t *b;
  const uint32_t fields[] = { JSB_FIRST, JSB_MAXLEN, JSB_START, JSB_BLOCKSIZE };
  const uint32_t values[] = { 0, 0xffffffffU, 1, 0xfffffff0U, 3 };

  make_image (&im, "fs", "-t ext4 -b 4096", "64M");
  write_transactions (&im, "-c");
  b = malloc (im.bs);
  for (size_t f = 0; f < sizeof fields / sizeof *fields; f++)
    for (size_t v = 0; v < sizeof values / sizeof *values; v++) {
      struct image c;
      struct jbd2_replay_result res;

      copy_image (&im, &c, "absurd");
      jblock_io (&c, 0, b, false);
      jbd2_put32 (b + fields[f], values[v]);
      jsb_fix_checksum (b);
      jblock_io (&c, 0, b, true);
      /* Some values (start 1) are sane; the others must be refused. */
      if (replay_ours (c.path, false, &res) == -1)
        ck_assert_str_ne (tl_last_error (), "");
      image_free (&c);
    }
  /* A bad superblock checksum. */
  jblock_io (&im, 0, b, false);
  b[JSB_MAXLEN + 3] ^= 1;
  jblock_io (&im, 0, b, true);
  expect_refused (&im, "journal superblock: checksum");
  free (b);
  image_free (&im);
}
END_TEST

/* Garbage anywhere in the log: an error or a replay, never a crash or
 * a hang.  Without checksums, the garbage gets furthest. */
START_TEST (test_garbage)
{
  struct image im;
  uint8_t *b;
  unsigned seed = 1;
  const char *opts[] = { "", "-c" };

  b = malloc (65536);
  for (int o = 0; o < 2; o++) {
    make_image (&im, "fs", "-t ext4 -b 1024", "16M");
    write_transactions (&im, opts[o]);
    for (int round = 0; round < 12; round++) {
      struct image c;
      struct jbd2_replay_result res;
      uint32_t l;

      copy_image (&im, &c, "garbage");
      /* Random bytes in some log blocks, keeping some headers valid. */
      for (int k = 0; k < 4; k++) {
        seed = seed * 1103515245 + 12345;
        l = 1 + (seed >> 8) % 24;
        jblock_io (&c, l, b, false);
        for (uint32_t i = JBD2_HEADER_SIZE * (round % 2); i < c.bs; i++) {
          seed = seed * 1103515245 + 12345;
          if ((seed >> 16) % 4 == 0)
            b[i] = seed >> 8;
        }
        jblock_io (&c, l, b, true);
      }
      tl_clear_error ();
      if (replay_ours (c.path, false, &res) == -1)
        ck_assert_str_ne (tl_last_error (), "");
      image_free (&c);
    }
    image_free (&im);
  }
  free (b);
}
END_TEST

/* A ring full of valid empty transactions, and one whose descriptor
 * claims more blocks than the ring has: bounded, never a hang. */
START_TEST (test_looping_log)
{
  struct image im;
  struct jbd2_replay_result res;
  uint8_t *b;
  uint32_t first, maxlen, seq;

  make_image (&im, "fs", "-t ext4 -b 1024 -O ^metadata_csum", "16M");
  write_transactions (&im, "");
  b = malloc (im.bs);
  jblock_io (&im, 0, b, false);
  first = jbd2_get32 (b + JSB_FIRST);
  maxlen = jbd2_get32 (b + JSB_MAXLEN);
  seq = jbd2_get32 (b + JSB_SEQUENCE);
  for (uint32_t l = first; l < maxlen; l++) {
    memset (b, 0, im.bs);
    jbd2_put32 (b + JBD2_H_MAGIC, JBD2_MAGIC);
    jbd2_put32 (b + JBD2_H_BLOCKTYPE, JBD2_COMMIT_BLOCK);
    jbd2_put32 (b + JBD2_H_SEQUENCE, seq + (l - first));
    jblock_io (&im, l, b, true);
  }
  ck_assert_int_eq (replay_ours (im.path, true, &res), 0);
  ck_assert_uint_eq (res.transactions, maxlen - first);
  ck_assert_uint_eq (res.blocks_replayed, 0);

  /* A descriptor whose tags cover the whole ring and more. */
  memset (b, 0, im.bs);
  jbd2_put32 (b + JBD2_H_MAGIC, JBD2_MAGIC);
  jbd2_put32 (b + JBD2_H_BLOCKTYPE, JBD2_DESCRIPTOR_BLOCK);
  jbd2_put32 (b + JBD2_H_SEQUENCE, seq + 1);
  for (uint32_t off = JBD2_HEADER_SIZE; off + 8 <= im.bs; off += 8) {
    jbd2_put32 (b + off, (uint32_t) im.targets[0]);
    jbd2_put32 (b + off + 4, JBD2_FLAG_SAME_UUID);
  }
  for (uint32_t l = first + 1; l < maxlen; l += 1 + (im.bs - JBD2_HEADER_SIZE) / 8)
    jblock_io (&im, l, b, true);
  tl_clear_error ();
  if (replay_ours (im.path, true, &res) == -1)
    ck_assert_str_ne (tl_last_error (), "");
  free (b);
  image_free (&im);
}
END_TEST

static void
add_tests (TCase *tc)
{
  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_set_timeout (tc, 300);
  tcase_add_test (tc, test_ext4_4k);
  tcase_add_test (tc, test_ext4_4k_csum_v3);
  tcase_add_test (tc, test_ext4_csum_v2);
  tcase_add_test (tc, test_ext4_1k);
  tcase_add_test (tc, test_ext4_no_csum_32bit);
  tcase_add_test (tc, test_ext3);
  tcase_add_test (tc, test_clean);
  tcase_add_test (tc, test_dry_run);
  tcase_add_test (tc, test_wrap_around);
  tcase_add_test (tc, test_sequence_wrap);
  tcase_add_test (tc, test_checksum_v1);
  tcase_add_test (tc, test_tag_past_end);
  tcase_add_test (tc, test_bad_descriptor_checksum);
  tcase_add_test (tc, test_bad_data_checksum);
  tcase_add_test (tc, test_bad_commit_checksum);
  tcase_add_test (tc, test_absurd_superblock);
  tcase_add_test (tc, test_garbage);
  tcase_add_test (tc, test_looping_log);
}

int
main (void)
{
  /* Without e2fsprogs there is nothing to test against: a skip
   * (automake's exit status 77), never a pass. */
  if (run ("{ command -v mke2fs && command -v debugfs && command -v e2fsck; } >/dev/null")
      != 0) {
    fprintf (stderr, "SKIP: check_jbd2: mke2fs, debugfs or e2fsck is not installed "
             "(package e2fsprogs)\n");
    return 77;
  }
  return tl_run ("jbd2", add_tests);
}
