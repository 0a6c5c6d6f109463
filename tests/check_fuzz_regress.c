/* oneway: the fuzz target's regression inputs, in make check.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * Every file in tests/fuzz-regress/ (but the base and the list of
 * expectations) is an SEE image that made the merge library crash,
 * leak, hang or trip a sanitizer (found by the fuzzer, or crafted while
 * reading the code), or a seed; it runs through fuzz_one, the function
 * the libFuzzer target calls, over tests/fuzz-regress/base.img.gz.
 * The normal build, the sanitizer build and valgrind (make
 * check-valgrind) watch for crashes and leaks.  The work is measured
 * in bytes read, not time, so that a slow input that comes back fails
 * here on any machine, valgrind or not.
 *
 * An input only guards its bug while it still reaches the code that
 * had it: a fix elsewhere can make it stop short.  So each input has a
 * line in tests/fuzz-regress/expectations saying what it must do (its
 * outcome, findings, errors, changes), checked here; an input without
 * one fails, and so does a line for an input that is not there.
 */
#include <config.h>

#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-one.h"
#include "oneway/util.h"

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

#define EXPECTATIONS "expectations"

static char **inputs;
static size_t base_len;
static size_t ninputs;

/* One line of the expectations: an input and what it must do, as
 * words "key=value" (quotes removed). */
struct expectation {
  char *input;
  char **words;
  size_t n;
};
static struct expectation *expected;
static size_t nexpected;

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
    if (e->d_name[0] == '.' || strcmp (e->d_name, "base.img.gz") == 0
        || strcmp (e->d_name, EXPECTATIONS) == 0)
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

static void *
grow (void *p, size_t n, size_t size)
{
  if (!(p = realloc (p, n * size))) {
    perror ("expectations");
    exit (EXIT_FAILURE);
  }
  return p;
}

static char *
copy (const char *w)
{
  char *c = strdup (w);

  if (!c) {
    perror ("expectations");
    exit (EXIT_FAILURE);
  }
  return c;
}

/* The next word of a line, up to a blank but for blanks inside "...";
 * the quotes are dropped.  NULL at the end of the line.  An unclosed
 * quote sets *bad. */
static char *
next_word (char **line, bool *bad)
{
  char *s = *line, *w, *out;
  bool quoted = false;

  s += strspn (s, " \t\n");
  if (!*s)
    return NULL;
  for (out = w = s; *s && (quoted || !strchr (" \t\n", *s)); s++)
    if (*s == '"')
      quoted = !quoted;
    else
      *w++ = *s;
  *bad |= quoted;
  *line = *s ? s + 1 : s;
  *w = '\0';
  return out;
}

/* tests/fuzz-regress/expectations: "INPUT key=value ...", one line
 * each; a line that starts with a blank goes on with the one before,
 * and '#' starts a comment line. */
static void
read_expectations (void)
{
  FILE *f = fopen (REGRESS_DIR "/" EXPECTATIONS, "r");
  char *line = NULL, *p, *w;
  size_t cap = 0;
  unsigned lineno = 0;
  bool bad = false;

  if (!f) {
    perror (REGRESS_DIR "/" EXPECTATIONS);
    exit (EXIT_FAILURE);
  }
  while (getline (&line, &cap, f) != -1) {
    lineno++;
    bool more = (line[0] == ' ' || line[0] == '\t') && nexpected > 0;
    p = line;
    if (!(w = next_word (&p, &bad)) || w[0] == '#')
      continue;
    if (!more) {
      expected = grow (expected, nexpected + 1, sizeof *expected);
      expected[nexpected++] = (struct expectation) { copy (w), NULL, 0 };
      w = next_word (&p, &bad);
    }
    struct expectation *e = &expected[nexpected - 1];
    for (; w; w = next_word (&p, &bad)) {
      e->words = grow (e->words, e->n + 1, sizeof *e->words);
      e->words[e->n++] = copy (w);
    }
    if (bad) {
      fprintf (stderr, "%s/%s:%u: a quote is not closed\n", REGRESS_DIR, EXPECTATIONS,
               lineno);
      exit (EXIT_FAILURE);
    }
  }
  free (line);
  fclose (f);
}

