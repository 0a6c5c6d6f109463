/* oneway-merge fuzzing: one SEE image through audit, diff and cat.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "analysis.h"
#include "changes.h"
#include "fuzz-one.h"
#include "oneway/error.h"

/* Bounds on the cat-like reads, so that a crafted file size does not
 * make one input stream gigabytes of holes: cat itself would, and that
 * is its job, not a bug. */
#define CAT_PATHS 8
#define CAT_BLOCKS 64
#define NAME_INODES 16

static uint8_t *base;
static size_t base_len;

const char *const fuzz_outcome_names[FUZZ_OUTCOMES] = {
  "open-failed", "not-ext", "attribute-failed", "diff-failed", "diffed",
};

int
fuzz_read_file (const char *path, uint8_t **buf, size_t *len)
{
  gzFile f = gzopen (path, "rb");
  size_t cap = 1 << 16, n = 0;
  uint8_t *b = NULL;
  int r;

  if (!f) {
    fprintf (stderr, "%s: %s\n", path, strerror (errno ? errno : ENOMEM));
    return -1;
  }
  do {
    uint8_t *p;
    if (!b || n == cap) {
      if (b)
        cap *= 2;
      if (!(p = realloc (b, cap))) {
        free (b);
        gzclose (f);
        fprintf (stderr, "%s: out of memory\n", path);
        return -1;
      }
      b = p;
    }
    r = gzread (f, b + n, cap - n);
    if (r > 0)
      n += r;
  } while (r > 0);
  if (r < 0) {
    int e;
    fprintf (stderr, "%s: %s\n", path, gzerror (f, &e));
    gzclose (f);
    free (b);
    return -1;
  }
  gzclose (f);
  *buf = b;
  *len = n;
  return 0;
}

int
fuzz_set_base (const uint8_t *buf, size_t len)
{
  fuzz_free_base ();
  if (!(base = malloc (len ? len : 1)))
    return -1;
  memcpy (base, buf, len);
  base_len = len;
  return 0;
}

void
fuzz_free_base (void)
{
  free (base);
  base = NULL;
  base_len = 0;
}

/* The views, counting what is read from them (the regression test
 * checks the work each input costs with that, not with a clock), and
 * failing as a fault says. */
struct counted {
  const char *label;
  const uint8_t *buf;
  uint64_t *read;
  bool fails;                   /* a read that covers fails_at fails */
  uint64_t fails_at;
};

static int
counted_pread (void *h, void *buf, uint64_t count, uint64_t offset)
{
  struct counted *c = h;

  if (c->fails && c->fails_at >= offset && c->fails_at - offset < count) {
    errno = EIO;
    ow_error ("%s: reading %" PRIu64 " bytes at %" PRIu64 " failed: %m (a fault the test "
              "injects at byte %" PRIu64 ")", c->label, count, offset, c->fails_at);
    return -1;
  }
  memcpy (buf, c->buf + offset, count);
  *c->read += count;
  return 0;
}

/* Errors are results too: kept for the report, if there is one.  The
 * error sink is global, hence a global list. */
static struct findings *errors;

static void
keep_error (const char *fmt, va_list ap)
{
  char *m;

  if (errors && vasprintf (&m, fmt, ap) >= 0) {
    findings_add (errors, "%s", m);
    free (m);
  }
}

/* The written set: every block of the filesystem's size where the
 * views differ, as whole runs, the way the overlay reports it. */
static int
add_differences (struct analysis *an, const uint8_t *s1)
{
  uint64_t bs = an->v[S1].bs, run = 0, start = 0;

  for (uint64_t off = 0; off < base_len; off += bs) {
    uint64_t n = base_len - off < bs ? base_len - off : bs;
    if (memcmp (base + off, s1 + off, n) != 0) {
      if (!run)
        start = off;
      run += n;
      continue;
    }
    if (run && analysis_add_written (an, start, run) == -1)
      return -1;
    run = 0;
  }
  if (run && analysis_add_written (an, start, run) == -1)
    return -1;
  return 0;
}

/* What cat does with one path in one view, over a bounded number of
 * blocks. */
static void
cat_path (struct analysis *an, int v, const char *path)
{
  struct extfs *x = &an->v[v];
  struct ext2_inode_large inode;
  struct extfs_file f;
  ext2_ino_t ino;
  char *buf;
  uint64_t size, nblocks;

  if (pathres_lookup (x, path, &ino) == -1 || extfs_read_inode (x, ino, &inode) == -1
      || !LINUX_S_ISREG (inode.i_mode))
    return;
  size = EXT2_I_SIZE (&inode);
  nblocks = size / x->bs + (size % x->bs != 0);
  if (nblocks > CAT_BLOCKS)
    nblocks = CAT_BLOCKS;
  if (!(buf = malloc (x->bs)))
    return;
  if (extfs_file_open (x, ino, &inode, &f) == 0) {
    for (uint64_t l = 0; l < nblocks; l++)
      if (extfs_file_block (&f, l, buf) == -1)
        break;
    extfs_file_close (&f);
  }
  free (buf);
}

/* Paths of the seeds' tree, and the changed ones. */
static const char *const fixed_paths[] = {
  "/small", "/dir/file", "/dir/sub/deep", "/sparse", "/fast-link", "/slow-link",
  "/hard1", "/inline", "/lost+found/none",
};

