/* oneway: unit tests of the merge library: ranges, the block -> owner
 * map, the change list on hidden writes, the path resolver, crafted
 * directory entries (through oneway-merge too), the probe.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * Images are made with mke2fs -d and changed with debugfs or byte
 * patches; the expected answers come from libext2fs on the image files
 * (unix I/O), not from the code under test.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <ext2fs/ext2fs.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif

#include "analysis.h"
#include "change-paths.h"
#include "changes.h"
#include "host-tree.h"
#include "policy.h"
#include "selection.h"
#include "testlib.h"

#ifndef ONEWAY_MERGE
#error "ONEWAY_MERGE (the oneway-merge program of this build) must be defined"
#endif

static void
sh (const char *fmt, ...)
{
  char *cmd;
  va_list ap;

  va_start (ap, fmt);
  ck_assert_int_ge (vasprintf (&cmd, fmt, ap), 0);
  va_end (ap);
  ck_assert_msg (system (cmd) == 0, "command failed: %s", cmd);
  free (cmd);
}

/* A small ext4 image at tl_path(name) from a tree the shell commands
 * make under $T. */
static const char *
make_image (const char *name, const char *populate)
{
  static char names[4][512];
  static int next;
  char *copy = names[next++ % 4];

  snprintf (copy, sizeof names[0], "%s", tl_path (name));

  sh ("set -e; T=%s/tree-%s; rm -rf $T; mkdir -p $T; cd $T; %s; "
      "mke2fs -q -F -t ext4 -O ^metadata_csum -b 4096 -d $T "
      "-E lazy_itable_init=0,lazy_journal_init=0 %s 8M >/dev/null", tl_dir (), name, populate, copy);
  return copy;
}

static uint8_t *
load (const char *path, size_t *len)
{
  FILE *f = fopen (path, "rb");
  uint8_t *buf;

  ck_assert_ptr_nonnull (f);
  fseek (f, 0, SEEK_END);
  *len = ftell (f);
  rewind (f);
  buf = malloc (*len);
  ck_assert_ptr_nonnull (buf);
  ck_assert_uint_eq (fread (buf, 1, *len, f), *len);
  fclose (f);
  return buf;
}

/* Both views in memory, analysed: the written set is every 4 KiB block
 * in which they differ. */
struct pair {
  uint8_t *base, *see;
  size_t len;
  struct analysis an;
};

static void
open_pair (struct pair *p, const char *base, const char *see)
{
  struct disk d0, d1;
  size_t len2;

  p->base = load (base, &p->len);
  p->see = load (see, &len2);
  ck_assert_uint_eq (p->len, len2);
  disk_memory (p->base, p->len, "base view", &d0);
  disk_memory (p->see, p->len, "SEE view", &d1);
  ck_assert_int_eq (analysis_open (&p->an, &d0, &d1, 0, false), 0);
  for (size_t off = 0; off < p->len; off += 4096)
    if (memcmp (p->base + off, p->see + off, 4096) != 0)
      ck_assert_int_eq (analysis_add_written (&p->an, off, 4096), 0);
  ck_assert_int_eq (analysis_attribute (&p->an), 0);
}

static void
close_pair (struct pair *p)
{
  analysis_close (&p->an);
  free (p->base);
  free (p->see);
}

static const struct owner *
owner_of (struct pair *p, uint64_t block)
{
  int64_t rank = rangeset_rank (&p->an.written, block);
  ck_assert_msg (rank >= 0, "block %llu is not in the written set", (unsigned long long) block);
  return &p->an.own[S1].o[rank];
}

/* Expected answers, from libext2fs reading the image file itself. */
static ext2_ino_t
ino_of (const char *img, const char *path)
{
  ext2_filsys fs;
  ext2_ino_t ino = 0;

  ck_assert_int_eq (ext2fs_open (img, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs), 0);
  ck_assert_int_eq (ext2fs_namei (fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, &ino), 0);
  ext2fs_close_free (&fs);
  return ino;
}

static blk64_t
block_of (const char *img, const char *path, blk64_t logical)
{
  ext2_filsys fs;
  blk64_t phys = 0;
  ext2_ino_t ino = ino_of (img, path);

  ck_assert_int_eq (ext2fs_open (img, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs), 0);
  ck_assert_int_eq (ext2fs_bmap2 (fs, ino, NULL, NULL, 0, logical, NULL, &phys), 0);
  ext2fs_close_free (&fs);
  return phys;
}

static void
patch (const char *img, uint64_t offset, const void *buf, size_t len)
{
  FILE *f = fopen (img, "r+b");
  ck_assert_ptr_nonnull (f);
  fseek (f, offset, SEEK_SET);
  ck_assert_uint_eq (fwrite (buf, 1, len, f), len);
  fclose (f);
}

