/* oneway: the fuzz target's regression inputs, in make check.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * Every file in tests/fuzz-regress/ (but the base) is an SEE image
 * that made the merge library crash, leak, hang or trip a sanitizer
 * (found by the fuzzer, or crafted while reading the code), or a seed;
 * it runs through fuzz_one, the function the libFuzzer target calls,
 * over tests/fuzz-regress/base.img.gz.  Passing means finishing with
 * bounded work: the normal build, the sanitizer build and valgrind
 * (make check-valgrind) watch for the rest.  The work is measured in
 * bytes read, not time, so that a slow input that comes back fails
 * here on any machine, valgrind or not.
 */
#include <config.h>

#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-one.h"

#ifndef REGRESS_DIR
#error "REGRESS_DIR (the tests/fuzz-regress directory) must be defined"
#endif

/* What one input may read from both views together, in multiples of
 * the image.  The directory budget lets each view read 16 times the
 * filesystem plus one largest directory (64 Ki blocks): 144 times this
 * 512 KiB image, which dir-blocks-amplified reaches; without that
 * budget it read 11777 times the image.  Set ONEWAY_FUZZ_VERBOSE to
 * see what each input reads. */
#define READ_LIMIT 400

static char **inputs;
static size_t base_len;
static size_t ninputs;

static int
compare_names (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static void
list_inputs (void)
{
  DIR *d = opendir (REGRESS_DIR);
  struct dirent *e;

  if (!d) {
    perror (REGRESS_DIR);
    exit (EXIT_FAILURE);
  }
  while ((e = readdir (d))) {
    if (e->d_name[0] == '.' || strcmp (e->d_name, "base.img.gz") == 0)
      continue;
    if (!(inputs = realloc (inputs, (ninputs + 1) * sizeof *inputs))
        || !(inputs[ninputs++] = strdup (e->d_name))) {
      perror ("list_inputs");
      exit (EXIT_FAILURE);
    }
  }
  closedir (d);
  qsort (inputs, ninputs, sizeof *inputs, compare_names);
}

static void
setup (void)
{
  uint8_t *buf;
  size_t len;

  ck_assert_int_eq (fuzz_read_file (REGRESS_DIR "/base.img.gz", &buf, &len), 0);
  ck_assert_int_eq (fuzz_set_base (buf, len), 0);
  base_len = len;
  free (buf);
}

static void
teardown (void)
{
  fuzz_free_base ();
}

START_TEST (test_input)
{
  char path[4096];
  uint8_t *buf;
  size_t len;

  snprintf (path, sizeof path, "%s/%s", REGRESS_DIR, inputs[_i]);
  ck_assert_msg (fuzz_read_file (path, &buf, &len) == 0, "cannot read %s", path);
  uint64_t n = fuzz_one (buf, len);
  free (buf);
  if (getenv ("ONEWAY_FUZZ_VERBOSE"))
    printf ("%s: read %.1f times the image\n", inputs[_i], (double) n / base_len);
  ck_assert_msg (n <= READ_LIMIT * (uint64_t) base_len, "%s: read %" PRIu64 " bytes, "
                 "more than %d times the image: a slow input", inputs[_i], n, READ_LIMIT);
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("fuzz-regress");
  TCase *tc = tcase_create ("inputs");
  SRunner *sr;
  int failed;

  list_inputs ();
  tcase_add_checked_fixture (tc, setup, teardown);
  /* Each input takes milliseconds; valgrind makes that a second. */
  tcase_set_timeout (tc, 120);
  tcase_add_loop_test (tc, test_input, 0, ninputs);
  suite_add_tcase (s, tc);
  sr = srunner_create (s);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  for (size_t i = 0; i < ninputs; i++)
    free (inputs[i]);
  free (inputs);
  return failed || ninputs == 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
