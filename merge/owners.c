/* oneway-merge: who owns each block of a set, in one view.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <et/com_err.h>

#include "oneway/util.h"
#include "owners.h"

static const char *const class_names[OWNER_CLASSES] = {
  [OWNER_NONE] = "none",
  [OWNER_SUPERBLOCK] = "superblock",
  [OWNER_GROUP_DESCRIPTORS] = "group-descriptors",
  [OWNER_BLOCK_BITMAP] = "block-bitmap",
  [OWNER_INODE_BITMAP] = "inode-bitmap",
  [OWNER_INODE_TABLE] = "inode-table",
  [OWNER_JOURNAL] = "journal",
  [OWNER_DIRECTORY] = "directory",
  [OWNER_EXTENT_TREE] = "extent-tree",
  [OWNER_XATTR] = "xattr",
  [OWNER_FILE_DATA] = "file-data",
  [OWNER_FREE] = "free",
  [OWNER_UNATTRIBUTED] = "unattributed",
  [OWNER_OUTSIDE] = "outside",
  [OWNER_UNKNOWN] = "unknown",
};

const char *
owner_class_name (enum owner_class c)
{
  return c < OWNER_CLASSES ? class_names[c] : "?";
}

int
owners_init (struct owners *m, struct extfs *x, const struct rangeset *set)
{
  m->x = x;
  m->set = set;
  m->unjudged = set->total;
  m->o = calloc (set->total ? set->total : 1, sizeof *m->o);
  return m->o ? 0 : -1;
}

void
owners_free (struct owners *m)
{
  free (m->o);
  m->o = NULL;
}

/* Giving blocks an owner.  The first owner stays; a second inode
 * claiming the same block is something a consistent filesystem never
 * shows, so it is reported. */
struct claim {
  struct owners *m;
  enum owner_class cls;
  uint32_t ino;
  uint64_t first_ino, inodes_per_block;   /* inode tables */
  uint64_t physical, logical;             /* file blocks */
  bool per_inode;
  void (*found) (void *opaque, ext2_ino_t ino);
  void *opaque;
};

static int
claim_run (void *opaque, uint64_t first, uint64_t n, uint64_t rank)
{
  struct claim *c = opaque;
  struct owners *m = c->m;

  for (uint64_t i = 0; i < n; i++) {
    struct owner *o = &m->o[rank + i];
    uint64_t b = first + i;
    if (o->cls == OWNER_NONE) {
      o->cls = c->cls;
      if (c->cls == OWNER_INODE_TABLE)
        o->ino = c->first_ino + (b - c->physical) * c->inodes_per_block;
      else {
        o->ino = c->ino;
        o->file_block = c->logical + (b - c->physical);
      }
      m->unjudged--;
      if (c->found)
        c->found (c->opaque, c->ino);
    }
    else if (c->per_inode && o->ino != c->ino) {
      if (o->cls >= OWNER_DIRECTORY && o->cls <= OWNER_FILE_DATA)
        findings_add (m->x->findings, "%s: block %" PRIu64 " is claimed by inode %" PRIu32
                      " and by inode %" PRIu32, m->x->label, b, o->ino, c->ino);
      else if (o->cls != OWNER_JOURNAL)
        findings_add (m->x->findings, "%s: inode %" PRIu32 " maps block %" PRIu64
                      ", which is filesystem metadata (%s)", m->x->label, c->ino, b,
                      owner_class_name (o->cls));
      /* A scan that meets a block already given to a changed inode:
       * this one maps it too, so what was written there changed it as
       * well, and it is compared like any changed inode. */
      if (c->found)
        c->found (c->opaque, c->ino);
    }
  }
  return 0;
}

