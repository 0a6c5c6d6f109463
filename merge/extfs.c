/* oneway-merge: an ext2/3/4 filesystem in one view, read defensively.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <et/com_err.h>

#include "extfs.h"
#include "oneway/escape.h"
#include "oneway/error.h"
#include "oneway/util.h"

int
extfs_open (struct extfs *x, const struct disk *d, const struct probe *p,
            bool writable, struct findings *findings)
{
  struct ext2_super_block sb;
  uint64_t blocks;
  uint32_t bs;
  errcode_t err;
  char a[32], b[32];

  memset (x, 0, sizeof *x);
  disk_window (d, p->offset, p->size, &x->disk);
  x->label = d->label;
  x->findings = findings;
  if (disk_pread (&x->disk, &sb, sizeof sb, 1024) == -1)
    return -1;
  errno = EINVAL;
  if (sb.s_log_block_size > EXT2_MAX_BLOCK_LOG_SIZE - EXT2_MIN_BLOCK_LOG_SIZE) {
    ow_error ("the %s filesystem in the %s has block size 2^%" PRIu32
              " KiB: not a size ext4 allows (its superblock is damaged or crafted)",
              p->fstype, d->label, sb.s_log_block_size);
    return -1;
  }
  bs = 1024u << sb.s_log_block_size;
  blocks = sb.s_blocks_count;
  if (sb.s_feature_incompat & EXT4_FEATURE_INCOMPAT_64BIT)
    blocks |= (uint64_t) sb.s_blocks_count_hi << 32;
  if (blocks > x->disk.size / bs) {
    ow_error ("the %s filesystem in the %s claims %" PRIu64 " blocks of %" PRIu32
              " bytes (%s), past the end of its disk (%s): it was made for a larger "
              "disk, or its superblock is crafted", p->fstype, d->label, blocks, bs,
              ow_human_size (blocks * bs, a, sizeof a),
              ow_human_size (x->disk.size, b, sizeof b));
    return -1;
  }
  /* Checksums are the SEE's to get wrong: read what is there and let
   * the comparison show it, rather than hide a file behind an error. */
  err = ext2fs_open2 (disk_io_name (&x->disk), NULL,
                      EXT2_FLAG_64BITS | EXT2_FLAG_IGNORE_CSUM_ERRORS
                      | (writable ? EXT2_FLAG_RW : 0), 0, 0, disk_io_manager, &x->fs);
  if (err) {
    ow_error ("cannot read the %s filesystem in the %s: %s", p->fstype, d->label,
              error_message (err));
    x->fs = NULL;
    return -1;
  }
  x->bs = x->fs->blocksize;
  x->blocks = ext2fs_blocks_count (x->fs->super);
  x->walk_budget = 4 * x->blocks + (1u << 20);
  /* An honest run reads each directory block a few times (diff, the
   * name walks, lookups), more where pathres_dir lists a parent again
   * for each of its subdirectories: 16 times leaves room for that,
   * and one largest directory always fits. */
  x->dir_budget = 16 * x->blocks + DIR_MAX_BLOCKS;
  x->bitmaps = calloc (x->fs->group_desc_count, sizeof *x->bitmaps);
  if (!x->bitmaps) {
    ow_error ("out of memory for %" PRIu32 " block groups", x->fs->group_desc_count);
    extfs_close (x);
    return -1;
  }
  return 0;
}

void
extfs_close (struct extfs *x)
{
  if (x->bitmaps)
    for (dgrp_t g = 0; g < x->fs->group_desc_count; g++)
      free (x->bitmaps[g]);
  free (x->bitmaps);
  x->bitmaps = NULL;
  if (x->fs)
    ext2fs_close_free (&x->fs);
}

bool
extfs_needs_recovery (const struct extfs *x)
{
  return ext2fs_has_feature_journal_needs_recovery (x->fs->super);
}

int
extfs_read_inode (struct extfs *x, ext2_ino_t ino, struct ext2_inode_large *inode)
{
  errcode_t err;

  memset (inode, 0, sizeof *inode);
  if (ino == 0 || ino > x->fs->super->s_inodes_count) {
    findings_add (x->findings, "%s: inode %" PRIu32 " is out of range (the filesystem has %"
                  PRIu32 ")", x->label, ino, x->fs->super->s_inodes_count);
    return -1;
  }
  err = ext2fs_read_inode_full (x->fs, ino, (struct ext2_inode *) inode, sizeof *inode);
  if (err) {
    findings_add (x->findings, "%s: inode %" PRIu32 " cannot be read: %s", x->label, ino,
                  error_message (err));
    memset (inode, 0, sizeof *inode);
    return -1;
  }
  return 0;
}

