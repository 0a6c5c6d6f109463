/* oneway: helpers for the Check unit tests.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "oneway/error.h"
#include "testlib.h"

/* Check runs each test in a child process (unless CK_FORK=no), so a
 * directory made by a test is made in the child, where the parent's
 * cleanup cannot see it; and a test that fails, crashes or times out
 * does not get to clean up.  So tl_run makes one directory in the
 * parent, every tl_dir is made inside it, and tl_run removes it whole
 * at the end. */
static char root[256];
static char dir[300];
static char last_error[4096];

static bool
make_dir (char *buf, size_t len, const char *parent, const char *name)
{
  snprintf (buf, len, "%s/%s.XXXXXX", parent, name);
  return mkdtemp (buf) != NULL;
}

const char *
tl_dir (void)
{
  if (!dir[0]) {
    const char *t = getenv ("TMPDIR");
    ck_assert (root[0] ? make_dir (dir, sizeof dir, root, "test")
               : make_dir (dir, sizeof dir, t ? t : "/tmp", "oneway-unit"));
  }
  return dir;
}

static int
rm_one (const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
  return remove (p);
}

static void
remove_tree (const char *p)
{
  nftw (p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void
tl_cleanup (void)
{
  if (dir[0])
    remove_tree (dir);
  dir[0] = '\0';
}

const char *
tl_path (const char *name)
{
  static char bufs[4][512];
  static int next;
  char *b = bufs[next++ % 4];
  snprintf (b, 512, "%s/%s", tl_dir (), name);
  return b;
}

static void
capture (const char *fmt, va_list ap)
{
  vsnprintf (last_error, sizeof last_error, fmt, ap);
}

void
tl_capture_errors (void)
{
  ow_set_error_handler (capture);
}

const char *
tl_last_error (void)
{
  return last_error;
}

void
tl_clear_error (void)
{
  last_error[0] = '\0';
}

void
tl_fill (uint8_t *buf, size_t len, uint64_t offset, uint32_t seed)
{
  /* Differs per 8-byte word and per seed, cheap to recompute anywhere. */
  for (size_t i = 0; i < len; i++) {
    uint64_t w = (offset + i) / 8 * 0x9e3779b97f4a7c15ULL + seed * 0xbf58476d1ce4e5b9ULL;
    w ^= w >> 31;
    buf[i] = w >> (8 * ((offset + i) % 8));
  }
}

void
tl_make_base (const char *path, uint64_t size, uint32_t seed)
{
  FILE *f = fopen (path, "w");
  uint8_t buf[65536];

  ck_assert_ptr_nonnull (f);
  for (uint64_t off = 0; off < size; off += sizeof buf) {
    size_t n = size - off < sizeof buf ? size - off : sizeof buf;
    tl_fill (buf, n, off, seed);
    ck_assert_uint_eq (fwrite (buf, 1, n, f), n);
  }
  ck_assert_int_eq (fclose (f), 0);
}

int
tl_try_open (const char *overlay, const char *base, bool writable,
             uint32_t block_size, int compress, struct ow_overlay **ov)
{
  struct ow_open_params p = {
    .overlay = overlay, .base = base, .writable = writable,
    .block_size = block_size, .compress = compress, .track_reads = -1,
  };
  return ow_open (&p, ov);
}

struct ow_overlay *
tl_open (const char *overlay, const char *base, bool writable,
         uint32_t block_size, int compress)
{
  struct ow_overlay *ov = NULL;

  if (tl_try_open (overlay, base, writable, block_size, compress, &ov) == -1)
    ck_abort_msg ("cannot open %s: %s", overlay, tl_last_error ());
  return ov;
}

void
tl_in_child (void (*fn) (void *), void *opaque)
{
  pid_t pid = fork ();
  int status;

  ck_assert_int_ge (pid, 0);
  if (pid == 0) {
    fn (opaque);
    _exit (0);
  }
  ck_assert_int_eq (waitpid (pid, &status, 0), pid);
  ck_assert_msg (WIFEXITED (status) && WEXITSTATUS (status) == 0,
                 "child failed (status %d)", status);
}

uint64_t
tl_file_size (const char *path)
{
  struct stat st;
  ck_assert_int_eq (stat (path, &st), 0);
  return st.st_size;
}

void
tl_corrupt_byte (const char *path, uint64_t offset)
{
  int fd = open (path, O_RDWR);
  uint8_t b;

  ck_assert_int_ge (fd, 0);
  ck_assert_int_eq (pread (fd, &b, 1, offset), 1);
  b ^= 0x5a;
  ck_assert_int_eq (pwrite (fd, &b, 1, offset), 1);
  close (fd);
}

int
tl_run (const char *name, void (*add_tests) (TCase *tc))
{
  Suite *s = suite_create (name);
  TCase *tc = tcase_create (name);
  SRunner *sr;
  int failed;

  const char *t = getenv ("TMPDIR");
  if (!make_dir (root, sizeof root, t ? t : "/tmp", "oneway-unit")) {
    perror (root);
    return 99;                  /* automake's hard error */
  }
  add_tests (tc);
  suite_add_tcase (s, tc);
  sr = srunner_create (s);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  tl_cleanup ();
  remove_tree (root);
  root[0] = '\0';
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