START_TEST (test_rangeset)
{
  struct rangeset s;
  uint64_t seen = 0;

  rangeset_init (&s);
  ck_assert_int_eq (rangeset_add (&s, 10, 5), 0);
  ck_assert_int_eq (rangeset_add (&s, 15, 2), 0);       /* touches: merged */
  ck_assert_int_eq (rangeset_add (&s, 16, 4), 0);       /* overlaps */
  ck_assert_int_eq (rangeset_add (&s, 100, 1), 0);
  ck_assert_uint_eq (s.n, 2);
  ck_assert_uint_eq (s.total, 11);
  ck_assert_int_eq (rangeset_rank (&s, 9), -1);
  ck_assert_int_eq (rangeset_rank (&s, 10), 0);
  ck_assert_int_eq (rangeset_rank (&s, 19), 9);
  ck_assert_int_eq (rangeset_rank (&s, 20), -1);
  ck_assert_int_eq (rangeset_rank (&s, 100), 10);
  ck_assert (rangeset_intersects (&s, 0, 11));
  ck_assert (!rangeset_intersects (&s, 20, 80));
  ck_assert (rangeset_intersects (&s, 20, 81));
  for (size_t i = 0; i < s.n; i++)
    seen += s.r[i].count;
  ck_assert_uint_eq (seen, s.total);
  rangeset_free (&s);
}
END_TEST

/* Files, directories and metadata written by debugfs: each block gets
 * the owner libext2fs says it has. */
START_TEST (test_owners)
{
  const char *base = make_image ("own", "mkdir d; head -c 8192 /dev/urandom > d/f; echo g > d/g");
  const char *see = tl_path ("own-see.img");
  char *seep = strdup (see);
  struct pair p;
  uint64_t data = 0;

  sh ("cp %s %s && head -c 20000 /dev/urandom > %s/new && "
      "debugfs -w -R 'write %s/new /d/new' %s >/dev/null 2>&1", base, seep, tl_dir (),
      tl_dir (), seep);
  open_pair (&p, base, seep);
  ext2_ino_t ino = ino_of (seep, "/d/new");
  for (blk64_t l = 0; l < 5; l++) {
    const struct owner *o = owner_of (&p, block_of (seep, "/d/new", l));
    ck_assert_int_eq (o->cls, OWNER_FILE_DATA);
    ck_assert_uint_eq (o->ino, ino);
    ck_assert_uint_eq (o->file_block, l);
  }
  ck_assert_int_eq (owner_of (&p, 0)->cls, OWNER_SUPERBLOCK);
  /* The inode table block that holds the new inode names its first. */
  uint64_t itable = ext2fs_inode_table_loc (p.an.v[S1].fs, 0);
  uint32_t ipb = 4096 / EXT2_INODE_SIZE (p.an.v[S1].fs->super);
  const struct owner *t = owner_of (&p, itable + (ino - 1) / ipb);
  ck_assert_int_eq (t->cls, OWNER_INODE_TABLE);
  ck_assert_uint_eq (t->ino, (ino - 1) / ipb * ipb + 1);
  const struct owner *d = owner_of (&p, block_of (seep, "/d", 0));
  ck_assert_int_eq (d->cls, OWNER_DIRECTORY);
  ck_assert_uint_eq (d->ino, ino_of (seep, "/d"));
  /* Every written block has an owner, and the only file data written
   * is the new file's five blocks (20000 bytes): d/f is untouched. */
  for (uint64_t i = 0; i < p.an.written.total; i++) {
    const struct owner *o = &p.an.own[S1].o[i];
    ck_assert_int_ne (o->cls, OWNER_NONE);
    ck_assert_int_ne (o->cls, OWNER_UNATTRIBUTED);
    if (o->cls == OWNER_FILE_DATA) {
      ck_assert_uint_eq (o->ino, ino);
      data++;
    }
  }
  ck_assert_uint_eq (data, 5);
  close_pair (&p);
  free (seep);
}
END_TEST

/* The SEE writes a file's data raw, leaving its inode alone: the scan
 * finds the owner and the diff reports the content. */
START_TEST (test_hidden_write)
{
  const char *base = make_image ("hid", "mkdir d; head -c 12288 /dev/urandom > d/f; echo x > d/x");
  char *see = strdup (tl_path ("hid-see.img"));
  char junk[4096];
  struct pair p;
  struct changes cs;

  sh ("cp %s %s", base, see);
  memset (junk, 'J', sizeof junk);
  blk64_t b = block_of (see, "/d/f", 1);
  patch (see, b * 4096, junk, sizeof junk);
  open_pair (&p, base, see);
  ck_assert (p.an.scanned);
  const struct owner *o = owner_of (&p, b);
  ck_assert_int_eq (o->cls, OWNER_FILE_DATA);
  ck_assert_uint_eq (o->ino, ino_of (see, "/d/f"));
  ck_assert_uint_eq (o->file_block, 1);
  ck_assert_int_eq (analysis_diff (&p.an, &cs), 0);
  ck_assert_uint_eq (cs.n, 1);
  ck_assert_int_eq (cs.c[0].kind, CHANGE_MODIFIED);
  ck_assert_uint_eq (cs.c[0].path.len, 4);
  ck_assert (memcmp (cs.c[0].path.s, "/d/f", 4) == 0);
  ck_assert_uint_eq (cs.c[0].what, 1u << ASPECT_CONTENT);
  changes_free (&cs);
  close_pair (&p);
  free (see);
}
END_TEST

