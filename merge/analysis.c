/* oneway-merge: the base view and the SEE view, side by side.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "oneway/error.h"
#include "oneway/util.h"

int
analysis_open (struct analysis *an, const struct disk *base, const struct disk *see,
               int partition, bool allow_unclean)
{
  struct probe p0;

  memset (an, 0, sizeof *an);
  an->disk[S0] = *base;
  an->disk[S1] = *see;
  rangeset_init (&an->written);
  rangeset_init (&an->outside);
  inomap_init (&an->objmap);
  if (probe_disk (&an->disk[S1], partition, &an->probe) == -1)
    return -1;
  if (!an->probe.ext)
    return 1;
  if (probe_disk (&an->disk[S0], an->probe.partition, &p0) == -1)
    return -1;
  if (!p0.ext || p0.offset != an->probe.offset) {
    errno = EINVAL;
    ow_error ("the SEE view holds %s, but the base view holds %s: the SEE made a new "
              "filesystem, which only a block-level review (oneway-merge blocks) can show",
              an->probe.what, p0.what);
    return -1;
  }
  for (int v = S0; v <= S1; v++) {
    if (extfs_open (&an->v[v], &an->disk[v], v == S0 ? &p0 : &an->probe, false,
                    &an->findings) == -1)
      return -1;
    an->open[v] = true;
    pathres_init (&an->paths[v], &an->v[v]);
  }
  /* Everything that compares the views block by block (file contents,
   * owners) takes one block size for both. */
  if (an->v[S0].bs != an->v[S1].bs) {
    errno = EINVAL;
    ow_error ("the SEE view holds an %s filesystem of %u-byte blocks where the base "
              "view's has %u-byte blocks: the SEE made a new filesystem, which only a "
              "block-level review (oneway-merge blocks) can show",
              an->probe.fstype, an->v[S1].bs, an->v[S0].bs);
    return -1;
  }
  if (extfs_needs_recovery (&an->v[S1]) && !allow_unclean) {
    errno = EINVAL;
    ow_error ("the %s filesystem in the SEE view was not unmounted cleanly: its journal "
              "holds changes not yet written to their places, so reading it now would "
              "show a half-applied state.  Replay the journal into the overlay with "
              "'oneway-merge recover OVERLAY' (the base is not touched), or pass "
              "--ignore-journal to read it as it is", an->probe.fstype);
    return -1;
  }
  if (extfs_needs_recovery (&an->v[S0]))
    findings_add (&an->findings, "base view: the filesystem's journal needs recovery (a "
                  "snapshot of a mounted filesystem?); it is read without the journal");
  return 0;
}

void
analysis_close (struct analysis *an)
{
  for (int v = S0; v <= S1; v++) {
    owners_free (&an->own[v]);
    pathres_free (&an->paths[v]);
    if (an->open[v])
      extfs_close (&an->v[v]);
  }
  rangeset_free (&an->written);
  rangeset_free (&an->outside);
  inomap_free (&an->objmap);
  free (an->obj);
  findings_free (&an->findings);
  memset (an, 0, sizeof *an);
}

int
analysis_add_range (struct analysis *an, struct rangeset *inside, struct rangeset *outside,
                    uint64_t offset, uint64_t count)
{
  uint32_t bs = an->v[S1].bs;
  uint64_t end = offset + count;
  uint64_t fs_start = an->probe.offset, fs_end = fs_start + an->v[S1].blocks * bs;
  uint64_t a = offset > fs_start ? offset : fs_start, b = end < fs_end ? end : fs_end;

  /* Before the filesystem (a partition table), inside it in whole
   * filesystem blocks (a partly covered block counts), after it. */
  if (outside && offset < fs_start
      && rangeset_add (outside, offset, ow_min64 (end, fs_start) - offset) == -1)
    return -1;
  if (a < b && rangeset_add (inside, (a - fs_start) / bs,
                             (b - fs_start + bs - 1) / bs - (a - fs_start) / bs) == -1)
    return -1;
  if (outside && end > fs_end && rangeset_add (outside, a > fs_end ? a : fs_end,
                                               end - (a > fs_end ? a : fs_end)) == -1)
    return -1;
  return 0;
}

int
analysis_add_written (struct analysis *an, uint64_t offset, uint64_t count)
{
  return analysis_add_range (an, &an->written, &an->outside, offset, count);
}

/* The kernel gives an inode a new generation each time it is
 * allocated, and never changes a live inode's type; tools that write
 * filesystems offline (debugfs, mke2fs -d) leave generations at 0, so
 * the type is checked too. */
bool
object_same (const struct object *o)
{
  return o->live[S0] && o->live[S1] && o->in[S0].i_generation == o->in[S1].i_generation
    && (o->in[S0].i_mode & LINUX_S_IFMT) == (o->in[S1].i_mode & LINUX_S_IFMT);
}

