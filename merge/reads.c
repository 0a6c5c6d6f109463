/* oneway-merge: what the SEE read of the base, file by file.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "oneway/overlay.h"
#include "oneway/util.h"
#include "reads.h"

struct add_read {
  struct analysis *an;
  struct rangeset *set;
  uint64_t block_size;
};

static int
add_read (void *opaque, uint64_t first, uint64_t count)
{
  struct add_read *a = opaque;
  return analysis_add_range (a->an, a->set, NULL, first * a->block_size,
                             count * a->block_size);
}

/* Every live inode of the read inode-table blocks maps its blocks. */
static int
add_candidates (struct analysis *an, struct owners *m, const struct rangeset *set)
{
  struct extfs *x = &an->v[S0];
  uint32_t ipb = x->bs / EXT2_INODE_SIZE (x->fs->super);
  struct prefetch pf;

  prefetch_init (&pf, x);
  for (size_t k = 0; k < set->n; k++)
    for (uint64_t i = 0; i < set->r[k].count; i++)
      if (m->o[set->r[k].rank + i].cls == OWNER_INODE_TABLE)
        prefetch_blocks (&pf, set->r[k].start + i, 1);
  prefetch_issue (&pf);
  prefetch_free (&pf);
  for (size_t k = 0; k < set->n; k++)
    for (uint64_t i = 0; i < set->r[k].count; i++) {
      const struct owner *o = &m->o[set->r[k].rank + i];
      if (o->cls != OWNER_INODE_TABLE)
        continue;
      for (uint32_t ino = o->ino; ino < o->ino + ipb; ino++) {
        struct ext2_inode_large inode;
        if (ino > x->fs->super->s_inodes_count)
          break;
        if (ino == EXT2_RESIZE_INO || extfs_read_inode (x, ino, &inode) == -1
            || !extfs_inode_live (&inode))
          continue;
        if (owners_add_inode (m, ino, &inode) == -1)
          return -1;
      }
    }
  return 0;
}

/* Read blocks in use in the base that no candidate owns. */
static int
unexplained (struct owners *m, const struct rangeset *set, struct rangeset *out)
{
  for (size_t k = 0; k < set->n; k++)
    for (uint64_t i = 0; i < set->r[k].count; i++) {
      int marked;
      if (m->o[set->r[k].rank + i].cls != OWNER_NONE)
        continue;
      if ((marked = extfs_block_marked (m->x, set->r[k].start + i)) == -1)
        return -1;
      if (marked && rangeset_add (out, set->r[k].start + i, 1) == -1)
        return -1;
    }
  return 0;
}

static void
found_nothing (void *opaque, ext2_ino_t ino)
{
  (void) opaque; (void) ino;
}

static int
compare_ino (const void *a, const void *b)
{
  uint32_t x = ((const struct read_object *) a)->ino, y = ((const struct read_object *) b)->ino;
  return x < y ? -1 : x > y;
}

const struct read_object *
reads_find (const struct reads *r, uint32_t ino)
{
  struct read_object key = { .ino = ino };
  return r->n ? bsearch (&key, r->o, r->n, sizeof *r->o, compare_ino) : NULL;
}

/* One object per inode that owns a read data or directory block. */
static int
collect (struct analysis *an, struct owners *m, struct reads *r)
{
  uint32_t first_ino = EXT2_FIRST_INODE (an->v[S0].fs->super);
  struct inomap seen;
  int ret = 0;

  inomap_init (&seen);
  for (size_t k = 0; k < r->blocks.n && ret == 0; k++)
    for (uint64_t i = 0; i < r->blocks.r[k].count && ret == 0; i++) {
      const struct owner *o = &m->o[r->blocks.r[k].rank + i];
      bool listing = o->cls == OWNER_DIRECTORY;
      if ((o->cls != OWNER_FILE_DATA && !listing)
          || (o->ino < first_ino && o->ino != EXT2_ROOT_INO) || inomap_get (&seen, o->ino) >= 0)
        continue;
      if (inomap_put (&seen, o->ino, 0) == -1
          || ow_grow_array (&r->o, &r->cap, r->n + 1, sizeof *r->o) == -1)
        ret = -1;
      else
        r->o[r->n++] = (struct read_object) { .ino = o->ino, .listing = listing };
    }
  inomap_free (&seen);
  if (r->n > 1)
    qsort (r->o, r->n, sizeof *r->o, compare_ino);
  return ret;
}

static int
add_name (struct read_object *o, struct path p)
{
  struct path *np = realloc (o->names, (o->nnames + 1) * sizeof *np);
  if (!np) {
    free (p.s);
    return -1;
  }
  o->names = np;
  o->names[o->nnames++] = p;
  return 0;
}