bool
extfs_inode_live (const struct ext2_inode_large *inode)
{
  return inode->i_mode && inode->i_links_count && !inode->i_dtime;
}

bool
extfs_has_extra (const struct extfs *x, const struct ext2_inode_large *i, size_t field_end)
{
  return EXT2_INODE_SIZE (x->fs->super) > EXT2_GOOD_OLD_INODE_SIZE
    && EXT2_GOOD_OLD_INODE_SIZE + (size_t) i->i_extra_isize >= field_end;
}

uint32_t
extfs_uid (const struct ext2_inode_large *i)
{
  return i->i_uid | (uint32_t) i->osd2.linux2.l_i_uid_high << 16;
}

uint32_t
extfs_gid (const struct ext2_inode_large *i)
{
  return i->i_gid | (uint32_t) i->osd2.linux2.l_i_gid_high << 16;
}

void
extfs_mtime (const struct extfs *x, const struct ext2_inode_large *i, int64_t *sec,
             int64_t *nsec)
{
  size_t end = offsetof (struct ext2_inode_large, i_mtime_extra) + sizeof i->i_mtime_extra;

  /* The extra field: 2 more bits of seconds (past 2038), then
   * nanoseconds. */
  *sec = (int32_t) i->i_mtime;
  *nsec = -1;
  if (extfs_has_extra (x, i, end)) {
    *sec += (int64_t) (i->i_mtime_extra & 3) << 32;
    *nsec = i->i_mtime_extra >> 2;
  }
}

void
extfs_rdev (const struct ext2_inode_large *i, uint32_t *major, uint32_t *minor)
{
  /* The old encoding in i_block[0], else the new one in i_block[1]
   * (as ext4_iget decodes them: old_decode_dev, new_decode_dev). */
  if (i->i_block[0]) {
    *major = (i->i_block[0] >> 8) & 0xff;
    *minor = i->i_block[0] & 0xff;
  }
  else {
    uint32_t d = i->i_block[1];
    *major = (d & 0xfff00) >> 8;
    *minor = (d & 0xff) | ((d >> 12) & 0xfff00);
  }
}

const char *
extfs_type_name (uint16_t mode)
{
  switch (mode & LINUX_S_IFMT) {
  case LINUX_S_IFREG: return "file";
  case LINUX_S_IFDIR: return "dir";
  case LINUX_S_IFLNK: return "symlink";
  case LINUX_S_IFCHR: return "char";
  case LINUX_S_IFBLK: return "block";
  case LINUX_S_IFIFO: return "fifo";
  case LINUX_S_IFSOCK: return "socket";
  default: return "unknown";
  }
}

/* Device numbers, fast symlink targets and inline data live in
 * i_block: those inodes have no blocks to map. */
static bool
has_mapped_blocks (const struct ext2_inode_large *inode, ext2_ino_t ino,
                   const ext2_filsys fs)
{
  uint16_t type = inode->i_mode & LINUX_S_IFMT;

  if (inode->i_flags & EXT4_INLINE_DATA_FL)
    return false;
  if (type == LINUX_S_IFLNK)
    return !ext2fs_is_fast_symlink ((struct ext2_inode *) inode);
  return type == LINUX_S_IFREG || type == LINUX_S_IFDIR
    || (ino < EXT2_FIRST_INODE (fs->super) && ino != EXT2_ROOT_INO);
}

static bool
spend (struct extfs *x, ext2_ino_t ino)
{
  if (x->walk_budget && x->inode_budget) {
    x->walk_budget--;
    if (--x->inode_budget == 0)
      findings_add (x->findings, "%s: inode %" PRIu32 " has more extent or block-map "
                    "entries than the filesystem has blocks: its tree shares subtrees or "
                    "loops; the rest of it is ignored", x->label, ino);
    return true;
  }
  if (!x->walk_budget && !x->budget_spent)
    findings_add (x->findings, "%s: the extent trees and block maps add up to more entries "
                  "than the filesystem has blocks (first seen at inode %" PRIu32
                  "): they share or loop; mapping stopped there, so some blocks may "
                  "show as unattributed", x->label, ino);
  if (!x->walk_budget)
    x->budget_spent = true;
  return false;
}

