/* oneway: a sync that fails stops the overlay until it is reopened.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * After a failed fdatasync Linux may have dropped the dirty pages that
 * did not reach the disk and marked them clean: the next fdatasync then
 * succeeds without them.  A flush after that would declare durable
 * records that are not on the disk.  So after one failed sync every
 * write and flush must fail with EIO, nothing more may reach the file,
 * and a reopen must recover to the last flush that succeeded.  Tried
 * on the simulated file (which drops those writes as Linux does) and
 * on a real file, with the failure injected at the plain-file backend.
 */
#include <config.h>

#include <check.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "oneway/test-hooks.h"
#include "testlib.h"

#define DISK (256 * 1024)
#define BS 4096

/* Every write and flush now fails with EIO; reads still work. */
static void
assert_stopped (struct ow_overlay *ov)
{
  uint8_t buf[BS] = { 1 };

  errno = 0;
  ck_assert_int_eq (ow_pwrite (ov, buf, BS, 5 * BS, false), -1);
  ck_assert_int_eq (errno, EIO);
  errno = 0;
  ck_assert_int_eq (ow_zero (ov, BS, 6 * BS, false), -1);
  ck_assert_int_eq (errno, EIO);
  errno = 0;
  ck_assert_int_eq (ow_flush (ov), -1);
  ck_assert_int_eq (errno, EIO);
  ck_assert_int_eq (ow_pread (ov, buf, BS, 0), 0);
}

START_TEST (test_simulated)
{
  const char *base = tl_path ("base.img");
  struct memfile file;
  struct model m;
  struct ow_overlay *ov;
  size_t stopped;
  unsigned rng = 7;

  tl_capture_errors ();
  tl_make_base (base, DISK, MODEL_BASE_SEED);
  mf_init (&file, -1, 1);
  model_init (&m, &file, base, BS, DISK / BS);
  ov = model_open (&m, OW_COMPRESS_LZ4);
  ck_assert_int_eq (model_write (&m, ov, 0, 2, 2), 0);
  ck_assert_int_eq (model_read (&m, ov, 10, 1), 0);
  ck_assert_int_eq (model_flush (&m, ov), 0);
  ck_assert_int_eq (model_write (&m, ov, 0, 1, 4), 0);
  ck_assert_int_eq (model_write (&m, ov, 1, 1, 5), 0);
  ck_assert_int_eq (model_read (&m, ov, 11, 1), 0);
  file.fail_sync = file.syncs + 1;
  errno = 0;
  ck_assert_int_eq (model_flush (&m, ov), -1);
  ck_assert_int_eq (errno, EIO);
  stopped = mf_mark (&file);
  /* The simulated file's syncs work again, as Linux's would. */
  assert_stopped (ov);
  errno = 0;
  ck_assert_int_eq (ow_close (ov), -1);
  ck_assert_int_eq (errno, EIO);
  /* The only entry in the history since is the next mark. */
  size_t now = mf_mark (&file);
  ck_assert_msg (now == stopped + 1, "the overlay file was written or synced "
                 "after its sync failed: %zu operations", now - stopped - 1);
  ck_assert_str_ne (tl_last_error (), "");
  /* Recovered with what the page cache still had, and with what the
   * disk really holds, which lost the writes of the failed sync. */
  model_check (&m, stopped, false, &rng, "after the failed sync");
  for (int i = 0; i < 16; i++)
    model_check (&m, stopped, true, &rng, "after the failed sync");
  model_free (&m);
  mf_free (&file);
  tl_cleanup ();
}
END_TEST

/* The plain-file backend, a real call of it replaced by a failure. */
static enum ow_hook_point fail_at = OW_HOOK_FILE_SYNC;
static int fail_syncs;

static int
inject (enum ow_hook_point where, void *ov)
{
  if (where == fail_at && fail_syncs > 0) {
    fail_syncs--;
    return EIO;
  }
  return 0;
}

static void
fill_block (uint8_t *buf, uint64_t block, uint32_t seed)
{
  tl_fill (buf, BS, block * BS, seed);
}

START_TEST (test_real_file)
{
  const char *base = tl_path ("base.img"), *path = tl_path ("sync.ow");
  struct ow_overlay *ov;
  uint8_t v1[BS], v2[BS], got[BS];

  tl_capture_errors ();
  ow_test_hook = inject;
  tl_make_base (base, DISK, MODEL_BASE_SEED);
  ov = tl_open (path, base, true, BS, OW_COMPRESS_NONE);
  fill_block (v1, 3, 1);
  fill_block (v2, 3, 2);
  ck_assert_int_eq (ow_pwrite (ov, v1, BS, 3 * BS, false), 0);
  ck_assert_int_eq (ow_flush (ov), 0);
  ck_assert_int_eq (ow_pwrite (ov, v2, BS, 3 * BS, false), 0);
  fail_syncs = 1;
  errno = 0;
  ck_assert_int_eq (ow_flush (ov), -1);
  ck_assert_int_eq (errno, EIO);
  ck_assert_int_eq (fail_syncs, 0);
  assert_stopped (ov);
  ck_assert_int_eq (ow_close (ov), -1);
  ck_assert_int_eq (errno, EIO);

  /* The last good flush, or the write after it, whole. */
  ov = tl_open (path, base, true, BS, OW_COMPRESS_NONE);
  ck_assert_int_eq (ow_pread (ov, got, BS, 3 * BS), 0);
  ck_assert_msg (memcmp (got, v1, BS) == 0 || memcmp (got, v2, BS) == 0,
                 "block 3 holds neither the flushed value nor the later one");
  /* And it is writable again. */
  ck_assert_int_eq (ow_pwrite (ov, v1, BS, 4 * BS, true), 0);
  ck_assert_int_eq (ow_close (ov), 0);
  ov = tl_open (path, base, false, BS, OW_COMPRESS_NONE);
  ck_assert_int_eq (ow_pread (ov, got, BS, 4 * BS), 0);
  ck_assert_int_eq (memcmp (got, v1, BS), 0);
  ck_assert_int_eq (ow_close (ov), 0);
  ow_test_hook = NULL;
  tl_cleanup ();
}
END_TEST

/* A new overlay whose directory entry cannot be made durable would
 * vanish in a power cut with all it flushed: it is not made at all. */
START_TEST (test_directory_sync)
{
  const char *base = tl_path ("base.img"), *path = tl_path ("new.ow");
  struct ow_overlay *ov;

  tl_capture_errors ();
  ow_test_hook = inject;
  tl_make_base (base, DISK, MODEL_BASE_SEED);
  fail_at = OW_HOOK_DIR_SYNC;
  fail_syncs = 1;
  errno = 0;
  ck_assert_int_eq (tl_try_open (path, base, true, BS, OW_COMPRESS_NONE, &ov), -1);
  ck_assert_int_eq (errno, EIO);
  ck_assert_ptr_nonnull (strstr (tl_last_error (), "cannot sync the directory"));
  ck_assert_int_eq (access (path, F_OK), -1);
  /* The next try makes it. */
  ov = tl_open (path, base, true, BS, OW_COMPRESS_NONE);
  ck_assert_int_eq (ow_close (ov), 0);
  fail_at = OW_HOOK_FILE_SYNC;
  ow_test_hook = NULL;
  tl_cleanup ();
}
END_TEST

static void
add_tests (TCase *tc)
{
  tcase_add_test (tc, test_simulated);
  tcase_add_test (tc, test_real_file);
  tcase_add_test (tc, test_directory_sync);
}

int
main (void)
{
  return tl_run ("sync-failure", add_tests);
}