/* A written block marked in use that nobody owns is unattributed; one
 * that is free stays free. */
START_TEST (test_unattributed)
{
  const char *base = make_image ("una", "echo a > a");
  char *see = strdup (tl_path ("una-see.img"));
  char junk[4096];
  struct pair p;

  sh ("cp %s %s && debugfs -w -R 'setb 1900' %s >/dev/null 2>&1", base, see, see);
  memset (junk, 'U', sizeof junk);
  patch (see, 1900 * 4096, junk, sizeof junk);
  patch (see, 1901 * 4096, junk, sizeof junk);
  open_pair (&p, base, see);
  ck_assert_int_eq (owner_of (&p, 1900)->cls, OWNER_UNATTRIBUTED);
  ck_assert_int_eq (owner_of (&p, 1901)->cls, OWNER_FREE);
  ck_assert_int_eq (owner_of (&p, ext2fs_block_bitmap_loc (p.an.v[S1].fs, 0))->cls,
                    OWNER_BLOCK_BITMAP);
  close_pair (&p);
  free (see);
}
END_TEST

START_TEST (test_paths)
{
  const char *img = make_image ("paths", "mkdir -p a/b/c; echo f > a/b/c/f; "
                                "ln -s /a/b l1; ln -s b/c a/rel; ln -s loop2 loop1; "
                                "ln -s loop1 loop2");
  struct pair p;
  ext2_ino_t ino;

  open_pair (&p, img, img);
  struct extfs *x = &p.an.v[S1];
  const struct path *c = pathres_dir (&p.an.paths[S1], ino_of (img, "/a/b/c"));
  ck_assert_ptr_nonnull (c);
  ck_assert_uint_eq (c->len, 6);
  ck_assert (memcmp (c->s, "/a/b/c", 6) == 0);
  ck_assert_int_eq (pathres_lookup (x, "/l1/c/f", &ino), 0);
  ck_assert_uint_eq (ino, ino_of (img, "/a/b/c/f"));
  ck_assert_int_eq (pathres_lookup (x, "a/rel", &ino), 0);
  ck_assert_uint_eq (ino, ino_of (img, "/a/b/c"));
  ck_assert_int_eq (pathres_lookup (x, "/a/b/c/../..", &ino), 0);
  ck_assert_uint_eq (ino, ino_of (img, "/a"));
  ck_assert_int_eq (pathres_lookup (x, "/loop1", &ino), -1);
  ck_assert_int_eq (errno, ELOOP);
  ck_assert_int_eq (pathres_lookup (x, "/a/nothing/f", &ino), -1);
  ck_assert_int_eq (errno, ENOENT);
  ck_assert_int_eq (pathres_lookup (x, "/a/b/c/f/g", &ino), -1);
  ck_assert_int_eq (errno, ENOTDIR);
  close_pair (&p);
}
END_TEST

/* A directory whose ".." points at itself: a finding, and the walk
 * from the root names it all the same.  One that the root does not
 * reach either gets a name no absolute path can be taken for. */
START_TEST (test_path_cycle)
{
  const char *base = make_image ("cyc", "mkdir -p p/q r/s; echo z > p/q/z");
  char *see = strdup (tl_path ("cyc-see.img"));
  struct pair p;
  bool loops = false;

  sh ("cp %s %s", base, see);
  ext2_ino_t q = ino_of (see, "/p/q"), s = ino_of (see, "/r/s");
  uint32_t le = q;                      /* little-endian hosts only, as ext4 */
  patch (see, block_of (see, "/p/q", 0) * 4096 + 12, &le, 4);
  /* /r/s: its own ".." loops, and /r's entry for it is gone (its inode
   * number cleared, which marks the entry unused). */
  le = s;
  patch (see, block_of (see, "/r/s", 0) * 4096 + 12, &le, 4);
  sh ("debugfs -w -R 'unlink /r/s' %s >/dev/null 2>&1", see);
  open_pair (&p, base, see);
  const struct path *path = pathres_dir (&p.an.paths[S1], q);
  ck_assert_ptr_nonnull (path);
  ck_assert_uint_eq (path->len, 4);
  ck_assert (memcmp (path->s, "/p/q", 4) == 0);
  for (size_t i = 0; i < p.an.findings.n; i++)
    loops |= strstr (p.an.findings.msg[i], "loops") != NULL;
  ck_assert (loops);
  path = pathres_dir (&p.an.paths[S1], s);
  ck_assert_ptr_nonnull (path);
  ck_assert (path->len > 0 && path->s[0] == '(');
  close_pair (&p);
  free (see);
}
END_TEST