/* Pass on a run after clipping it to the filesystem. */
static int
emit (struct extfs *x, ext2_ino_t ino, map_fn fn, void *opaque, enum map_kind kind,
      uint64_t logical, uint64_t physical, uint64_t count, bool uninit)
{
  if (physical >= x->blocks || count > x->blocks - physical) {
    findings_add (x->findings, "%s: inode %" PRIu32 " maps %" PRIu64 " block%s at %" PRIu64
                  ", past the end of the filesystem (%" PRIu64 " blocks)", x->label, ino,
                  count, count == 1 ? "" : "s", physical, x->blocks);
    if (physical >= x->blocks)
      return 0;
    count = x->blocks - physical;
  }
  return fn (opaque, kind, logical, physical, count, uninit);
}

static int
map_extents (struct extfs *x, ext2_ino_t ino, struct ext2_inode_large *inode,
             map_fn fn, void *opaque)
{
  ext2_extent_handle_t h;
  struct ext2fs_extent e;
  errcode_t err;
  int r = 0;

  err = ext2fs_extent_open2 (x->fs, ino, (struct ext2_inode *) inode, &h);
  if (err) {
    findings_add (x->findings, "%s: inode %" PRIu32 " has a corrupt extent tree root: %s",
                  x->label, ino, error_message (err));
    return 0;
  }
  for (err = ext2fs_extent_get (h, EXT2_EXTENT_ROOT, &e); !err && !r;
       err = ext2fs_extent_get (h, EXT2_EXTENT_NEXT, &e)) {
    if (!spend (x, ino))
      break;
    if (!(e.e_flags & EXT2_EXTENT_FLAGS_LEAF)) {
      if (!(e.e_flags & EXT2_EXTENT_FLAGS_SECOND_VISIT))
        r = emit (x, ino, fn, opaque, MAP_TREE, e.e_lblk, e.e_pblk, 1, false);
    }
    else if (e.e_len)
      r = emit (x, ino, fn, opaque, MAP_DATA, e.e_lblk, e.e_pblk, e.e_len,
                e.e_flags & EXT2_EXTENT_FLAGS_UNINIT);
  }
  if (err && err != EXT2_ET_EXTENT_NO_NEXT && !r)
    findings_add (x->findings, "%s: inode %" PRIu32 " has a corrupt extent tree: %s "
                  "(the rest of it is ignored)", x->label, ino, error_message (err));
  ext2fs_extent_free (h);
  return r;
}

/* Old-style block maps (ext2, ext3): libext2fs walks them one block at
 * a time; runs are put together here. */
struct indirect_walk {
  struct extfs *x;
  ext2_ino_t ino;
  map_fn fn;
  void *opaque;
  uint64_t logical, physical, count;
  int r;
};

static int
flush_run (struct indirect_walk *w)
{
  if (w->count && !w->r)
    w->r = emit (w->x, w->ino, w->fn, w->opaque, MAP_DATA, w->logical, w->physical,
                 w->count, false);
  w->count = 0;
  return w->r;
}

static int
indirect_block (ext2_filsys fs, blk64_t *blocknr, e2_blkcnt_t blockcnt,
                blk64_t ref_blk, int ref_offset, void *priv)
{
  struct indirect_walk *w = priv;

  (void) fs; (void) ref_blk; (void) ref_offset;
  if (!spend (w->x, w->ino))
    return BLOCK_ABORT;
  if (blockcnt < 0) {
    if (!w->r)
      w->r = emit (w->x, w->ino, w->fn, w->opaque, MAP_TREE, 0, *blocknr, 1, false);
  }
  else if (w->count && (uint64_t) blockcnt == w->logical + w->count
           && *blocknr == w->physical + w->count)
    w->count++;
  else {
    flush_run (w);
    w->logical = blockcnt;
    w->physical = *blocknr;
    w->count = 1;
  }
  return w->r ? BLOCK_ABORT : 0;
}