struct object *
analysis_object (struct analysis *an, uint32_t ino)
{
  int64_t i = inomap_get (&an->objmap, ino);
  struct object *o;

  if (i >= 0)
    return &an->obj[i];
  if (ow_grow_array (&an->obj, &an->capobj, an->nobj + 1, sizeof *an->obj) == -1)
    return NULL;
  if (inomap_put (&an->objmap, ino, an->nobj) == -1)
    return NULL;
  o = &an->obj[an->nobj++];
  memset (o, 0, sizeof *o);
  o->ino = ino;
  for (int v = S0; v <= S1; v++)
    if (extfs_read_inode (&an->v[v], ino, &o->in[v]) == 0)
      o->live[v] = extfs_inode_live (&o->in[v]);
  return o;
}

static bool
same_layout (struct analysis *an)
{
  ext2_filsys a = an->v[S0].fs, b = an->v[S1].fs;

  if (a->blocksize != b->blocksize || a->group_desc_count != b->group_desc_count
      || a->super->s_inodes_count != b->super->s_inodes_count
      || a->super->s_inodes_per_group != b->super->s_inodes_per_group
      || EXT2_INODE_SIZE (a->super) != EXT2_INODE_SIZE (b->super))
    return false;
  for (dgrp_t g = 0; g < a->group_desc_count; g++)
    if (ext2fs_inode_table_loc (a, g) != ext2fs_inode_table_loc (b, g))
      return false;
  return true;
}

/* A changed inode: mapped in both views, so that what it owned in the
 * base and what it owns now are both explained. */
static int
add_candidate (struct analysis *an, uint32_t ino)
{
  struct object *o = analysis_object (an, ino);

  if (!o)
    return -1;
  if (o->candidate)
    return 0;
  o->candidate = true;
  for (int v = S0; v <= S1; v++)
    if ((o->live[v] || (ino < EXT2_FIRST_INODE (an->v[v].fs->super) && o->in[v].i_mode))
        && owners_add_inode (&an->own[v], ino, &o->in[v]) == -1)
      return -1;
  return 0;
}

/* Compare the inodes of one inode-table block, raw, in both views. */
static int
compare_table_block (struct analysis *an, uint64_t block, uint32_t first_ino,
                     uint8_t *b0, uint8_t *b1)
{
  uint32_t bs = an->v[S1].bs, isize = EXT2_INODE_SIZE (an->v[S1].fs->super);
  uint32_t count = an->v[S1].fs->super->s_inodes_count;

  if (disk_pread (&an->v[S0].disk, b0, bs, block * bs) == -1
      || disk_pread (&an->v[S1].disk, b1, bs, block * bs) == -1)
    return -1;
  for (uint32_t i = 0; i < bs / isize; i++) {
    uint32_t ino = first_ino + i;
    if (ino == 0 || ino > count)
      break;
    if (memcmp (b0 + i * isize, b1 + i * isize, isize) != 0 && add_candidate (an, ino) == -1)
      return -1;
  }
  return 0;
}

static int
find_candidates (struct analysis *an)
{
  struct owners *m = &an->own[S1];
  uint8_t *b0 = malloc (an->v[S1].bs), *b1 = malloc (an->v[S1].bs);
  int r = 0;

  if (!b0 || !b1)
    r = -1;
  else if (!an->compare_all) {
    for (int v = S0; v <= S1; v++) {
      struct prefetch pf;
      prefetch_init (&pf, &an->v[v]);
      for (size_t k = 0; k < an->written.n; k++) {
        const struct range *rg = &an->written.r[k];
        for (uint64_t i = 0; i < rg->count; i++)
          if (m->o[rg->rank + i].cls == OWNER_INODE_TABLE)
            prefetch_blocks (&pf, rg->start + i, 1);
      }
      prefetch_issue (&pf);
      prefetch_free (&pf);
    }
    /* Only written inode-table blocks can hold changed inodes. */
    for (size_t k = 0; k < an->written.n && r == 0; k++) {
      const struct range *rg = &an->written.r[k];
      for (uint64_t i = 0; i < rg->count && r == 0; i++) {
        const struct owner *o = &m->o[rg->rank + i];
        if (o->cls == OWNER_INODE_TABLE)
          r = compare_table_block (an, rg->start + i, o->ino, b0, b1);
      }
    }
  }
  else {
    /* The layouts differ (a resize, or crafted descriptors): every
     * inode number is compared, the slow way. */
    uint32_t count = an->v[S1].fs->super->s_inodes_count;
    findings_add (&an->findings, "the filesystem's layout differs between the views "
                  "(resized, or crafted group descriptors): every inode is compared");
    for (uint32_t ino = 1; ino <= count && r == 0; ino++) {
      struct ext2_inode_large i0, i1;
      int e0 = extfs_read_inode (&an->v[S0], ino, &i0);
      int e1 = extfs_read_inode (&an->v[S1], ino, &i1);
      if ((e0 || e1 || memcmp (&i0, &i1, sizeof i0) != 0) && add_candidate (an, ino) == -1)
        r = -1;
    }
  }
  free (b0);
  free (b1);
  return r;
}

/* Written blocks that some view marks in use yet gives no owner among
 * the changed inodes and the metadata: only these can hide a change.
 * A block owned in one view only counts too: in an honest run a block
 * in use in the base belonged to an inode that changed if it was
 * written, so one that a changed inode took over from an unchanged one
 * (or left to one) is where the SEE changed a file without touching
 * its inode. */
