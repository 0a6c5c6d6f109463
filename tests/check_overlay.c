/* oneway: unit tests of the overlay engine on real files.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oneway/format.h"
#include "oneway/overlay.h"
#include "testlib.h"

#define MiB (1024 * 1024)

/* A refusal sets errno as well as the message (include/oneway/error.h). */
#define ck_assert_errno(want)                                           \
  do {                                                                  \
    int e_ = errno;                                                     \
    ck_assert_msg (e_ == (want), "errno is %d (%s), expected %s (%s)",  \
                   e_, strerror (e_), #want, strerror (want));          \
  } while (0)
#define BASE_SIZE (8 * MiB)
#define BASE_SEED 1

/* The expected view, kept beside the overlay. */
static uint8_t *model;
static uint64_t model_size;
static const char *base, *ovpath;

static void
setup (void)
{
  tl_capture_errors ();
  base = tl_path ("base.img");
  ovpath = tl_path ("box.ow");
  model_size = BASE_SIZE;
  tl_make_base (base, model_size, BASE_SEED);
  model = malloc (model_size);
  tl_fill (model, model_size, 0, BASE_SEED);
}

static void
teardown (void)
{
  free (model);
  model = NULL;
  tl_cleanup ();
}

static void
check_view (struct ow_overlay *ov)
{
  uint8_t *buf = malloc (model_size);

  ck_assert_int_eq (ow_pread (ov, buf, model_size, 0), 0);
  for (uint64_t i = 0; i < model_size; i++)
    if (buf[i] != model[i])
      ck_abort_msg ("view differs at byte %lu: %02x, want %02x",
                    (unsigned long) i, buf[i], model[i]);
  free (buf);
}

static void
do_write (struct ow_overlay *ov, uint64_t off, uint64_t len, uint32_t seed)
{
  uint8_t *buf = malloc (len);
  tl_fill (buf, len, off, seed);
  ck_assert_int_eq (ow_pwrite (ov, buf, len, off, false), 0);
  memcpy (model + off, buf, len);
  free (buf);
}

static void
do_zero (struct ow_overlay *ov, uint64_t off, uint64_t len)
{
  ck_assert_int_eq (ow_zero (ov, len, off, false), 0);
  memset (model + off, 0, len);
}

/* Mixed aligned, unaligned, small and large writes and zeroes. */
static void
workload (struct ow_overlay *ov, uint32_t seed)
{
  do_write (ov, 0, 64 * 1024, seed);
  do_write (ov, 4097, 10000, seed + 1);
  do_write (ov, 1 * MiB - 1, 2, seed + 2);
  do_write (ov, 2 * MiB, 1 * MiB, seed + 3);
  do_zero (ov, 3 * MiB + 100, 5000);
  do_zero (ov, 4 * MiB, 2 * MiB);              /* a large range */
  do_write (ov, 5 * MiB + 512, 512, seed + 4); /* inside it */
  do_write (ov, BASE_SIZE - 3, 3, seed + 5);
  do_zero (ov, 10 * 4096, 4096);                /* a single block */
}

START_TEST (test_view_and_persistence)
{
  int compress = _i;
  struct ow_overlay *ov = tl_open (ovpath, base, true, 0, compress);

  ck_assert_uint_eq (ow_size (ov), BASE_SIZE);
  check_view (ov);                              /* starts as the base */
  workload (ov, 100);
  check_view (ov);
  ck_assert_int_eq (ow_flush (ov), 0);
  ck_assert_int_eq (ow_close (ov), 0);

  ov = tl_open (ovpath, NULL, true, 0, -1);     /* base from the header */
  check_view (ov);
  /* The other compression on top: records say how they are stored. */
  workload (ov, 200);
  ck_assert_int_eq (ow_close (ov), 0);
  ov = tl_open (ovpath, NULL, true, 0, !compress);
  check_view (ov);
  ck_assert_int_eq (ow_close (ov), 0);
}
END_TEST

START_TEST (test_compression)
{
  struct ow_overlay *ov;
  struct ow_info in;
  uint8_t *buf = malloc (MiB);

  /* Compressible: text-like. */
  for (int i = 0; i < MiB; i++)
    buf[i] = "the quick brown fox jumps over the lazy dog "[i % 44];
  ov = tl_open (ovpath, base, true, 0, OW_COMPRESS_LZ4);
  ck_assert_int_eq (ow_pwrite (ov, buf, MiB, 0, false), 0);
  memcpy (model, buf, MiB);
  /* Incompressible: stored raw even with lz4. */
  tl_fill (buf, MiB, MiB, 77);
  ck_assert_int_eq (ow_pwrite (ov, buf, MiB, MiB, false), 0);
  memcpy (model + MiB, buf, MiB);
  /* Zeroes written as data cost nothing. */
  memset (buf, 0, MiB);
  ck_assert_int_eq (ow_pwrite (ov, buf, MiB, 2 * MiB, false), 0);
  memset (model + 2 * MiB, 0, MiB);
  check_view (ov);
  ck_assert_int_eq (ow_get_info (ov, &in), 0);
  ck_assert_uint_eq (in.written_blocks, 768);
  ck_assert_uint_eq (in.data_blocks, 512);
  ck_assert_uint_eq (in.zero_blocks, 256);
  ck_assert_uint_lt (in.live_bytes, MiB + MiB / 16);   /* text shrank to little */
  ck_assert_uint_ge (in.live_bytes, MiB);               /* random did not */
  ck_assert_int_eq (ow_block_kind (ov, 0), 'd');
  ck_assert_int_eq (ow_block_kind (ov, 600), 'z');
  ck_assert_int_eq (ow_block_kind (ov, 900), 'b');
  ck_assert_int_eq (ow_close (ov), 0);
  ov = tl_open (ovpath, NULL, false, 0, -1);
  check_view (ov);
  ck_assert_int_eq (ow_close (ov), 0);
  free (buf);
}
END_TEST

/* A crash is a child that writes and exits without closing. */
struct crash_work { int stage; };

static void
crash_child (void *opaque)
{
  struct crash_work *w = opaque;
  struct ow_overlay *ov;
  uint8_t buf[8192];

  if (tl_try_open (ovpath, base, true, 0, OW_COMPRESS_LZ4, &ov) == -1)
    _exit (1);
  for (int i = 0; i < 64; i++) {
    tl_fill (buf, sizeof buf, i * 8192, 500 + i);
    if (ow_pwrite (ov, buf, sizeof buf, i * 8192ULL, false) == -1)
      _exit (2);
  }
  if (ow_flush (ov) == -1)
    _exit (3);
  if (w->stage > 0)                     /* more, never flushed */
    for (int i = 0; i < 64; i++) {
      tl_fill (buf, sizeof buf, i * 8192, 900 + i);
      if (ow_pwrite (ov, buf, sizeof buf, i * 8192ULL, false) == -1)
        _exit (4);
    }
  _exit (0);
}

/* Every block reads as the flushed value or the later unflushed one,
 * never a mix and never anything else. */
static void
check_crash_view (struct ow_overlay *ov, bool later_allowed)
{
  uint8_t buf[4096], a[4096], b[4096];

  for (int blk = 0; blk < 128; blk++) {
    uint64_t off = blk * 4096ULL;
    ck_assert_int_eq (ow_pread (ov, buf, 4096, off), 0);
    tl_fill (a, 4096, off, 500 + blk / 2);
    tl_fill (b, 4096, off, 900 + blk / 2);
    bool is_a = memcmp (buf, a, 4096) == 0, is_b = memcmp (buf, b, 4096) == 0;
    ck_assert_msg (is_a || (later_allowed && is_b),
                   "block %d is neither the flushed nor a later value", blk);
  }
}

START_TEST (test_recovery_after_kill)
{
  struct crash_work w = { 1 };
  struct ow_overlay *ov;
  struct ow_info in;

  tl_in_child (crash_child, &w);
  ov = tl_open (ovpath, NULL, false, 0, -1);
  ck_assert_int_eq (ow_get_info (ov, &in), 0);
  ck_assert (!in.was_clean);
  ck_assert_uint_eq (in.torn_bytes, 0);
  /* A killed process has written everything it acknowledged (its
   * writes are in the page cache): every block the child wrote reads
   * as its later value, and everything else as the base. */
  for (int i = 0; i < 64; i++)
    tl_fill (model + i * 8192, 8192, i * 8192, 900 + i);
  check_view (ov);
  ck_assert_int_eq (ow_close (ov), 0);
}
END_TEST

START_TEST (test_truncated_tail)
{
  struct crash_work w = { 1 };
  uint64_t full, flushed;
  struct ow_overlay *ov;
  struct ow_info in;

  /* Learn where the flushed part ends. */
  w.stage = 0;
  tl_in_child (crash_child, &w);
  flushed = tl_file_size (ovpath);
  unlink (ovpath);
  w.stage = 1;
  tl_in_child (crash_child, &w);
  full = tl_file_size (ovpath);
  ck_assert_uint_gt (full, flushed);

  /* Cut the unflushed tail at many points, reopen each time. */
  char *copy = strdup (tl_path ("copy.ow"));
  for (uint64_t cut = full; cut >= flushed && cut <= full; cut -= 1 + (full - flushed) / 23) {
    char cmd[1024];
    snprintf (cmd, sizeof cmd, "cp %s %s", ovpath, copy);
    ck_assert_int_eq (system (cmd), 0);
    ck_assert_int_eq (truncate (copy, cut), 0);
    ov = tl_open (copy, base, true, 0, -1);     /* writable: repairs */
    check_crash_view (ov, true);
    ck_assert_int_eq (ow_close (ov), 0);
    ov = tl_open (copy, NULL, false, 0, -1);
    ck_assert_int_eq (ow_get_info (ov, &in), 0);
    ck_assert (in.was_clean);
    ck_assert_uint_eq (in.torn_bytes, 0);
    check_crash_view (ov, true);
    ck_assert_int_eq (ow_close (ov), 0);
  }
  /* Cut into the flushed part: that is damage, and refused. */
  ck_assert_int_eq (truncate (copy, flushed - 100), 0);
  ck_assert_int_eq (tl_try_open (copy, base, false, 0, -1, &ov), -1);
  ck_assert_errno (EBADMSG);
  ck_assert_ptr_nonnull (strstr (tl_last_error (), "truncated"));
  free (copy);
}
END_TEST

START_TEST (test_torn_tail)
{
  struct crash_work w = { 0 };
  uint64_t flushed, full;
  struct ow_overlay *ov;
  struct ow_info in;

  tl_in_child (crash_child, &w);
  flushed = tl_file_size (ovpath);
  unlink (ovpath);
  w.stage = 1;
  tl_in_child (crash_child, &w);
  full = tl_file_size (ovpath);
  /* Garbage in the last record, as a torn write leaves. */
  tl_corrupt_byte (ovpath, full - 100);
  ov = tl_open (ovpath, NULL, false, 0, -1);
  ck_assert_int_eq (ow_get_info (ov, &in), 0);
  ck_assert_uint_gt (in.torn_bytes, 0);
  ck_assert_uint_ge (in.log_end, flushed);
  check_crash_view (ov, true);
  ck_assert_int_eq (ow_close (ov), 0);
  /* The plugin's open drops it for good. */
  ov = tl_open (ovpath, base, true, 0, -1);
  ck_assert_int_eq (ow_close (ov), 0);
  ck_assert_uint_lt (tl_file_size (ovpath), full + 4096);
  ov = tl_open (ovpath, NULL, false, 0, -1);
  ck_assert_int_eq (ow_get_info (ov, &in), 0);
  ck_assert_uint_eq (in.torn_bytes, 0);
  check_crash_view (ov, true);
  ck_assert_int_eq (ow_close (ov), 0);
}
END_TEST

START_TEST (test_checksum_failure_in_flushed_part)
{
  struct crash_work w = { 0 };
  struct ow_overlay *ov;

  uint64_t where;
  uint32_t len;
  char *copy = strdup (tl_path ("copy.ow")), cmd[1024];

  tl_in_child (crash_child, &w);
  snprintf (cmd, sizeof cmd, "cp %s %s", ovpath, copy);
  ck_assert_int_eq (system (cmd), 0);
  /* A byte of a flushed block, in its slot. */
  ov = tl_open (ovpath, NULL, false, 0, -1);
  ck_assert_int_eq (ow_block_where (ov, 7, &where, &len), 0);
  ck_assert_int_eq (ow_close (ov), 0);
  tl_corrupt_byte (ovpath, where + len / 2);
  tl_clear_error ();
  ck_assert_int_eq (tl_try_open (ovpath, base, true, 0, -1, &ov), -1);
  ck_assert_int_eq (errno, EBADMSG);
  ck_assert_ptr_nonnull (strstr (tl_last_error (), "corrupt"));
  ck_assert_ptr_nonnull (strstr (tl_last_error (), ovpath));
  /* A byte of a record header in the flushed log. */
  tl_corrupt_byte (copy, OW_LOG_START + 10);
  tl_clear_error ();
  ck_assert_int_eq (tl_try_open (copy, base, true, 0, -1, &ov), -1);
  ck_assert_errno (EBADMSG);
  ck_assert_ptr_nonnull (strstr (tl_last_error (), "corrupt"));
  free (copy);
}
END_TEST

START_TEST (test_checkpoint_damaged)
{
  struct ow_overlay *ov = tl_open (ovpath, base, true, 0, -1);
  uint8_t slot[OW_HEADER_SLOT_SIZE];
  struct ow_header h0, h1, *h;
  int fd;

  workload (ov, 7);
  ck_assert_int_eq (ow_close (ov), 0);
  fd = open (ovpath, O_RDONLY);
  ck_assert_int_eq (pread (fd, slot, sizeof slot, 0), sizeof slot);
  ck_assert_int_eq (ow_header_decode (slot, &h0), 0);
  ck_assert_int_eq (pread (fd, slot, sizeof slot, OW_HEADER_SLOT_SIZE), sizeof slot);
  ck_assert_int_eq (ow_header_decode (slot, &h1), 0);
  close (fd);
  h = h0.generation > h1.generation ? &h0 : &h1;
  ck_assert (h->flags & OW_HDR_CLEAN);
  tl_corrupt_byte (ovpath, h->checkpoint_offset + 40);
  ov = tl_open (ovpath, NULL, false, 0, -1);    /* falls back to the log */
  ck_assert_ptr_nonnull (strstr (tl_last_error (), "checkpoint"));
  check_view (ov);
  ck_assert_int_eq (ow_close (ov), 0);
}
END_TEST

START_TEST (test_header_damaged)
{
  struct ow_overlay *ov = tl_open (ovpath, base, true, 0, -1);

  workload (ov, 9);
  ck_assert_int_eq (ow_close (ov), 0);
  /* One slot torn: the other still serves. */
  tl_corrupt_byte (ovpath, 100);
  ov = tl_open (ovpath, NULL, false, 0, -1);
  check_view (ov);
  ck_assert_int_eq (ow_close (ov), 0);
  tl_corrupt_byte (ovpath, OW_HEADER_SLOT_SIZE + 100);
  ck_assert_int_eq (tl_try_open (ovpath, NULL, false, 0, -1, &ov), -1);
  ck_assert_errno (EINVAL);
  ck_assert_ptr_nonnull (strstr (tl_last_error (), "header"));
}
END_TEST

static void
rewrite_headers (const char *path, void (*edit) (struct ow_header *))
{
  uint8_t slot[OW_HEADER_SLOT_SIZE];
  struct ow_header h;
  int fd = open (path, O_RDWR);

  for (int i = 0; i < 2; i++) {
    ck_assert_int_eq (pread (fd, slot, sizeof slot, i * OW_HEADER_SLOT_SIZE), sizeof slot);
    ck_assert_int_eq (ow_header_decode (slot, &h), 0);
    edit (&h);
    ow_header_encode (&h, slot);
    ck_assert_int_eq (pwrite (fd, slot, sizeof slot, i * OW_HEADER_SLOT_SIZE), sizeof slot);
  }
  close (fd);
}

static void set_version_2 (struct ow_header *h) { h->version = 2; }
/* The lowest bit this version does not know, and the highest. */
static void set_incompat (struct ow_header *h) { h->incompat = OW_INCOMPAT_KNOWN + 1; }
static void set_incompat_high (struct ow_header *h) { h->incompat |= 1ULL << 63; }
static void set_ro_compat (struct ow_header *h) { h->ro_compat = 4; }

START_TEST (test_unknown_version)
{
  struct ow_overlay *ov = tl_open (ovpath, base, true, 0, -1);

  ck_assert_int_eq (ow_close (ov), 0);
  rewrite_headers (ovpath, set_ro_compat);
  ov = tl_open (ovpath, NULL, false, 0, -1);    /* reading is fine */
  ck_assert_int_eq (ow_close (ov), 0);
  ck_assert_int_eq (tl_try_open (ovpath, base, true, 0, -1, &ov), -1);
  ck_assert_errno (ENOTSUP);
  rewrite_headers (ovpath, set_incompat);
  ck_assert_int_eq (tl_try_open (ovpath, NULL, false, 0, -1, &ov), -1);
  ck_assert_int_eq (errno, ENOTSUP);
  ck_assert_ptr_nonnull (strstr (tl_last_error (), "newer"));
  rewrite_headers (ovpath, set_incompat_high);
  ck_assert_int_eq (tl_try_open (ovpath, NULL, false, 0, -1, &ov), -1);
  ck_assert_int_eq (errno, ENOTSUP);
  rewrite_headers (ovpath, set_version_2);
  ck_assert_int_eq (tl_try_open (ovpath, NULL, false, 0, -1, &ov), -1);
  ck_assert_errno (ENOTSUP);
  ck_assert_ptr_nonnull (strstr (tl_last_error (), "version 2"));
}
END_TEST

START_TEST (test_base_identity)
{
  struct ow_overlay *ov = tl_open (ovpath, base, true, 0, -1);
  const char *other = tl_path ("other.img"), *small = tl_path ("small.img");

  ck_assert_int_eq (ow_close (ov), 0);
  tl_make_base (other, BASE_SIZE, 2);           /* same size, other content */
  tl_make_base (small, BASE_SIZE / 2, BASE_SEED);
  ck_assert_int_eq (tl_try_open (ovpath, other, true, 0, -1, &ov), -1);
  ck_assert_errno (EINVAL);
  ck_assert_ptr_nonnull (strstr (tl_last_error (), base));
  ck_assert_ptr_nonnull (strstr (tl_last_error (), other));
  ck_assert_int_eq (tl_try_open (ovpath, small, true, 0, -1, &ov), -1);
  ck_assert_errno (EINVAL);
  ck_assert_ptr_nonnull (strstr (tl_last_error (), "4 MiB"));
  ck_assert_ptr_nonnull (strstr (tl_last_error (), "8 MiB"));
  /* A change in the base's first MiB (a superblock) is noticed. */
  int fd = open (base, O_WRONLY);
  ck_assert_int_eq (pwrite (fd, "x", 1, 1024), 1);
  close (fd);
  ck_assert_int_eq (tl_try_open (ovpath, base, true, 0, -1, &ov), -1);
  ck_assert_errno (EINVAL);
  ck_assert_ptr_nonnull (strstr (tl_last_error (), "different content"));
}
END_TEST

START_TEST (test_exclusive)
{
  struct ow_overlay *ov = tl_open (ovpath, base, true, 0, -1), *ov2;

  ck_assert_int_eq (tl_try_open (ovpath, base, true, 0, -1, &ov2), -1);
  ck_assert_int_eq (errno, EBUSY);
  ck_assert_ptr_nonnull (strstr (tl_last_error (), "in use"));
  ck_assert_int_eq (tl_try_open (ovpath, NULL, false, 0, -1, &ov2), -1);
  ck_assert_int_eq (errno, EBUSY);
  ck_assert_int_eq (ow_close (ov), 0);
  /* Readers share. */
  ov = tl_open (ovpath, NULL, false, 0, -1);
  ov2 = tl_open (ovpath, NULL, false, 0, -1);
  struct ow_overlay *ov3;
  ck_assert_int_eq (tl_try_open (ovpath, base, true, 0, -1, &ov3), -1);
  ck_assert_errno (EBUSY);
  ck_assert_int_eq (ow_close (ov), 0);
  ck_assert_int_eq (ow_close (ov2), 0);
}
END_TEST

START_TEST (test_block_size_fixed)
{
  struct ow_overlay *ov = tl_open (ovpath, base, true, 512, -1);

  ck_assert_uint_eq (ow_block_size (ov), 512);
  workload (ov, 11);
  check_view (ov);
  ck_assert_int_eq (ow_close (ov), 0);
  ck_assert_int_eq (tl_try_open (ovpath, base, true, 4096, -1, &ov), -1);
  ck_assert_errno (EINVAL);
  ck_assert_ptr_nonnull (strstr (tl_last_error (), "block size"));
  ck_assert_int_eq (tl_try_open (tl_path ("x.ow"), base, true, 3000, -1, &ov), -1);
  ck_assert_errno (EINVAL);
  ck_assert_ptr_nonnull (strstr (tl_last_error (), "3000"));
  ov = tl_open (ovpath, base, true, 0, -1);
  check_view (ov);
  ck_assert_int_eq (ow_close (ov), 0);
}
END_TEST

START_TEST (test_quota)
{
  struct ow_open_params p = { .overlay = ovpath, .base = base, .writable = true,
                              .compress = OW_COMPRESS_NONE, .track_reads = 1,
                              .max_size = 1 * MiB };
  struct ow_overlay *ov;
  uint8_t buf[4096];
  int n = 0;

  ck_assert_int_eq (ow_open (&p, &ov), 0);
  for (;; n++) {
    tl_fill (buf, sizeof buf, n * 4096ULL, 3000 + n);
    if (ow_pwrite (ov, buf, sizeof buf, n * 4096ULL, false) == -1) {
      ck_assert_int_eq (errno, ENOSPC);
      break;
    }
    memcpy (model + n * 4096ULL, buf, sizeof buf);
    ck_assert_int_lt (n, 1000);
  }
  ck_assert_int_gt (n, 200);
  ck_assert_int_eq (ow_pread (ov, buf, sizeof buf, 6 * MiB), 0); /* a read to log */
  ck_assert_int_eq (ow_flush (ov), 0);          /* the read set still fits */
  check_view (ov);
  ck_assert_int_eq (ow_close (ov), 0);
  ck_assert_uint_le (tl_file_size (ovpath), 1 * MiB);
  ck_assert_int_eq (ow_open (&p, &ov), 0);
  check_view (ov);
  ck_assert_int_eq (ow_pwrite (ov, buf, sizeof buf, 0, false), -1);
  ck_assert_int_eq (errno, ENOSPC);
  ck_assert_int_eq (ow_close (ov), 0);
  p.max_size = 0;                               /* lifted */
  ck_assert_int_eq (ow_open (&p, &ov), 0);
  do_write (ov, 0, 4096, 1);
  check_view (ov);
  ck_assert_int_eq (ow_close (ov), 0);
}
END_TEST

static int
collect (void *opaque, uint64_t first, uint64_t count)
{
  char *s = opaque;
  sprintf (s + strlen (s), "%lu+%lu ", (unsigned long) first, (unsigned long) count);
  return 0;
}

struct sets_work { int dummy; };

static void
sets_child (void *opaque)
{
  struct ow_overlay *ov;
  uint8_t buf[16384];

  if (tl_try_open (ovpath, base, true, 0, -1, &ov) == -1)
    _exit (1);
  /* Reads of base blocks 10..13 and 100, a write to 20, a read of 20
   * (overlay: not a base read), a partial write to 30 (reads 30). */
  if (ow_pread (ov, buf, 16384, 10 * 4096) || ow_pread (ov, buf, 1, 100 * 4096 + 7)
      || ow_pwrite (ov, buf, 4096, 20 * 4096, false) || ow_pread (ov, buf, 4096, 20 * 4096)
      || ow_pwrite (ov, buf, 100, 30 * 4096 + 5, false) || ow_flush (ov))
    _exit (2);
  /* After the flush: may be lost. */
  if (ow_pread (ov, buf, 4096, 500 * 4096))
    _exit (3);
  _exit (0);
}

START_TEST (test_read_and_written_sets)
{
  struct ow_overlay *ov;
  char written[256] = "", read[256] = "";

  tl_in_child (sets_child, NULL);
  ov = tl_open (ovpath, NULL, false, 0, -1);
  ck_assert_int_eq (ow_written_ranges (ov, collect, written), 0);
  ck_assert_int_eq (ow_read_ranges (ov, collect, read), 0);
  ck_assert_str_eq (written, "20+1 30+1 ");
  /* 500 may or may not have made it: it was read after the flush. */
  if (strcmp (read, "10+4 30+1 100+1 500+1 ") != 0)
    ck_assert_str_eq (read, "10+4 30+1 100+1 ");
  ck_assert_int_eq (ow_close (ov), 0);

  /* Through a clean close, everything is kept; zero ranges count. */
  ov = tl_open (ovpath, base, true, 0, -1);
  ck_assert_int_eq (ow_pread (ov, model, 4096, 600 * 4096), 0);
  ck_assert_int_eq (ow_zero (ov, 2 * MiB, 1 * MiB, false), 0);
  ck_assert_int_eq (ow_zero (ov, 4096, 2000 * 4096, true), 0);
  ck_assert_int_eq (ow_close (ov), 0);
  ov = tl_open (ovpath, NULL, false, 0, -1);
  written[0] = read[0] = '\0';
  ck_assert_int_eq (ow_written_ranges (ov, collect, written), 0);
  ck_assert_int_eq (ow_read_ranges (ov, collect, read), 0);
  ck_assert_str_eq (written, "20+1 30+1 256+512 2000+1 ");
  ck_assert_ptr_nonnull (strstr (read, "600+1"));
  ck_assert_int_eq (ow_close (ov), 0);
}
END_TEST

START_TEST (test_tiny_base)
{
  struct ow_overlay *ov;
  const char *tiny = tl_path ("tiny.img");

  model_size = 5000;
  tl_make_base (tiny, model_size, BASE_SEED);
  ov = tl_open (tl_path ("tiny.ow"), tiny, true, 0, -1);
  ck_assert_uint_eq (ow_size (ov), 5000);
  check_view (ov);
  do_write (ov, 4090, 910, 5);                  /* up to the very end */
  do_write (ov, 4096, 904, 6);                  /* all of the last block */
  do_zero (ov, 4999, 1);
  do_write (ov, 0, 4096, 7);
  check_view (ov);
  ck_assert_int_eq (ow_close (ov), 0);
  ov = tl_open (tl_path ("tiny.ow"), NULL, false, 0, -1);
  check_view (ov);
  ck_assert_int_eq (ow_close (ov), 0);
}
END_TEST

static int
collect_extent (void *opaque, uint64_t off, uint64_t len, bool hole)
{
  char *s = opaque;
  sprintf (s + strlen (s), "%lu+%lu%s ", (unsigned long) off, (unsigned long) len,
           hole ? "z" : "");
  return 0;
}

START_TEST (test_extents)
{
  const char *sparse = tl_path ("sparse.img");
  struct ow_overlay *ov;
  char ext[512] = "";
  uint8_t buf[4096] = { 1 };
  int fd = open (sparse, O_CREAT | O_WRONLY, 0644);

  /* Base: data in the first MiB, a hole after. */
  ck_assert_int_eq (ftruncate (fd, 4 * MiB), 0);
  for (int i = 0; i < 256; i++)
    ck_assert_int_eq (pwrite (fd, buf, 4096, i * 4096), 4096);
  close (fd);
  ov = tl_open (ovpath, sparse, true, 0, -1);
  ck_assert_int_eq (ow_pwrite (ov, buf, 4096, 2 * MiB, false), 0);
  ck_assert_int_eq (ow_zero (ov, 4096, 0, false), 0);
  ck_assert_int_eq (ow_extents (ov, 4 * MiB, 0, collect_extent, ext), 0);
  ck_assert_str_eq (ext, "0+4096z 4096+1044480 1048576+1048576z 2097152+4096 2101248+2093056z ");
  ck_assert_int_eq (ow_close (ov), 0);
}
END_TEST

static void
add_tests (TCase *tc)
{
  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_set_timeout (tc, 120);
  tcase_add_loop_test (tc, test_view_and_persistence, 0, 2);
  tcase_add_test (tc, test_compression);
  tcase_add_test (tc, test_recovery_after_kill);
  tcase_add_test (tc, test_truncated_tail);
  tcase_add_test (tc, test_torn_tail);
  tcase_add_test (tc, test_checksum_failure_in_flushed_part);
  tcase_add_test (tc, test_checkpoint_damaged);
  tcase_add_test (tc, test_header_damaged);
  tcase_add_test (tc, test_unknown_version);
  tcase_add_test (tc, test_base_identity);
  tcase_add_test (tc, test_exclusive);
  tcase_add_test (tc, test_block_size_fixed);
  tcase_add_test (tc, test_quota);
  tcase_add_test (tc, test_read_and_written_sets);
  tcase_add_test (tc, test_tiny_base);
  tcase_add_test (tc, test_extents);
}

int
main (void)
{
  return tl_run ("overlay", add_tests);
}