static int
map_indirect (struct extfs *x, ext2_ino_t ino, map_fn fn, void *opaque)
{
  struct indirect_walk w = { x, ino, fn, opaque, 0, 0, 0, 0 };
  errcode_t err;

  err = ext2fs_block_iterate3 (x->fs, ino, BLOCK_FLAG_READ_ONLY, NULL, indirect_block, &w);
  flush_run (&w);
  if (err && !w.r)
    findings_add (x->findings, "%s: inode %" PRIu32 " has a corrupt block map: %s "
                  "(the rest of it is ignored)", x->label, ino, error_message (err));
  return w.r;
}

int
extfs_map_inode (struct extfs *x, ext2_ino_t ino, struct ext2_inode_large *inode,
                 map_fn fn, void *opaque)
{
  blk64_t acl = ext2fs_file_acl_block (x->fs, (struct ext2_inode *) inode);
  int r;

  if (acl && (r = emit (x, ino, fn, opaque, MAP_XATTR, 0, acl, 1, false)))
    return r;
  x->inode_budget = x->blocks + 1;
  if (!has_mapped_blocks (inode, ino, x->fs))
    return 0;
  if (inode->i_flags & EXT4_EXTENTS_FL)
    return map_extents (x, ino, inode, fn, opaque);
  return map_indirect (x, ino, fn, opaque);
}

void
prefetch_init (struct prefetch *p, struct extfs *x)
{
  *p = (struct prefetch) { .x = x };
}

void
prefetch_free (struct prefetch *p)
{
  free (p->r);
  p->r = NULL;
  p->n = p->cap = 0;
}

static void
hint (struct extfs *x, uint64_t block, uint64_t count)
{
  if (block < x->blocks)
    disk_prefetch (&x->disk, ow_min64 (count, x->blocks - block) * x->bs, block * x->bs);
}

void
prefetch_blocks (struct prefetch *p, uint64_t block, uint64_t count)
{
  if (ow_grow_array (&p->r, &p->cap, p->n + 1, sizeof *p->r) == -1)
    hint (p->x, block, count);          /* only a hint: give it now */
  else
    p->r[p->n++] = (struct prefetch_run) { block, count };
}

void
prefetch_inode (struct prefetch *p, ext2_ino_t ino)
{
  ext2_filsys fs = p->x->fs;
  uint32_t ipg = fs->super->s_inodes_per_group;

  if (ino == 0 || ino > fs->super->s_inodes_count || ipg == 0)
    return;
  dgrp_t g = (ino - 1) / ipg;
  if (g >= fs->group_desc_count)
    return;
  uint64_t byte = (uint64_t) ((ino - 1) % ipg) * EXT2_INODE_SIZE (fs->super);
  prefetch_blocks (p, ext2fs_inode_table_loc (fs, g) + byte / p->x->bs, 1);
}

static int
prefetch_run (void *opaque, enum map_kind kind, uint64_t logical, uint64_t physical,
              uint64_t count, bool uninit)
{
  (void) logical;
  if (kind == MAP_DATA && !uninit)
    prefetch_blocks (opaque, physical, ow_min64 (count, DIR_MAX_BLOCKS));
  return 0;
}

void
prefetch_data (struct prefetch *p, ext2_ino_t ino, struct ext2_inode_large *inode)
{
  extfs_map_inode (p->x, ino, inode, prefetch_run, p);
}

static int
compare_prefetch (const void *a, const void *b)
{
  const struct prefetch_run *x = a, *y = b;
  return x->start < y->start ? -1 : x->start > y->start;
}

void
prefetch_issue (struct prefetch *p)
{
  if (p->n > 1)
    qsort (p->r, p->n, sizeof *p->r, compare_prefetch);
  for (size_t i = 0; i < p->n;) {
    uint64_t start = p->r[i].start, end = start + p->r[i].count;
    for (i++; i < p->n && p->r[i].start <= end; i++)
      end = end > p->r[i].start + p->r[i].count ? end : p->r[i].start + p->r[i].count;
    hint (p->x, start, end - start);
  }
  p->n = 0;
}