/* An overlay at tl_path(name) holding the 4 KiB blocks in which the
 * image see differs from base, as if an SEE had written them. */
static const char *
make_overlay (const char *name, const char *base, const char *see)
{
  static char path[512];
  size_t len, len2;
  uint8_t *b = load (base, &len), *s = load (see, &len2);
  struct ow_overlay *ov;

  snprintf (path, sizeof path, "%s", tl_path (name));
  ck_assert_uint_eq (len, len2);
  ov = tl_open (path, base, true, 4096, 0);
  for (size_t off = 0; off < len; off += 4096)
    if (memcmp (b + off, s + off, 4096) != 0)
      ck_assert_int_eq (ow_pwrite (ov, s + off, 4096, off, false), 0);
  ck_assert_int_eq (ow_close (ov), 0);
  free (b);
  free (s);
  return path;
}

/* A whole file as a terminated string. */
static char *
slurp (const char *path)
{
  size_t len;
  char *text = (char *) load (path, &len);

  ck_assert_ptr_nonnull (text = realloc (text, len + 1));
  text[len] = '\0';
  return text;
}

/* oneway-merge CMD OVERLAY: its exit status, and what it wrote to
 * stdout and stderr (malloc'ed) in *out and *err. */
static int
run_merge (const char *cmd, const char *overlay, char **out, char **err)
{
  char *outpath = strdup (tl_path ("merge.out")), *errpath = strdup (tl_path ("merge.err"));
  char *line;
  int status;

  ck_assert_int_ge (asprintf (&line, "%s %s %s >%s 2>%s", ONEWAY_MERGE, cmd, overlay,
                              outpath, errpath), 0);
  status = system (line);
  free (line);
  *out = slurp (outpath);
  *err = slurp (errpath);
  free (outpath);
  free (errpath);
  ck_assert_msg (WIFEXITED (status), "oneway-merge %s died: %s", cmd, *err);
  return WEXITSTATUS (status);
}

/* The "." of /a/b with rec_len 13: ".." would start at byte 13,
 * misaligned.  The climb by ".." stops there with a finding (as the
 * listing does), and audit and diff answer, audit naming /a/b by a
 * walk from the root; under UBSan they used to stop at the misaligned
 * read. */
START_TEST (test_dirent_rec_len)
{
  const char *base = make_image ("drl", "mkdir -p a/b; echo x > a/b/f");
  char *see = strdup (tl_path ("drl-see.img")), *out, *err, *finding;
  const char *cmds[] = { "audit", "diff" };
  uint16_t rec_len = 13;                /* little-endian hosts only, as ext4 */
  struct pair p;
  bool found = false;

  sh ("cp %s %s", base, see);
  ext2_ino_t b = ino_of (see, "/a/b");
  blk64_t block = block_of (see, "/a/b", 0);
  patch (see, block * 4096 + 4, &rec_len, 2);
  ck_assert_int_ge (asprintf (&finding, "directory inode %u has a corrupt entry at byte 0 "
                              "of block %llu: its rec_len 13 is not a multiple of 4", b,
                              (unsigned long long) block), 0);

  open_pair (&p, base, see);
  ck_assert_uint_eq (extfs_dir_parent (&p.an.v[S0], b), ino_of (base, "/a"));
  ck_assert_uint_eq (extfs_dir_parent (&p.an.v[S1], b), 0);
  for (size_t i = 0; i < p.an.findings.n; i++)
    found |= strstr (p.an.findings.msg[i], finding) != NULL;
  ck_assert_msg (found, "no finding says: %s", finding);
  close_pair (&p);

  const char *ov = make_overlay ("drl.ow", base, see);
  for (int i = 0; i < 2; i++) {
    ck_assert_int_eq (run_merge (cmds[i], ov, &out, &err), 0);
    ck_assert_msg (strstr (err, finding), "oneway-merge %s does not say: %s\n%s", cmds[i],
                   finding, err);
    ck_assert_msg (i != 0 || strstr (out, " /a/b (block 0)"), "audit does not name the "
                   "block of /a/b:\n%s", out);
    free (out);
    free (err);
  }
  free (finding);
  free (see);
}
END_TEST