static int
unexplained (struct analysis *an, struct rangeset *out)
{
  for (size_t k = 0; k < an->written.n; k++) {
    const struct range *rg = &an->written.r[k];
    for (uint64_t i = 0; i < rg->count; i++) {
      uint64_t b = rg->start + i;
      bool own1 = an->own[S1].o[rg->rank + i].cls != OWNER_NONE;
      bool own0 = an->own[S0].o[rg->rank + i].cls != OWNER_NONE;
      int m0 = 0, m1 = 0;
      if (own0 && own1)
        continue;
      if ((!own1 && (m1 = extfs_block_marked (&an->v[S1], b)) == -1)
          || (!own0 && (m0 = extfs_block_marked (&an->v[S0], b)) == -1))
        return -1;
      if ((m0 || m1) && rangeset_add (out, b, 1) == -1)
        return -1;
    }
  }
  return 0;
}

struct scan_found {
  struct analysis *an;
  int err;
};

static void
scan_found (void *opaque, ext2_ino_t ino)
{
  struct scan_found *f = opaque;
  if (add_candidate (f->an, ino) == -1)
    f->err = -1;
}

int
analysis_attribute (struct analysis *an)
{
  struct rangeset left;
  int r;

  for (int v = S0; v <= S1; v++)
    if (owners_init (&an->own[v], &an->v[v], &an->written) == -1)
      return -1;
  an->compare_all = !same_layout (an);
  if (owners_add_layout (&an->own[S1]) == -1 || owners_add_layout (&an->own[S0]) == -1
      || owners_add_special (&an->own[S0]) == -1
      || owners_add_special (&an->own[S1]) == -1
      || find_candidates (an) == -1)
    return -1;

  rangeset_init (&left);
  r = unexplained (an, &left);
  if (r == 0 && left.total) {
    struct scan_found f = { an, 0 };
    an->scanned = true;
    r = owners_scan (&an->own[S1], &left, scan_found, &f);
    if (r == 0)
      r = f.err;
  }
  rangeset_free (&left);
  if (r == 0)
    r = owners_finish (&an->own[S1]);
  return r;
}

/* Names by walking: each wanted inode collects paths until it has as
 * many as it has links. */
struct name_walk {
  struct analysis *an;
  int v;
  struct inomap idx;            /* ino → i */
  struct path **paths;
  size_t *counts;
  uint32_t *want;               /* names still expected */
  size_t missing;               /* inodes still expecting names */
  int err;
};

static int
collect_names (void *opaque, ext2_ino_t dir, const struct dirents *d)
{
  struct name_walk *w = opaque;

  for (size_t k = 0; k < d->n; k++) {
    int64_t i = inomap_get (&w->idx, d->e[k].ino);
    struct path p, *np;
    if (i < 0)
      continue;
    if (pathres_join (&w->an->paths[w->v], dir, DIRENT_NAME (d, &d->e[k]),
                      d->e[k].name_len, &p) == -1
        || !(np = realloc (w->paths[i], (w->counts[i] + 1) * sizeof *np))) {
      w->err = -1;
      return 1;
    }
    w->paths[i] = np;
    np[w->counts[i]++] = p;
    if (w->want[i] && --w->want[i] == 0 && --w->missing == 0)
      return 1;
  }
  return 0;
}

int
analysis_names (struct analysis *an, int v, const uint32_t *inos, size_t n,
                struct path **paths, size_t *counts)
{
  struct name_walk w = { an, v, { 0 }, paths, counts, calloc (n ? n : 1, sizeof *w.want),
                         0, 0 };
  int r = 0;

  inomap_init (&w.idx);
  if (!w.want)
    return -1;
  for (size_t i = 0; i < n && r == 0; i++) {
    struct ext2_inode_large inode;
    paths[i] = NULL;
    counts[i] = 0;
    if (extfs_read_inode (&an->v[v], inos[i], &inode) == -1)
      continue;
    if (LINUX_S_ISDIR (inode.i_mode)) {
      const struct path *p = pathres_dir (&an->paths[v], inos[i]);
      if (!p || !(paths[i] = malloc (sizeof **paths))
          || !(paths[i][0].s = malloc (p->len ? p->len : 1))) {
        r = -1;
        break;
      }
      memcpy (paths[i][0].s, p->len ? p->s : "/", p->len ? p->len : 1);
      paths[i][0].len = p->len ? p->len : 1;
      counts[i] = 1;
      continue;
    }
    if (inomap_put (&w.idx, inos[i], i) == -1)
      r = -1;
    /* A crafted link count only makes the walk go to the end. */
    w.want[i] = inode.i_links_count ? inode.i_links_count : 1;
    w.missing++;
  }
  if (r == 0 && w.missing)
    r = pathres_walk (&an->paths[v], collect_names, &w);
  if (r == 0)
    r = w.err;
  inomap_free (&w.idx);
  free (w.want);
  return r;
}