int
extfs_block_marked (struct extfs *x, uint64_t block)
{
  ext2_filsys fs = x->fs;
  dgrp_t g;
  uint64_t bit;

  if (block >= x->blocks)
    return 0;
  g = ext2fs_group_of_blk2 (fs, block);
  if (g >= fs->group_desc_count)
    return 0;
  if (ext2fs_has_group_desc_csum (fs) && ext2fs_bg_flags_test (fs, g, EXT2_BG_BLOCK_UNINIT))
    return 0;                   /* nothing but the group's own metadata, mapped apart */
  if (!x->bitmaps[g]) {
    blk64_t loc = ext2fs_block_bitmap_loc (fs, g);
    uint8_t *bm;
    if (loc == 0 || loc >= x->blocks) {
      findings_add (x->findings, "%s: group %" PRIu32 " has its block bitmap at block %"
                    PRIu64 ", outside the filesystem", x->label, g, (uint64_t) loc);
      return 1;                 /* assume in use: an owner will be looked for */
    }
    if (!(bm = malloc (x->bs)))
      return -1;
    if (disk_pread (&x->disk, bm, x->bs, loc * x->bs) == -1) {
      free (bm);
      return -1;
    }
    x->bitmaps[g] = bm;
  }
  bit = EXT2FS_B2C (fs, block - ext2fs_group_first_block2 (fs, g));
  if (bit >= (uint64_t) x->bs * 8)
    return 1;
  return (x->bitmaps[g][bit / 8] >> (bit % 8)) & 1;
}

void
dirents_free (struct dirents *d)
{
  free (d->e);
  free (d->names);
  memset (d, 0, sizeof *d);
}

static int
compare_dirents (const void *a, const void *b, void *names)
{
  const struct dirent_rec *x = a, *y = b;
  int c = memcmp ((char *) names + x->name_off, (char *) names + y->name_off,
                  x->name_len < y->name_len ? x->name_len : y->name_len);
  return c ? c : (int) x->name_len - (int) y->name_len;
}

void
dirents_sort (struct dirents *d)
{
  if (d->n > 1)
    qsort_r (d->e, d->n, sizeof *d->e, compare_dirents, d->names);
}

int
dirents_add (struct dirents *d, uint32_t ino, uint8_t type, const char *name, uint8_t len)
{
  if (ow_grow_array (&d->e, &d->cap, d->n + 1, sizeof *d->e) == -1
      || ow_grow_array (&d->names, &d->names_cap, d->names_len + len, 1) == -1)
    return -1;
  memcpy (d->names + d->names_len, name, len);
  d->e[d->n++] = (struct dirent_rec) { ino, type, len, d->names_len };
  d->names_len += len;
  return 0;
}

/* Every walk of directory entries (a listing, the climb by "..")
 * reads them from a buffer, one directory block or a directory's
 * inline data, through a cursor that checks each entry as ext4 does
 * (ext4_check_dir_entry) before anything reads it: its rec_len a
 * multiple of 4, at least its header and its name rounded up to 4
 * bytes (EXT2_DIR_REC_LEN), and inside the buffer.  So the next entry
 * starts aligned and inside too, whatever rec_len the SEE wrote.
 * (Casefolded encrypted entries keep an 8-byte hash after the name;
 * nothing here reads it, so it is not asked for.) */
#define DIRENT_INLINE UINT64_MAX     /* where: the inline data, not a block */

struct dirent_cursor {
  struct extfs *x;
  ext2_ino_t dir;
  const char *buf;              /* malloc'ed, so aligned for an entry */
  size_t off, len;              /* off: a multiple of 4 */
  uint64_t where;               /* the block, or DIRENT_INLINE: for findings */
};

/* The entry at the cursor, which then moves past it; NULL at the end,
 * or at a corrupt entry: a finding says which and why, and the walk
 * ends there (the rest of the buffer has no trustworthy start). */