START_TEST (test_probe)
{
  size_t len = 3 << 20;
  uint8_t *disk = calloc (1, len);
  const char *img = make_image ("probe", "echo p > p");
  size_t flen;
  uint8_t *fs = load (img, &flen);
  struct disk d;
  struct probe pr;

  ck_assert_ptr_nonnull (disk);
  /* An MBR with one Linux partition at 1 MiB, 2 MiB long, holding the
   * start of an ext4 image (the probe reads only its superblock). */
  memcpy (disk + (1 << 20), fs, 2 << 20);
  uint8_t *pe = disk + 446;
  pe[4] = 0x83;
  uint32_t start = 2048, sectors = 4096;
  memcpy (pe + 8, &start, 4);
  memcpy (pe + 12, &sectors, 4);
  disk[510] = 0x55;
  disk[511] = 0xaa;
  disk_memory (disk, len, "test disk", &d);
  ck_assert_int_eq (probe_disk (&d, 0, &pr), 0);
  ck_assert (pr.ext);
  ck_assert_int_eq (pr.partition, 1);
  ck_assert_uint_eq (pr.offset, 1 << 20);
  ck_assert_str_eq (pr.fstype, "ext4");
  ck_assert_int_eq (probe_disk (&d, 2, &pr), -1);       /* no such partition */

  memset (disk, 0, len);
  memcpy (disk, "XFSB", 4);
  ck_assert_int_eq (probe_disk (&d, 0, &pr), 0);
  ck_assert (!pr.ext);
  ck_assert_str_eq (pr.fstype, "xfs");
  memset (disk, 0, len);
  ck_assert_int_eq (probe_disk (&d, 0, &pr), 0);
  ck_assert (!pr.ext);
  ck_assert_str_eq (pr.fstype, "");
  free (fs);
  free (disk);
}
END_TEST


static bool
running_on_valgrind (void)
{
#if __has_include(<valgrind/valgrind.h>)
  return RUNNING_ON_VALGRIND;
#else
  return false;
#endif
}

/* The host tree: found, absent, and what a lookup refuses to pass. */
static enum host_where
where (struct host_tree *h, const char *path, size_t *at)
{
  struct host_obj o;
  ck_assert_msg (host_lookup (h, path, strlen (path), &o) == 0, "lookup of %s failed: %s",
                 path, tl_last_error ());
  enum host_where w = o.where;
  if (at)
    *at = o.at;
  ck_assert ((w == HOST_FOUND) == (o.fd >= 0));
  host_obj_close (&o);
  return w;
}