static void
claim_layout (struct owners *m, enum owner_class cls, uint64_t start, uint64_t count,
              dgrp_t g)
{
  struct claim c = { .m = m, .cls = cls, .physical = start };

  if (start >= m->x->blocks || count > m->x->blocks - start) {
    findings_add (m->x->findings, "%s: group %" PRIu32 " places its %s at block %" PRIu64
                  " (%" PRIu64 " blocks), outside the filesystem", m->x->label, g,
                  owner_class_name (cls), start, count);
    return;
  }
  if (cls == OWNER_INODE_TABLE) {
    c.first_ino = (uint64_t) g * m->x->fs->super->s_inodes_per_group + 1;
    c.inodes_per_block = m->x->bs / EXT2_INODE_SIZE (m->x->fs->super);
  }
  rangeset_each_in (m->set, start, count, claim_run, &c);
}

int
owners_add_layout (struct owners *m)
{
  ext2_filsys fs = m->x->fs;
  uint64_t old_desc_blocks = ext2fs_has_feature_meta_bg (fs->super)
    ? fs->super->s_first_meta_bg : fs->desc_blocks + fs->super->s_reserved_gdt_blocks;

  /* With 1 KiB blocks, block 0 holds the boot sector, before the
   * superblock: count it with the superblock. */
  if (fs->super->s_first_data_block)
    claim_layout (m, OWNER_SUPERBLOCK, 0, fs->super->s_first_data_block, 0);
  for (dgrp_t g = 0; g < fs->group_desc_count; g++) {
    blk64_t super = 0, old_desc = 0, new_desc = 0;
    blk_t used;
    ext2fs_super_and_bgd_loc2 (fs, g, &super, &old_desc, &new_desc, &used);
    if (super || g == 0)
      claim_layout (m, OWNER_SUPERBLOCK, super, 1, g);
    if (old_desc)
      claim_layout (m, OWNER_GROUP_DESCRIPTORS, old_desc,
                    ow_min64 (old_desc_blocks, fs->desc_blocks + fs->super->s_reserved_gdt_blocks), g);
    if (new_desc)
      claim_layout (m, OWNER_GROUP_DESCRIPTORS, new_desc, 1, g);
    claim_layout (m, OWNER_BLOCK_BITMAP, ext2fs_block_bitmap_loc (fs, g), 1, g);
    claim_layout (m, OWNER_INODE_BITMAP, ext2fs_inode_bitmap_loc (fs, g), 1, g);
    claim_layout (m, OWNER_INODE_TABLE, ext2fs_inode_table_loc (fs, g),
                  fs->inode_blocks_per_group, g);
  }
  return 0;
}

static enum owner_class
class_of (struct owners *m, ext2_ino_t ino, const struct ext2_inode_large *inode,
          enum map_kind kind)
{
  if (ino == m->x->fs->super->s_journal_inum && ext2fs_has_feature_journal (m->x->fs->super))
    return OWNER_JOURNAL;
  if (ino == EXT2_RESIZE_INO)
    return OWNER_GROUP_DESCRIPTORS;
  switch (kind) {
  case MAP_XATTR: return OWNER_XATTR;
  case MAP_TREE: return OWNER_EXTENT_TREE;
  case MAP_DATA:
  default:
    if (inode->i_flags & EXT4_EA_INODE_FL)
      return OWNER_XATTR;
    return LINUX_S_ISDIR (inode->i_mode) ? OWNER_DIRECTORY : OWNER_FILE_DATA;
  }
}

/* Blocks of a subset of the set: their ranks are the set's. */
static int
claim_subset (void *opaque, uint64_t first, uint64_t n, uint64_t rank)
{
  struct claim *c = opaque;
  (void) rank;

  for (uint64_t b = first; b < first + n; b++) {
    int64_t r = rangeset_rank (c->m->set, b);
    if (r >= 0)
      claim_run (c, b, 1, r);
  }
  return 0;
}

struct inode_claim {
  struct owners *m;
  const struct rangeset *within;
  ext2_ino_t ino;
  const struct ext2_inode_large *inode;
  void (*found) (void *opaque, ext2_ino_t ino);
  void *opaque;
};