static const struct ext2_dir_entry *
dirent_next (struct dirent_cursor *c)
{
  struct ext2_dir_entry *de = (struct ext2_dir_entry *) (c->buf + c->off);
  unsigned int rec_len, need;
  char why[128], place[32];

  if (c->off + 8 > c->len)
    return NULL;
  need = EXT2_DIR_REC_LEN (ext2fs_dirent_name_len (de));
  if (ext2fs_get_rec_len (c->x->fs, de, &rec_len))
    snprintf (why, sizeof why, "its rec_len cannot be decoded");
  else if (rec_len % 4)
    snprintf (why, sizeof why, "its rec_len %u is not a multiple of 4", rec_len);
  else if (rec_len < need)
    snprintf (why, sizeof why, "its rec_len %u is less than the %u bytes that its %d-byte "
              "name needs", rec_len, need, ext2fs_dirent_name_len (de));
  else if (rec_len > c->len - c->off)
    snprintf (why, sizeof why, "its rec_len %u runs past the end, %zu bytes on", rec_len,
              c->len - c->off);
  else {
    c->off += rec_len;
    return de;
  }
  if (c->where == DIRENT_INLINE)
    snprintf (place, sizeof place, "its inline data");
  else
    snprintf (place, sizeof place, "block %" PRIu64, c->where);
  findings_add (c->x->findings, "%s: directory inode %" PRIu32 " has a corrupt entry at "
                "byte %zu of %s: %s; the rest of %s is not read", c->x->label, c->dir,
                c->off, place, why, c->where == DIRENT_INLINE ? "it" : "that block");
  c->off = c->len;
  return NULL;
}

/* The entries of one directory block or inline area. */
static int
parse_entries (struct dirent_cursor *c, struct dirents *out)
{
  const struct ext2_dir_entry *de;

  while ((de = dirent_next (c))) {
    int name_len = ext2fs_dirent_name_len (de);
    const char *name = de->name;

    if (de->inode == 0)
      continue;                 /* unused, or the checksum tail */
    if (name_len == 1 && name[0] == '.')
      continue;
    if (name_len == 2 && name[0] == '.' && name[1] == '.') {
      out->parent = de->inode;
      continue;
    }
    if (name_len == 0 || memchr (name, '/', name_len) || memchr (name, '\0', name_len)
        || de->inode > c->x->fs->super->s_inodes_count) {
      char *e = ow_escape (name, name_len);
      findings_add (c->x->findings, "%s: directory inode %" PRIu32 " has an entry \"%s\" "
                    "for inode %" PRIu32 " that no path can name (empty, '/' or NUL in it, "
                    "or the inode is out of range); it is left out", c->x->label, c->dir,
                    e ? e : "?", de->inode);
      free (e);
      continue;
    }
    if (out->n == DIR_MAX_ENTRIES) {
      findings_add (c->x->findings, "%s: directory inode %" PRIu32 " has more than %u "
                    "entries; the rest are ignored", c->x->label, c->dir, DIR_MAX_ENTRIES);
      return 1;
    }
    if (dirents_add (out, de->inode, ext2fs_dirent_file_type (de), name, name_len) == -1)
      return -1;
  }
  return 0;
}

struct dir_walk {
  struct extfs *x;
  ext2_ino_t ino;
  struct dirents *out;
  char *buf;
  uint64_t blocks;
};

static int
dir_run (void *opaque, enum map_kind kind, uint64_t logical, uint64_t physical,
         uint64_t count, bool uninit)
{
  struct dir_walk *w = opaque;
  (void) logical;

  if (kind != MAP_DATA || uninit)
    return 0;
  for (uint64_t i = 0; i < count; i++) {
    int r;
    if (++w->blocks > DIR_MAX_BLOCKS) {
      findings_add (w->x->findings, "%s: directory inode %" PRIu32 " is larger than %u "
                    "blocks; the rest is ignored", w->x->label, w->ino, DIR_MAX_BLOCKS);
      return 1;
    }
    if (w->x->dir_budget == 0) {
      if (!w->x->dir_budget_spent)
        findings_add (w->x->findings, "%s: the directories read add up to more blocks "
                      "than 16 times the filesystem's size (first seen at directory "
                      "inode %" PRIu32 "): they share blocks; listing stopped there, so "
                      "some entries may be missing", w->x->label, w->ino);
      w->x->dir_budget_spent = true;
      return 1;
    }
    w->x->dir_budget--;
    if (disk_pread (&w->x->disk, w->buf, w->x->bs, (physical + i) * w->x->bs) == -1)
      return -1;
    struct dirent_cursor c = { w->x, w->ino, w->buf, 0, w->x->bs, physical + i };
    if ((r = parse_entries (&c, w->out)))
      return r;
  }
  return 0;
}

