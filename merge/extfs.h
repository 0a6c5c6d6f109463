/* oneway-merge: an ext2/3/4 filesystem in one view, read defensively.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * libext2fs does the parsing; this file adds what reading a hostile
 * filesystem needs on top: bounds on every walk (extent trees,
 * directories), checks of every block number against the filesystem,
 * and findings instead of failures where the structure is crafted.
 */
#ifndef ONEWAY_MERGE_EXTFS_H
#define ONEWAY_MERGE_EXTFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ext2fs/ext2fs.h>

#include "disk.h"
#include "findings.h"
#include "probe.h"

struct extfs {
  struct disk disk;             /* the filesystem's window of its view */
  const char *label;            /* "base view", "SEE view" */
  ext2_filsys fs;
  uint32_t bs;                  /* filesystem block size */
  uint64_t blocks;              /* blocks count */
  uint8_t **bitmaps;            /* block bitmap per group, read on demand */
  struct findings *findings;
  /* Extent and block-map entries still allowed to be visited: a few
   * times the filesystem's size, so that crafted trees that share
   * subtrees cannot multiply the work without bound. */
  uint64_t walk_budget;
  bool budget_spent;
  /* The same for the one inode being mapped: no honest tree has more
   * entries than the filesystem has blocks.  Without it, one crafted
   * file would spend the whole budget, and every walk after it
   * (directories too) would find nothing. */
  uint64_t inode_budget;
  /* Directory blocks still allowed to be read, over all listings: one
   * extent can name 32768 blocks, so the walk budget alone lets
   * crafted directories that share their blocks make every listing
   * DIR_MAX_BLOCKS long. */
  uint64_t dir_budget;
  bool dir_budget_spent;
};

/* Open the ext filesystem that p found on d.  Refuses (-1, with a
 * message) what cannot be read at all: a superblock whose block count
 * runs past the end of the disk, a block size outside 1 KiB..64 KiB,
 * or whatever libext2fs rejects. */
int extfs_open (struct extfs *x, const struct disk *d, const struct probe *p,
                bool writable, struct findings *findings);
void extfs_close (struct extfs *x);

/* The journal holds transactions not yet written to their places. */
bool extfs_needs_recovery (const struct extfs *x);

/* A whole inode, the part past the on-disk inode size zeroed.  -1 if
 * ino is out of range or its table cannot be read (a finding). */
int extfs_read_inode (struct extfs *x, ext2_ino_t ino, struct ext2_inode_large *inode);

/* In use: it has a mode, links and no deletion time.  An orphan (open
 * but unlinked when the filesystem stopped) is not in use. */
bool extfs_inode_live (const struct ext2_inode_large *inode);

/* Whether the inode holds the large inode's fields up to field_end
 * (an offset in struct ext2_inode_large). */
bool extfs_has_extra (const struct extfs *x, const struct ext2_inode_large *i,
                      size_t field_end);

/* Owner and group, all 32 bits. */
uint32_t extfs_uid (const struct ext2_inode_large *i);
uint32_t extfs_gid (const struct ext2_inode_large *i);

/* The modification time: seconds (with the extra epoch bits), and
 * nanoseconds if the inode keeps them (else *nsec is -1). */
void extfs_mtime (const struct extfs *x, const struct ext2_inode_large *i, int64_t *sec,
                  int64_t *nsec);

/* A device node's major and minor numbers, in either encoding. */
void extfs_rdev (const struct ext2_inode_large *i, uint32_t *major, uint32_t *minor);

/* "file", "dir", "symlink", "char", "block", "fifo", "socket", "unknown" */
const char *extfs_type_name (uint16_t mode);

/* The blocks an inode uses, as runs, in logical order for data.  Tree
 * blocks are extent index and leaf blocks, or indirect blocks; the
 * xattr block is reported once.  Runs are clipped to the filesystem
 * and the walk is bounded by its size: a crafted tree gives a finding
 * and a partial map, never a hang.  Returns 0, or nonzero as fn did. */
enum map_kind { MAP_DATA, MAP_TREE, MAP_XATTR };
typedef int (*map_fn) (void *opaque, enum map_kind kind, uint64_t logical,
                       uint64_t physical, uint64_t count, bool uninit);
int extfs_map_inode (struct extfs *x, ext2_ino_t ino, struct ext2_inode_large *inode,
                     map_fn fn, void *opaque);