static int
inode_run (void *opaque, enum map_kind kind, uint64_t logical, uint64_t physical,
           uint64_t count, bool uninit)
{
  struct inode_claim *ic = opaque;
  struct claim c = {
    .m = ic->m, .cls = class_of (ic->m, ic->ino, ic->inode, kind), .ino = ic->ino,
    .physical = physical, .logical = logical, .per_inode = true,
    .found = ic->found, .opaque = ic->opaque,
  };
  (void) uninit;

  if (ic->within == ic->m->set)
    return rangeset_each_in (ic->m->set, physical, count, claim_run, &c);
  /* A scan: only blocks of `within` (a subset of the set). */
  return rangeset_each_in (ic->within, physical, count, claim_subset, &c);
}

int
owners_add_inode (struct owners *m, ext2_ino_t ino, struct ext2_inode_large *inode)
{
  struct inode_claim ic = { m, m->set, ino, inode, NULL, NULL };

  if (ino == EXT2_RESIZE_INO) {
    /* Its blocks are the reserved descriptor blocks, mapped with the
     * layout; only its double-indirect block is its own. */
    uint32_t dind = inode->i_block[EXT2_DIND_BLOCK];
    if (dind && dind < m->x->blocks)
      inode_run (&ic, MAP_TREE, 0, dind, 1, false);
    return 0;
  }
  return extfs_map_inode (m->x, ino, inode, inode_run, &ic) == -1 ? -1 : 0;
}

int
owners_add_special (struct owners *m)
{
  ext2_filsys fs = m->x->fs;
  struct ext2_inode_large inode;
  uint32_t ino[2] = {
    ext2fs_has_feature_journal (fs->super) ? fs->super->s_journal_inum : 0,
    ext2fs_has_feature_resize_inode (fs->super) ? EXT2_RESIZE_INO : 0,
  };

  for (int i = 0; i < 2; i++)
    if (ino[i] && extfs_read_inode (m->x, ino[i], &inode) == 0
        && owners_add_inode (m, ino[i], &inode) == -1)
      return -1;
  return 0;
}

int
owners_scan (struct owners *m, const struct rangeset *wanted,
             void (*found) (void *opaque, ext2_ino_t ino), void *opaque)
{
  ext2_filsys fs = m->x->fs;
  ext2_inode_scan scan;
  struct ext2_inode_large inode;
  ext2_ino_t ino;
  errcode_t err;

  err = ext2fs_open_inode_scan (fs, 0, &scan);
  if (err) {
    findings_add (m->x->findings, "%s: cannot scan the inode tables: %s", m->x->label,
                  error_message (err));
    return 0;
  }
  for (;;) {
    err = ext2fs_get_next_inode_full (scan, &ino, (struct ext2_inode *) &inode, sizeof inode);
    if (err == EXT2_ET_BAD_BLOCK_IN_INODE_TABLE)
      continue;
    if (err) {
      findings_add (m->x->findings, "%s: the inode scan stopped at inode %" PRIu32 ": %s",
                    m->x->label, ino, error_message (err));
      break;
    }
    if (ino == 0)
      break;
    if (!extfs_inode_live (&inode) || ino == EXT2_RESIZE_INO)
      continue;
    struct inode_claim ic = { m, wanted, ino, &inode, found, opaque };
    if (extfs_map_inode (m->x, ino, &inode, inode_run, &ic) == -1) {
      ext2fs_close_inode_scan (scan);
      return -1;
    }
  }
  ext2fs_close_inode_scan (scan);
  return 0;
}

static int
finish_run (void *opaque, uint64_t first, uint64_t n, uint64_t rank)
{
  struct owners *m = opaque;

  for (uint64_t i = 0; i < n; i++) {
    struct owner *o = &m->o[rank + i];
    if (o->cls != OWNER_NONE)
      continue;
    int marked = extfs_block_marked (m->x, first + i);
    if (marked == -1)
      return -1;
    o->cls = marked ? OWNER_UNATTRIBUTED : OWNER_FREE;
    m->unjudged--;
  }
  return 0;
}

int
owners_finish (struct owners *m)
{
  return rangeset_each_in (m->set, 0, UINT64_MAX, finish_run, m);
}