int
extfs_read_dir (struct extfs *x, ext2_ino_t ino, struct ext2_inode_large *inode,
                struct dirents *out)
{
  memset (out, 0, sizeof *out);
  if (inode->i_flags & EXT4_INLINE_DATA_FL) {
    char *buf;
    size_t len;
    int r = 0;
    if (extfs_read_inline (x, ino, inode, &buf, &len) == -1)
      return 0;                 /* a finding already says why */
    if (len >= 4) {
      out->parent = (uint8_t) buf[0] | (uint8_t) buf[1] << 8 | (uint8_t) buf[2] << 16
        | (uint32_t) (uint8_t) buf[3] << 24;
      /* The i_block part, then the part kept as an xattr. */
      size_t first = len < EXT4_MIN_INLINE_DATA_SIZE ? len : EXT4_MIN_INLINE_DATA_SIZE;
      struct dirent_cursor head = { x, ino, buf, 4, first, DIRENT_INLINE };
      struct dirent_cursor rest = { x, ino, buf, first, len, DIRENT_INLINE };
      r = parse_entries (&head, out);
      if (r == 0 && len > first)
        r = parse_entries (&rest, out);
    }
    free (buf);
    return r == -1 ? -1 : 0;
  }

  struct dir_walk w = { x, ino, out, malloc (x->bs), 0 };
  int r;
  if (!w.buf)
    return -1;
  r = extfs_map_inode (x, ino, inode, dir_run, &w);
  free (w.buf);
  return r == -1 ? -1 : 0;
}

int
extfs_read_inline (struct extfs *x, ext2_ino_t ino, struct ext2_inode_large *inode,
                   char **buf, size_t *len)
{
  size_t size = 0;
  errcode_t err;

  *buf = NULL;
  *len = 0;
  err = ext2fs_inline_data_size (x->fs, ino, &size);
  if (!err && size > EXT2_INODE_SIZE (x->fs->super) + (size_t) x->bs)
    err = EXT2_ET_INLINE_DATA_NO_SPACE;
  if (!err && !(*buf = malloc (size + 1)))
    return -1;
  if (!err)
    err = ext2fs_inline_data_get (x->fs, ino, (struct ext2_inode *) inode, *buf, &size);
  if (err) {
    findings_add (x->findings, "%s: inode %" PRIu32 " has unreadable inline data: %s",
                  x->label, ino, error_message (err));
    free (*buf);
    *buf = NULL;
    return -1;
  }
  *len = size;
  return 0;
}

struct first_block {
  uint64_t physical;
  bool found;
};

static int
first_data_block (void *opaque, enum map_kind kind, uint64_t logical,
                  uint64_t physical, uint64_t count, bool uninit)
{
  struct first_block *f = opaque;
  (void) count;

  if (kind == MAP_DATA && logical == 0 && !uninit) {
    f->physical = physical;
    f->found = true;
    return 1;
  }
  return 0;
}

ext2_ino_t
extfs_dir_parent (struct extfs *x, ext2_ino_t ino)
{
  struct ext2_inode_large inode;
  struct first_block f = { 0, false };
  ext2_ino_t parent = 0;
  char *buf;

  if (extfs_read_inode (x, ino, &inode) == -1 || !LINUX_S_ISDIR (inode.i_mode)
      || !extfs_inode_live (&inode))
    return 0;
  if (inode.i_flags & EXT4_INLINE_DATA_FL) {
    size_t len;
    if (extfs_read_inline (x, ino, &inode, &buf, &len) == -1)
      return 0;
    if (len >= 4)
      memcpy (&parent, buf, 4);             /* little-endian, as ext4 */
    free (buf);
    return parent <= x->fs->super->s_inodes_count ? parent : 0;
  }
  if (extfs_map_inode (x, ino, &inode, first_data_block, &f) == -1 || !f.found
      || !(buf = malloc (x->bs)))
    return 0;
  if (disk_pread (&x->disk, buf, x->bs, f.physical * x->bs) == 0) {
    /* "." first, then "..". */
    struct dirent_cursor c = { x, ino, buf, 0, x->bs, f.physical };
    const struct ext2_dir_entry *de;
    if (dirent_next (&c) && (de = dirent_next (&c)) && ext2fs_dirent_name_len (de) == 2
        && de->name[0] == '.' && de->name[1] == '.'
        && de->inode <= x->fs->super->s_inodes_count)
      parent = de->inode;
  }
  free (buf);
  return parent;
}