/* Hints that blocks will be read soon (see disk_prefetch), gathered
 * in a batch and given merged and in order: one hint per run, not one
 * per block. */
struct prefetch {
  struct extfs *x;
  struct prefetch_run { uint64_t start, count; } *r;
  size_t n, cap;
};
void prefetch_init (struct prefetch *p, struct extfs *x);
void prefetch_blocks (struct prefetch *p, uint64_t block, uint64_t count);
/* The inode-table block that holds ino. */
void prefetch_inode (struct prefetch *p, ext2_ino_t ino);
/* An inode's data blocks (its extent tree is read to find them). */
void prefetch_data (struct prefetch *p, ext2_ino_t ino, struct ext2_inode_large *inode);
/* Give the hints and empty the batch. */
void prefetch_issue (struct prefetch *p);
void prefetch_free (struct prefetch *p);

/* Whether block is marked in use in its group's bitmap; -1 on error. */
int extfs_block_marked (struct extfs *x, uint64_t block);

/* A directory's entries.  Names are bytes (not terminated); "." and
 * ".." are left out, the parent is returned apart.  Entries whose
 * names cannot be part of a path ('/' or NUL inside, empty) are left
 * out with a finding; an entry that breaks ext4's rules for rec_len
 * ends the listing of its block (or inline data) with a finding.  Bounded by DIR_MAX_BLOCKS and DIR_MAX_ENTRIES,
 * and all listings together by the directory budget (16 times the
 * filesystem's size). */
#define DIR_MAX_BLOCKS (1u << 16)
#define DIR_MAX_ENTRIES (1u << 22)
struct dirent_rec {
  uint32_t ino;
  uint8_t file_type;
  uint8_t name_len;
  uint32_t name_off;            /* into dirents.names */
};
struct dirents {
  struct dirent_rec *e;
  size_t n, cap;
  char *names;
  size_t names_len, names_cap;
  uint32_t parent;              /* from "..", 0 if there is none */
};
#define DIRENT_NAME(d, r) ((d)->names + (r)->name_off)
int extfs_read_dir (struct extfs *x, ext2_ino_t ino, struct ext2_inode_large *inode,
                    struct dirents *out);
void dirents_free (struct dirents *d);
/* Append an entry (for listings made elsewhere: the host's); -1 on
 * out of memory. */
int dirents_add (struct dirents *d, uint32_t ino, uint8_t type, const char *name, uint8_t len);
/* Sort by name (bytes), for comparing two listings. */
void dirents_sort (struct dirents *d);

/* A directory's parent, from its ".." entry alone (the second entry
 * of its first block, checked as a listing checks it, or the head of
 * its inline data): 0 if there is none to be found.  Cheaper than a
 * listing, for climbing. */
ext2_ino_t extfs_dir_parent (struct extfs *x, ext2_ino_t ino);

/* A symlink's target, into buf of at least x->bs + 1 bytes; its length
 * or -1. */
int64_t extfs_read_symlink (struct extfs *x, ext2_ino_t ino,
                            struct ext2_inode_large *inode, char *buf);

/* Inline data (a small file or directory kept in the inode); malloc'ed
 * into *buf, length in *len. */
int extfs_read_inline (struct extfs *x, ext2_ino_t ino, struct ext2_inode_large *inode,
                       char **buf, size_t *len);

/* A file's bytes, by logical block: its runs (sorted, from its
 * extent tree or block map) or its inline data.  Holes and unwritten
 * extents read as zeroes. */
struct run {
  uint64_t logical, physical, count;
  bool uninit;
};

struct runs {
  struct run *r;
  size_t n, cap;
};

struct extfs_file {
  struct extfs *x;
  struct runs runs;
  char *inline_data;
  size_t inline_len;
  bool is_inline;
};

int extfs_file_open (struct extfs *x, ext2_ino_t ino, struct ext2_inode_large *inode,
                     struct extfs_file *f);
void extfs_file_close (struct extfs_file *f);
/* Logical block l into buf (x->bs bytes). */
int extfs_file_block (struct extfs_file *f, uint64_t l, char *buf);

/* What the runs hold at logical block l: mapped (or not: a hole), and
 * for how many blocks that stays so. */
struct segment {
  bool mapped, uninit;
  uint64_t physical, len;
};
struct segment extfs_segment_at (const struct runs *rs, uint64_t l);

#endif