START_TEST (test_host_tree)
{
  struct host_tree h;
  struct host_obj o;
  struct dirents d;
  struct xattrs xs = { 0 };
  char buf[64], deep[8192];
  size_t at;
  int fd;

  sh ("set -e; cd %s; mkdir -p H/a/b; echo content > H/a/b/file; echo f > H/f; "
      "ln -s a H/link; ln -s /etc H/abs; ln -s ../../.. H/a/up; mkfifo H/a/fifo", tl_dir ());
  ck_assert_int_eq (setxattr (tl_path ("H/a/b/file"), "user.x", "1", 1, 0), 0);
  tl_clear_error ();
  if (host_tree_open (&h, tl_path ("H")) == -1) {
    /* valgrind 3.19 does not know openat2 (syscall 437) and answers
     * ENOSYS, as a kernel before 5.6 would: the tree is refused, with
     * that said, and there is nothing more to look up. */
    ck_assert_msg (running_on_valgrind () && strstr (tl_last_error (), "no openat2"),
                   "host_tree_open failed: %s", tl_last_error ());
    sh ("rm -rf %s/H", tl_dir ());
    return;
  }

  ck_assert_int_eq (where (&h, "/", NULL), HOST_FOUND);
  ck_assert_int_eq (host_lookup (&h, "/a/b/file", 9, &o), 0);
  ck_assert_int_eq (o.where, HOST_FOUND);
  ck_assert (S_ISREG (o.st.st_mode));
  fd = host_open_file (&o);
  ck_assert_int_ge (fd, 0);
  ck_assert_int_eq (read (fd, buf, sizeof buf), 8);
  ck_assert (memcmp (buf, "content\n", 8) == 0);
  close (fd);
  ck_assert_int_eq (host_read_xattrs (&o, &xs), 0);
  ck_assert_uint_eq (xs.n, 1);
  ck_assert_str_eq (xs.x[0].name, "user.x");
  xattrs_free (&xs);
  host_obj_close (&o);

  /* A symlink is the object found, never followed: not at the end,
   * not on the way, not to a place outside. */
  ck_assert_int_eq (host_lookup (&h, "/link", 5, &o), 0);
  ck_assert_int_eq (o.where, HOST_FOUND);
  ck_assert (S_ISLNK (o.st.st_mode));
  ck_assert_int_eq (host_read_link (&o, buf, sizeof buf), 1);
  ck_assert (buf[0] == 'a');
  ck_assert_int_eq (host_open_file (&o), -1);
  host_obj_close (&o);
  ck_assert_int_eq (where (&h, "/link/b/file", &at), HOST_SYMLINK);
  ck_assert_uint_eq (at, 5);
  ck_assert_int_eq (where (&h, "/abs/passwd", &at), HOST_SYMLINK);
  ck_assert_uint_eq (at, 4);
  ck_assert_int_eq (where (&h, "/a/up/etc/passwd", &at), HOST_SYMLINK);
  ck_assert_uint_eq (at, 5);
  ck_assert_int_eq (where (&h, "/f/x", &at), HOST_NOT_DIR);
  ck_assert_uint_eq (at, 2);
  ck_assert_int_eq (where (&h, "/a/missing/x", &at), HOST_ABSENT);
  ck_assert_uint_eq (at, 10);
  ck_assert_int_eq (where (&h, "/a/fifo", NULL), HOST_FOUND);

  /* Paths that could mean something else are refused. */
  ck_assert_int_eq (host_lookup (&h, "/a/../f", 7, &o), -1);
  host_obj_close (&o);
  ck_assert_int_eq (host_lookup (&h, "/a//b", 5, &o), -1);
  host_obj_close (&o);
  ck_assert_int_eq (host_lookup (&h, "a/b", 3, &o), -1);
  host_obj_close (&o);
  ck_assert_int_eq (host_lookup (&h, "/a/./b", 6, &o), -1);
  host_obj_close (&o);

  ck_assert_int_eq (host_lookup (&h, "/a", 2, &o), 0);
  ck_assert_int_eq (host_list (&o, &d), 0);
  ck_assert_uint_eq (d.n, 3);
  ck_assert (d.e[0].name_len == 1 && memcmp (DIRENT_NAME (&d, &d.e[0]), "b", 1) == 0);
  dirents_free (&d);
  host_obj_close (&o);

  /* Longer than PATH_MAX: found one name at a time. */
  {
    int dir = open (tl_path ("H"), O_RDONLY | O_DIRECTORY);
    size_t len = 0;
    char name[241];
    memset (name, 'n', 240);
    name[240] = '\0';
    for (int i = 0; i < 20; i++) {
      ck_assert_int_eq (mkdirat (dir, name, 0755), 0);
      int next = openat (dir, name, O_RDONLY | O_DIRECTORY);
      ck_assert_int_ge (next, 0);
      close (dir);
      dir = next;
      deep[len++] = '/';
      memcpy (deep + len, name, 240);
      len += 240;
    }
    close (dir);
    ck_assert_int_gt (len, 4096);
    ck_assert_int_eq (host_lookup (&h, deep, len, &o), 0);
    ck_assert_int_eq (o.where, HOST_FOUND);
    ck_assert (S_ISDIR (o.st.st_mode));
    host_obj_close (&o);
  }
  host_tree_close (&h);

  /* A mount point inside the tree is another filesystem: not crossed. */
  ck_assert_int_eq (host_tree_open (&h, "/"), 0);
  ck_assert_int_eq (where (&h, "/proc/self/status", &at), HOST_MOUNT);
  ck_assert_uint_eq (at, 5);
  ck_assert_int_eq (where (&h, "/proc", &at), HOST_MOUNT);
  ck_assert_uint_eq (at, 5);
  host_tree_close (&h);
  ck_assert_int_eq (host_tree_open (&h, tl_path ("H/f")), -1);
  host_tree_close (&h);
  sh ("rm -rf %s/H", tl_dir ());
}
END_TEST

/* A change list made by hand, sorted by path as analysis_diff sorts. */
static void
add_change (struct changes *cs, enum change_kind kind, const char *path, const char *from,
            const char *type, uint32_t ino0, uint32_t ino1, const char *link_of)
{
  struct change *c;

  cs->c = realloc (cs->c, (cs->n + 1) * sizeof *cs->c);
  ck_assert_ptr_nonnull (cs->c);
  c = &cs->c[cs->n++];
  memset (c, 0, sizeof *c);
  c->kind = kind;
  c->path = (struct path) { strdup (path), strlen (path) };
  if (from)
    c->from = (struct path) { strdup (from), strlen (from) };
  if (link_of)
    c->link_of = (struct path) { strdup (link_of), strlen (link_of) };
  c->type = type;
  c->ino[S0] = ino0;
  c->ino[S1] = ino1;
}

/* Which changes of cs are chosen, as "path path ...", and the problems. */
static char *
resolve (const struct changes *cs, const char *only, const char *exclude, char **problems)
{
  struct selection s = { 0 };
  struct selection_problem *probs;
  size_t nprobs;
  bool chosen[16];
  char *out = calloc (1, 1024);

  ck_assert_uint_le (cs->n, 16);
  if (only)
    ck_assert_int_eq (selection_add (&s.only, only, "--only"), 0);
  if (exclude)
    ck_assert_int_eq (selection_add (&s.exclude, exclude, "--exclude"), 0);
  ck_assert_int_eq (selection_resolve (&s, cs, chosen, &probs, &nprobs), 0);
  for (size_t i = 0; i < cs->n; i++)
    if (chosen[i])
      snprintf (out + strlen (out), 1024 - strlen (out), "%s%.*s", out[0] ? " " : "",
                (int) cs->c[i].path.len, cs->c[i].path.s);
  *problems = calloc (1, 1024);
  for (size_t k = 0; k < nprobs; k++) {
    snprintf (*problems + strlen (*problems), 1024 - strlen (*problems), "%s%s",
              k ? "; " : "", probs[k].detail);
    free (probs[k].detail);
  }
  free (probs);
  selection_free (&s);
  return out;
}