int64_t
extfs_read_symlink (struct extfs *x, ext2_ino_t ino, struct ext2_inode_large *inode,
                    char *buf)
{
  uint64_t size = EXT2_I_SIZE (inode);
  struct first_block f = { 0, false };

  if (size > x->bs) {
    findings_add (x->findings, "%s: symlink inode %" PRIu32 " claims a %" PRIu64
                  "-byte target; only the first %" PRIu32 " are read", x->label, ino,
                  size, x->bs);
    size = x->bs;
  }
  if (inode->i_flags & EXT4_INLINE_DATA_FL) {
    char *in;
    size_t len;
    /* Unreadable: a finding says so; the target reads as empty, as
     * extfs_file_open reads such a file, rather than fail the diff. */
    if (extfs_read_inline (x, ino, inode, &in, &len) == -1)
      return 0;
    size = ow_min64 (size, len);
    memcpy (buf, in, size);
    free (in);
    return size;
  }
  if (ext2fs_is_fast_symlink ((struct ext2_inode *) inode)) {
    size = ow_min64 (size, sizeof inode->i_block);
    memcpy (buf, inode->i_block, size);
    return size;
  }
  if (extfs_map_inode (x, ino, inode, first_data_block, &f) == -1)
    return -1;
  if (!f.found) {
    memset (buf, 0, size);      /* a hole reads as zeroes, here too */
    return size;
  }
  if (disk_pread (&x->disk, buf, x->bs, f.physical * x->bs) == -1)
    return -1;
  return size;
}

/* ---- a file's bytes ---------------------------------------------- */



static int
add_run (void *opaque, enum map_kind kind, uint64_t logical, uint64_t physical,
         uint64_t count, bool uninit)
{
  struct runs *rs = opaque;

  if (kind != MAP_DATA)
    return 0;
  if (ow_grow_array (&rs->r, &rs->cap, rs->n + 1, sizeof *rs->r) == -1)
    return -1;
  rs->r[rs->n++] = (struct run) { logical, physical, count, uninit };
  return 0;
}

static int
compare_runs (const void *a, const void *b)
{
  const struct run *x = a, *y = b;
  return x->logical < y->logical ? -1 : x->logical > y->logical;
}


struct segment
extfs_segment_at (const struct runs *rs, uint64_t l)
{
  size_t lo = 0, hi = rs->n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (rs->r[mid].logical <= l)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo > 0) {
    const struct run *r = &rs->r[lo - 1];
    if (l - r->logical < r->count)
      return (struct segment) { true, r->uninit, r->physical + (l - r->logical),
                                r->count - (l - r->logical) };
  }
  return (struct segment) { false, false, 0, lo < rs->n ? rs->r[lo].logical - l : UINT64_MAX };
}


int
extfs_file_open (struct extfs *x, uint32_t ino, struct ext2_inode_large *inode,
                struct extfs_file *f)
{
  memset (f, 0, sizeof *f);
  f->x = x;
  if (inode->i_flags & EXT4_INLINE_DATA_FL) {
    f->is_inline = true;
    if (extfs_read_inline (x, ino, inode, &f->inline_data, &f->inline_len) == -1)
      f->inline_len = 0;        /* unreadable: a finding says so; compare as empty */
    return 0;
  }
  if (extfs_map_inode (x, ino, inode, add_run, &f->runs) == -1)
    return -1;
  if (f->runs.n > 1)
    qsort (f->runs.r, f->runs.n, sizeof *f->runs.r, compare_runs);
  return 0;
}

void
extfs_file_close (struct extfs_file *f)
{
  free (f->runs.r);
  free (f->inline_data);
}

int
extfs_file_block (struct extfs_file *f, uint64_t l, char *buf)
{
  uint32_t bs = f->x->bs;

  memset (buf, 0, bs);
  if (f->is_inline) {
    if (l * bs < f->inline_len)
      memcpy (buf, f->inline_data + l * bs, ow_min64 (bs, f->inline_len - l * bs));
    return 0;
  }
  struct segment s = extfs_segment_at (&f->runs, l);
  if (!s.mapped || s.uninit)
    return 0;
  return disk_pread (&f->x->disk, buf, bs, s.physical * bs);
}