static void
free_expectations (void)
{
  for (size_t i = 0; i < nexpected; i++) {
    for (size_t k = 0; k < expected[i].n; k++)
      free (expected[i].words[k]);
    free (expected[i].words);
    free (expected[i].input);
  }
  free (expected);
}

static const struct expectation *
expectation_of (const char *input)
{
  for (size_t i = 0; i < nexpected; i++)
    if (strcmp (expected[i].input, input) == 0)
      return &expected[i];
  return NULL;
}

static bool
some_message_has (const struct findings *f, const char *text)
{
  for (size_t i = 0; i < f->n; i++)
    if (strstr (f->msg[i], text))
      return true;
  return false;
}

/* "KIND:PATH", as in the change list. */
static bool
has_change (const struct changes *cs, const char *want)
{
  for (size_t i = 0; i < cs->n; i++) {
    const char *kind = change_kind_names[cs->c[i].kind];
    size_t k = strlen (kind);
    if (strncmp (want, kind, k) == 0 && want[k] == ':'
        && strlen (want + k + 1) == cs->c[i].path.len
        && memcmp (want + k + 1, cs->c[i].path.s, cs->c[i].path.len) == 0)
      return true;
  }
  return false;
}

/* What the input did, for the message of a failed expectation (and
 * for ONEWAY_FUZZ_VERBOSE: how to write a new input's line); at most
 * SHOW of each kind of message. */
#define SHOW 20

static void
print_messages (const char *what, const struct findings *f)
{
  for (size_t i = 0; i < f->n && i < SHOW; i++)
    printf ("  %s: %s\n", what, f->msg[i]);
  if (f->n > SHOW || f->dropped)
    printf ("  (%" PRIu64 " more of them)\n", f->n - ow_min64 (f->n, SHOW) + f->dropped);
}

static void
print_report (const char *input, const struct fuzz_report *r)
{
  printf ("%s: outcome=%s, read %.1f times the image, named %zu directories%s%s\n", input,
          fuzz_outcome_names[r->outcome], (double) r->bytes_read / base_len, r->named_dirs,
          r->walk_budget_spent ? ", spent=walks" : "",
          r->dir_budget_spent ? ", spent=directories" : "");
  for (int c = 0; c < OWNER_CLASSES; c++)
    if (r->classes[c])
      printf ("  audit: %s:%" PRIu64 "\n", owner_class_name (c), r->classes[c]);
  print_messages ("error", &r->errors);
  print_messages ("finding", &r->findings);
  for (size_t i = 0; i < r->changes.n && i < SHOW; i++)
    printf ("  change: %s:%.*s\n", change_kind_names[r->changes.c[i].kind],
            (int) r->changes.c[i].path.len, r->changes.c[i].path.s);
  if (r->changes.n > SHOW)
    printf ("  (%zu more changes)\n", r->changes.n - SHOW);
  fflush (stdout);
}

/* "CLASS:N": audit counts N written blocks of that class. */
static bool
has_class_count (const struct fuzz_report *r, const char *want)
{
  for (int c = 0; c < OWNER_CLASSES; c++) {
    const char *name = owner_class_name (c);
    size_t k = strlen (name);
    char count[24];
    snprintf (count, sizeof count, "%" PRIu64, r->classes[c]);
    if (strncmp (want, name, k) == 0 && want[k] == ':' && strcmp (want + k + 1, count) == 0)
      return true;
  }
  return false;
}

static bool
key_is (const char *word, size_t k, const char *key)
{
  return strlen (key) == k && strncmp (word, key, k) == 0;
}

/* Whether the report meets one "key=value": 1, or 0 with why not in
 * why; -1 if the word is no expectation at all. */