static void
expect_resolve (const struct changes *cs, const char *only, const char *exclude,
                const char *want, const char *want_problems)
{
  char *problems, *got = resolve (cs, only, exclude, &problems);
  ck_assert_msg (strcmp (got, want) == 0, "--only %s --exclude %s: chose \"%s\", not \"%s\"",
                 only, exclude, got, want);
  ck_assert_msg (strcmp (problems, want_problems) == 0, "--only %s: problems \"%s\", not \"%s\"",
                 only, problems, want_problems);
  free (got);
  free (problems);
}

/* What a chosen change needs, and what cannot stand alone. */
START_TEST (test_selection)
{
  struct changes cs = { 0 };
  struct path p, b;

  add_change (&cs, CHANGE_DELETED, "/gone", NULL, "dir", 20, 0, NULL);
  add_change (&cs, CHANGE_DELETED, "/gone/a", NULL, "file", 21, 0, NULL);
  add_change (&cs, CHANGE_ADDED, "/hl/a", NULL, "file", 0, 30, NULL);
  add_change (&cs, CHANGE_ADDED, "/hl/b", NULL, "file", 0, 30, "/hl/a");
  add_change (&cs, CHANGE_RENAMED, "/kept", "/gone/b", "file", 22, 22, NULL);
  add_change (&cs, CHANGE_RENAMED, "/moved", "/old", "dir", 23, 23, NULL);
  add_change (&cs, CHANGE_ADDED, "/moved/x", NULL, "file", 0, 24, NULL);
  add_change (&cs, CHANGE_MODIFIED, "/moved/y", NULL, "file", 25, 25, NULL);
  add_change (&cs, CHANGE_ADDED, "/new", NULL, "dir", 0, 26, NULL);
  add_change (&cs, CHANGE_ADDED, "/new/f", NULL, "file", 0, 27, NULL);

  expect_resolve (&cs, NULL, NULL, "/gone /gone/a /hl/a /hl/b /kept /moved /moved/x /moved/y "
                  "/new /new/f", "");
  /* The new directory, and the renamed one, come along. */
  expect_resolve (&cs, "/new/f", NULL, "/new /new/f", "");
  expect_resolve (&cs, "/moved/y", NULL, "/moved /moved/y", "");
  /* A directory means its subtree; a deleted one takes what moved out. */
  expect_resolve (&cs, "/gone", NULL, "/gone /gone/a /kept", "");
  expect_resolve (&cs, "/gone", "/kept", "/gone /gone/a",
                  "/gone needs /kept (renamed out of it by the SEE), which --exclude leaves out");
  expect_resolve (&cs, "/new/f", "/new", "", "");
  expect_resolve (&cs, "/hl/b", NULL, "/hl/b",
                  "/hl/b and /hl/a are names of one new file: select both or neither");
  expect_resolve (&cs, "/hl", NULL, "/hl/a /hl/b", "");

  /* Where an SEE path is in the base: renamed directories put back. */
  ck_assert_int_eq (changes_base_path (&cs, &(struct path) { "/moved/y", 8 }, false, &b), 0);
  ck_assert (b.len == 6 && memcmp (b.s, "/old/y", 6) == 0);
  free (b.s);
  ck_assert_int_eq (changes_base_path (&cs, &(struct path) { "/moved", 6 }, true, &b), 0);
  ck_assert (b.len == 4 && memcmp (b.s, "/old", 4) == 0);
  free (b.s);
  ck_assert_int_eq (changes_base_path (&cs, &(struct path) { "/moved", 6 }, false, &b), 0);
  ck_assert (b.len == 6 && memcmp (b.s, "/moved", 6) == 0);
  free (b.s);
  ck_assert_int_eq (changes_base_path (&cs, &(struct path) { "/new/f", 6 }, false, &b), 1);
  ck_assert_int_eq (changes_base_path (&cs, &(struct path) { "/etc/x", 6 }, false, &b), 0);
  ck_assert (b.len == 6 && memcmp (b.s, "/etc/x", 6) == 0);
  free (b.s);

  /* Paths from users: made canonical, or refused. */
  ck_assert_int_eq (path_from_user ("//a//b/", 7, "--only", &p), 0);
  ck_assert (p.len == 4 && memcmp (p.s, "/a/b", 4) == 0);
  free (p.s);
  ck_assert_int_eq (path_from_user ("/", 1, "--only", &p), 0);
  ck_assert (p.len == 1 && p.s[0] == '/');
  free (p.s);
  ck_assert_int_eq (path_from_user ("a/b", 3, "--only", &p), -1);
  ck_assert_int_eq (path_from_user ("/a/../b", 7, "--only", &p), -1);
  ck_assert_int_eq (path_from_user ("/a/./b", 6, "--only", &p), -1);
  ck_assert (path_within ("/a/b", 4, "/a", 2));
  ck_assert (!path_within ("/ab", 3, "/a", 2));
  ck_assert (path_within ("/ab", 3, "/", 1));
  changes_free (&cs);
}
END_TEST