static void
cat_changes (struct analysis *an, const struct changes *cs)
{
  size_t done = 0;

  for (size_t i = 0; i < sizeof fixed_paths / sizeof fixed_paths[0]; i++) {
    cat_path (an, S0, fixed_paths[i]);
    cat_path (an, S1, fixed_paths[i]);
  }
  for (size_t i = 0; i < cs->n && done < CAT_PATHS; i++) {
    const struct change *c = &cs->c[i];
    char *p;
    if (c->path.len == 0 || c->path.s[0] != '/' || memchr (c->path.s, 0, c->path.len))
      continue;
    if (!(p = strndup (c->path.s, c->path.len)))
      return;
    cat_path (an, c->kind == CHANGE_DELETED ? S0 : S1, p);
    free (p);
    done++;
  }
}

/* What audit names: the inodes owning written blocks. */
static void
name_owners (struct analysis *an)
{
  uint32_t inos[NAME_INODES];
  struct path *paths[NAME_INODES];
  size_t counts[NAME_INODES], n = 0;
  uint32_t first = EXT2_FIRST_INODE (an->v[S1].fs->super);

  for (size_t k = 0; k < an->written.n && n < NAME_INODES; k++) {
    const struct range *rg = &an->written.r[k];
    for (uint64_t i = 0; i < rg->count && n < NAME_INODES; i++) {
      const struct owner *o = &an->own[S1].o[rg->rank + i];
      bool dup = false;
      if (o->cls != OWNER_FILE_DATA && o->cls != OWNER_DIRECTORY
          && o->cls != OWNER_EXTENT_TREE && o->cls != OWNER_XATTR)
        continue;
      if (o->ino < first)
        continue;
      for (size_t j = 0; j < n; j++)
        dup |= inos[j] == o->ino;
      if (!dup)
        inos[n++] = o->ino;
    }
  }
  if (n == 0)
    inos[n++] = EXT2_ROOT_INO;
  memset (counts, 0, sizeof counts);
  memset (paths, 0, sizeof paths);
  analysis_names (an, S1, inos, n, paths, counts);
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < counts[i]; k++)
      free (paths[i][k].s);
    free (paths[i]);
  }
}

uint64_t
fuzz_one (const uint8_t *data, size_t size, const struct fuzz_fault *fault,
          struct fuzz_report *report)
{
  struct disk d0, d1;
  struct analysis an;
  struct changes cs = { 0 };
  uint64_t bytes_read = 0;
  struct counted c0 = { "base view", base, &bytes_read, false, 0 };
  struct counted c1 = { "SEE view", NULL, &bytes_read, fault && fault->see_read,
                        fault ? fault->see_read_at : 0 };
  enum fuzz_outcome outcome = FUZZ_OPEN_FAILED;
  uint8_t *s1;
  int r;

  if (report)
    memset (report, 0, sizeof *report);
  /* As oneway-merge does: findings then read as they would there. */
  initialize_ext2_error_table ();
  /* The disk keeps the base's size: a shorter input is padded with the
   * base, a longer one cut. */
  if (!base || !(s1 = malloc (base_len ? base_len : 1)))
    return 0;
  errors = report ? &report->errors : NULL;
  ow_set_error_handler (keep_error);
  memcpy (s1, base, base_len);
  memcpy (s1, data, size < base_len ? size : base_len);
  c1.buf = s1;
  /* disk_memory's disks, but counted; disk_pread checks the bounds. */
  d0 = (struct disk) { .label = c0.label, .size = base_len, .h = &c0,
                       .pread = counted_pread };
  d1 = (struct disk) { .label = c1.label, .size = base_len, .h = &c1,
                       .pread = counted_pread };

  r = analysis_open (&an, &d0, &d1, 0, true);
  if (r == 1)
    outcome = FUZZ_NOT_EXT;
  if (r == 0) {
    outcome = FUZZ_ATTRIBUTE_FAILED;
    r = add_differences (&an, s1);
  }
  if (r == 0)
    r = analysis_attribute (&an);
  if (r == 0) {
    outcome = FUZZ_DIFF_FAILED;
    name_owners (&an);
    r = analysis_diff (&an, &cs);
  }
  if (r == 0) {
    outcome = FUZZ_DIFFED;
    cat_changes (&an, &cs);
  }
  if (report) {
    report->bytes_read = bytes_read;
    report->outcome = outcome;
    if (outcome >= FUZZ_DIFF_FAILED)
      for (uint64_t i = 0; i < an.written.total; i++)
        report->classes[an.own[S1].o[i].cls]++;
    report->walk_budget_spent = an.v[S1].budget_spent;
    report->dir_budget_spent = an.v[S1].dir_budget_spent;
    report->named_dirs = an.paths[S1].n;
    report->findings = an.findings;
    an.findings = (struct findings) { 0 };
    if (outcome == FUZZ_DIFFED) {
      report->changes = cs;
      cs = (struct changes) { 0 };
    }
  }
  changes_free (&cs);
  analysis_close (&an);
  free (s1);
  errors = NULL;
  return bytes_read;
}

void
fuzz_report_free (struct fuzz_report *r)
{
  findings_free (&r->findings);
  findings_free (&r->errors);
  changes_free (&r->changes);
}