/* Directories by their "..", files by the entries of the directories
 * read, the rest by one walk. */
static int
name_objects (struct analysis *an, struct reads *r)
{
  struct extfs *x = &an->v[S0];
  uint32_t *left = NULL;
  size_t nleft = 0;
  struct prefetch pf;
  int ret = -1;

  /* Every directory read is listed: ask for their blocks at once. */
  prefetch_init (&pf, x);
  for (size_t i = 0; i < r->n; i++) {
    struct ext2_inode_large inode;
    if (r->o[i].listing && extfs_read_inode (x, r->o[i].ino, &inode) == 0)
      prefetch_data (&pf, r->o[i].ino, &inode);
  }
  prefetch_issue (&pf);
  prefetch_free (&pf);
  for (size_t i = 0; i < r->n; i++) {
    struct read_object *o = &r->o[i];
    const struct path *dp;
    struct ext2_inode_large inode;
    struct dirents d;
    struct path p;

    if (!o->listing)
      continue;
    if (!(dp = pathres_dir (&an->paths[S0], o->ino)))
      goto out;
    if (dp->len && dp->s[0] != '/')
      continue;                 /* unreachable: a finding says so */
    p.len = dp->len ? dp->len : 1;
    if (!(p.s = malloc (p.len)))
      goto out;
    memcpy (p.s, dp->len ? dp->s : "/", p.len);
    if (add_name (o, p) == -1)
      goto out;
    if (extfs_read_inode (x, o->ino, &inode) == -1 || extfs_read_dir (x, o->ino, &inode, &d) == -1)
      continue;
    for (size_t k = 0; k < d.n; k++) {
      struct read_object *f = (struct read_object *) reads_find (r, d.e[k].ino);
      if (!f || f->listing)
        continue;
      if (pathres_join (&an->paths[S0], o->ino, DIRENT_NAME (&d, &d.e[k]), d.e[k].name_len,
                        &p) == -1 || add_name (f, p) == -1) {
        dirents_free (&d);
        goto out;
      }
    }
    dirents_free (&d);
  }

  if (!(left = malloc ((r->n ? r->n : 1) * sizeof *left)))
    goto out;
  for (size_t i = 0; i < r->n; i++)
    if (!r->o[i].listing && r->o[i].nnames == 0)
      left[nleft++] = r->o[i].ino;
  if (nleft) {
    struct path **paths = calloc (nleft, sizeof *paths);
    size_t *counts = calloc (nleft, sizeof *counts);
    int w = paths && counts ? analysis_names (an, S0, left, nleft, paths, counts) : -1;
    for (size_t k = 0; k < nleft && paths && counts; k++) {
      struct read_object *f = (struct read_object *) reads_find (r, left[k]);
      if (w == 0) {
        f->names = paths[k];
        f->nnames = counts[k];
      }
      else if (paths[k]) {
        for (size_t j = 0; j < counts[k]; j++)
          free (paths[k][j].s);
        free (paths[k]);
      }
    }
    free (paths);
    free (counts);
    if (w == -1)
      goto out;
  }
  for (size_t i = 0; i < r->n; i++)
    if (r->o[i].nnames > 1)
      qsort (r->o[i].names, r->o[i].nnames, sizeof *r->o[i].names, path_compare_v);
  ret = 0;
 out:
  free (left);
  return ret;
}

int
reads_load (struct analysis *an, struct ow_overlay *ov, struct reads *r)
{
  struct add_read a = { an, &r->blocks, ow_block_size (ov) };
  struct owners m = { 0 };
  struct rangeset left;
  int ret = -1;

  memset (r, 0, sizeof *r);
  rangeset_init (&r->blocks);
  rangeset_init (&left);
  if (ow_read_ranges (ov, add_read, &a) == -1)
    goto out;
  if (owners_init (&m, &an->v[S0], &r->blocks) == -1 || owners_add_layout (&m) == -1
      || owners_add_special (&m) == -1 || add_candidates (an, &m, &r->blocks) == -1
      || unexplained (&m, &r->blocks, &left) == -1)
    goto out;
  if (left.total) {
    r->scanned = true;
    if (owners_scan (&m, &left, found_nothing, NULL) == -1)
      goto out;
  }
  if (collect (an, &m, r) == -1 || name_objects (an, r) == -1)
    goto out;
  ret = 0;
 out:
  rangeset_free (&left);
  owners_free (&m);
  return ret;
}

void
reads_free (struct reads *r)
{
  for (size_t i = 0; i < r->n; i++) {
    for (size_t k = 0; k < r->o[i].nnames; k++)
      free (r->o[i].names[k].s);
    free (r->o[i].names);
  }
  free (r->o);
  rangeset_free (&r->blocks);
  memset (r, 0, sizeof *r);
}