/* The policy file: its rules, and its errors by line. */
START_TEST (test_policy)
{
  struct policy p;
  FILE *f;

  ck_assert_int_eq (policy_load (&p, NULL), 0);
  ck_assert_ptr_nonnull (policy_protects (&p, &(struct path) { "/etc/shadow", 11 }, false));
  ck_assert_ptr_nonnull (policy_protects (&p, &(struct path) { "/root/.ssh/authorized_keys", 26 },
                                          false));
  /* A directory above a protected path: only when the change moves it. */
  ck_assert_ptr_nonnull (policy_protects (&p, &(struct path) { "/root", 5 }, true));
  ck_assert_ptr_null (policy_protects (&p, &(struct path) { "/root", 5 }, false));
  ck_assert_ptr_null (policy_protects (&p, &(struct path) { "/etc/shadowy", 12 }, false));
  ck_assert (!policy_allows (&p, POLICY_SETUID, &(struct path) { "/usr/bin/x", 10 }));
  ck_assert_int_eq (policy_add_allow (&p, "setuid=/usr/bin"), 0);
  ck_assert (policy_allows (&p, POLICY_SETUID, &(struct path) { "/usr/bin/x", 10 }));
  ck_assert (!policy_allows (&p, POLICY_SETUID, &(struct path) { "/usr/sbin/x", 11 }));
  ck_assert (!policy_allows (&p, POLICY_DEVICE, &(struct path) { "/usr/bin/x", 10 }));
  ck_assert_int_eq (policy_add_allow (&p, "other-filesystem"), -1);
  ck_assert_int_eq (policy_add_protect (&p, "relative"), -1);
  policy_free (&p);

  f = fopen (tl_path ("policy"), "w");
  ck_assert_ptr_nonnull (f);
  fputs ("  # comment\n\nprotect /srv/a b  \nallow device\nallow protected /srv\n", f);
  fclose (f);
  ck_assert_int_eq (policy_load (&p, tl_path ("policy")), 0);
  ck_assert_ptr_nonnull (policy_protects (&p, &(struct path) { "/srv/a b/c", 10 }, false));
  ck_assert (policy_allows (&p, POLICY_DEVICE, &(struct path) { "/dev/x", 6 }));
  ck_assert (policy_allows (&p, POLICY_PROTECTED, &(struct path) { "/srv/a b", 8 }));
  ck_assert_ptr_null (policy_protects (&p, &(struct path) { "/etc/shadow", 11 }, false));
  policy_free (&p);

  f = fopen (tl_path ("policy"), "w");
  fputs ("protect /a\nallow setuid /x\nprotec /b\n", f);
  fclose (f);
  tl_clear_error ();
  ck_assert_int_eq (policy_load (&p, tl_path ("policy")), -1);
  ck_assert_msg (strstr (tl_last_error (), "line 3") && strstr (tl_last_error (), "protec"),
                 "the error does not name the line and the word: %s", tl_last_error ());
  f = fopen (tl_path ("policy"), "w");
  fputs ("allow everything\n", f);
  fclose (f);
  ck_assert_int_eq (policy_load (&p, tl_path ("policy")), -1);
  ck_assert_msg (strstr (tl_last_error (), "line 1"), "%s", tl_last_error ());
  unlink (tl_path ("policy"));
}
END_TEST

static void
add_tests (TCase *tc)
{
  tcase_set_timeout (tc, 120);
  tcase_add_test (tc, test_rangeset);
  tcase_add_test (tc, test_owners);
  tcase_add_test (tc, test_hidden_write);
  tcase_add_test (tc, test_unattributed);
  tcase_add_test (tc, test_paths);
  tcase_add_test (tc, test_path_cycle);
  tcase_add_test (tc, test_dirent_rec_len);
  tcase_add_test (tc, test_probe);
  tcase_add_test (tc, test_host_tree);
  tcase_add_test (tc, test_selection);
  tcase_add_test (tc, test_policy);
}

int
main (void)
{
  int r;

  tl_capture_errors ();
  r = tl_run ("merge", add_tests);
  tl_cleanup ();
  return r;
}