static int
meets (const struct fuzz_report *r, const char *word, char *why, size_t len)
{
  const char *v = strchr (word, '=');
  size_t k = v ? (size_t) (v - word) : 0;

  if (!v) {
    snprintf (why, len, "\"%s\" is not key=value", word);
    return -1;
  }
  v++;
  if (key_is (word, k, "fail-see-read"))
    return 1;                   /* how it runs (fault_of), not what it must do */
  if (key_is (word, k, "outcome")) {
    snprintf (why, len, "the outcome is %s, not %s", fuzz_outcome_names[r->outcome], v);
    return strcmp (fuzz_outcome_names[r->outcome], v) == 0;
  }
  if (key_is (word, k, "finding")) {
    snprintf (why, len, "no finding says \"%s\"", v);
    return some_message_has (&r->findings, v);
  }
  if (key_is (word, k, "error")) {
    snprintf (why, len, "no error says \"%s\"", v);
    return some_message_has (&r->errors, v);
  }
  if (key_is (word, k, "change")) {
    snprintf (why, len, "the change list has no %s", v);
    return has_change (&r->changes, v);
  }
  if (key_is (word, k, "audit")) {
    snprintf (why, len, "audit does not count %s written blocks", v);
    return has_class_count (r, v);
  }
  if (key_is (word, k, "spent")) {
    snprintf (why, len, "the bound on %s was not reached", v);
    return (strcmp (v, "walks") == 0 && r->walk_budget_spent)
      || (strcmp (v, "directories") == 0 && r->dir_budget_spent);
  }
  if (key_is (word, k, "min-named-dirs")) {
    snprintf (why, len, "%zu directories were named in the SEE view, not at least %s",
              r->named_dirs, v);
    return r->named_dirs >= strtoull (v, NULL, 10);
  }
  snprintf (why, len, "\"%.*s\" is no expectation (outcome, finding, error, change, "
            "audit, spent, min-named-dirs; fail-see-read)", (int) k, word);
  return -1;
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

/* The fault an input runs with: "fail-see-read=BYTE". */
static struct fuzz_fault
fault_of (const struct expectation *e)
{
  struct fuzz_fault f = { false, 0 };

  for (size_t i = 0; e && i < e->n; i++)
    if (strncmp (e->words[i], "fail-see-read=", 14) == 0) {
      f.see_read = true;
      f.see_read_at = strtoull (e->words[i] + 14, NULL, 0);
    }
  return f;
}

START_TEST (test_input)
{
  const char *input = inputs[_i];
  const struct expectation *e = expectation_of (input);
  struct fuzz_fault fault = fault_of (e);
  struct fuzz_report r;
  char path[4096], why[512];
  bool has_outcome = false;
  uint8_t *buf;
  size_t len;

  snprintf (path, sizeof path, "%s/%s", REGRESS_DIR, input);
  ck_assert_msg (fuzz_read_file (path, &buf, &len) == 0, "cannot read %s", path);
  fuzz_one (buf, len, &fault, &r);
  free (buf);
  if (getenv ("ONEWAY_FUZZ_VERBOSE"))
    print_report (input, &r);
  ck_assert_msg (e, "%s has no line in tests/fuzz-regress/" EXPECTATIONS ": say what it "
                 "must exercise (fuzz/README, \"Regression inputs\")", input);
  for (size_t i = 0; i < e->n; i++) {
    has_outcome |= strncmp (e->words[i], "outcome=", 8) == 0;
    int m = meets (&r, e->words[i], why, sizeof why);
    ck_assert_msg (m != -1, "%s: in tests/fuzz-regress/" EXPECTATIONS ": %s", input, why);
    if (m == 0) {
      print_report (input, &r);
      ck_abort_msg ("%s: %s: it no longer does what it was added for", input, why);
    }
  }
  ck_assert_msg (has_outcome, "%s: its line in tests/fuzz-regress/" EXPECTATIONS " gives "
                 "no outcome=", input);
  ck_assert_msg (r.bytes_read <= READ_LIMIT * (uint64_t) base_len, "%s: read %" PRIu64
                 " bytes, more than %d times the image: a slow input", input, r.bytes_read,
                 READ_LIMIT);
  fuzz_report_free (&r);
}
END_TEST

/* Every line is for an input that is there, and only one. */
START_TEST (test_expectations_name_inputs)
{
  for (size_t i = 0; i < nexpected; i++) {
    bool found = false;
    for (size_t k = 0; k < ninputs && !found; k++)
      found = strcmp (inputs[k], expected[i].input) == 0;
    ck_assert_msg (found, "tests/fuzz-regress/" EXPECTATIONS " names %s, which is not in "
                   "tests/fuzz-regress", expected[i].input);
    ck_assert_msg (expectation_of (expected[i].input) == &expected[i], "tests/fuzz-regress/"
                   EXPECTATIONS " has two lines for %s", expected[i].input);
  }
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
  read_expectations ();
  tcase_add_test (tc, test_expectations_name_inputs);
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
  free_expectations ();
  return failed || ninputs == 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
