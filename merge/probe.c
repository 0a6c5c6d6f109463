/* oneway-merge: what a disk holds.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * Only ext2/3/4 is understood at the filesystem level; for anything
 * else the point is to name it, so that "not understood" says what
 * was there.  Everything read here may be crafted by the SEE: each
 * count and offset is checked against the disk before use.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <ext2fs/ext2fs.h>

#include "oneway/error.h"
#include "probe.h"

#define SECTOR 512
#define MAX_PARTITIONS 128      /* GPT's usual size; also bounds EBR chains */

static uint32_t
le32 (const uint8_t *p)
{
  return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t) p[3] << 24;
}

static uint64_t
le64 (const uint8_t *p)
{
  return le32 (p) | (uint64_t) le32 (p + 4) << 32;
}

/* Read count bytes at offset, or report "not there" (0) for a range
 * past the end: a small disk simply has no signature there. */
static int
read_at (const struct disk *d, uint64_t offset, void *buf, size_t count)
{
  if (offset > d->size || count > d->size - offset)
    return 0;
  return disk_pread (d, buf, count, offset) == -1 ? -1 : 1;
}

/* The ext superblock at 1024; which of ext2/3/4 by its features, the
 * way blkid names them. */
static int
probe_ext (const struct disk *d, uint64_t offset, uint64_t size, char *fstype)
{
  struct ext2_super_block sb;
  struct disk w;
  int r;

  disk_window (d, offset, size, &w);
  if ((r = read_at (&w, 1024, &sb, sizeof sb)) <= 0)
    return r;
  if (sb.s_magic != EXT2_SUPER_MAGIC)
    return 0;
  if ((sb.s_feature_incompat & ~(uint32_t) (EXT3_FEATURE_INCOMPAT_RECOVER
                                            | EXT2_FEATURE_INCOMPAT_FILETYPE
                                            | EXT2_FEATURE_INCOMPAT_META_BG))
      || (sb.s_feature_ro_compat & ~(uint32_t) (EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER
                                                | EXT2_FEATURE_RO_COMPAT_LARGE_FILE)))
    strcpy (fstype, "ext4");
  else if (sb.s_feature_compat & EXT3_FEATURE_COMPAT_HAS_JOURNAL)
    strcpy (fstype, "ext3");
  else
    strcpy (fstype, "ext2");
  return 1;
}

struct signature {
  const char *name;
  uint64_t offset;
  const char *magic;
  size_t len;
};

static const struct signature signatures[] = {
  { "xfs", 0, "XFSB", 4 },
  { "btrfs", 65536 + 64, "_BHRfS_M", 8 },
  { "LUKS", 0, "LUKS\xba\xbe", 6 },
  { "LVM2 physical volume", 536, "LVM2 001", 8 },
  { "squashfs", 0, "hsqs", 4 },
  { "f2fs", 1024, "\x10\x20\xf5\xf2", 4 },
  { "swap", 4086, "SWAPSPACE2", 10 },
  { "iso9660", 32769, "CD001", 5 },
  { "ntfs", 3, "NTFS    ", 8 },
  { "exfat", 3, "EXFAT   ", 8 },
  { "vfat", 82, "FAT32   ", 8 },
  { "vfat", 54, "FAT16   ", 8 },
  { "vfat", 54, "FAT12   ", 8 },
};

/* Name a filesystem other than ext, into fstype; 0 if none is known. */
static int
probe_other (const struct disk *d, uint64_t offset, uint64_t size, char *fstype)
{
  struct disk w;

  disk_window (d, offset, size, &w);
  for (size_t i = 0; i < sizeof signatures / sizeof signatures[0]; i++) {
    const struct signature *s = &signatures[i];
    char buf[16];
    int r = read_at (&w, s->offset, buf, s->len);
    if (r == -1)
      return -1;
    if (r && memcmp (buf, s->magic, s->len) == 0) {
      snprintf (fstype, 16, "%s", s->name);
      return 1;
    }
  }
  return 0;
}

struct partition {
  int number;
  uint64_t offset, size;
  char fstype[16];
  bool ext;
};

struct table {
  const char *kind;             /* "MBR", "GPT" */
  struct partition parts[MAX_PARTITIONS];
  int n;
};

static void
add_partition (const struct disk *d, struct table *t, int number,
               uint64_t first_sector, uint64_t sectors)
{
  struct partition *p;

  if (t->n == MAX_PARTITIONS || sectors == 0
      || first_sector > d->size / SECTOR || sectors > d->size / SECTOR - first_sector)
    return;                     /* empty, or not on this disk: nothing to map */
  p = &t->parts[t->n++];
  p->number = number;
  p->offset = first_sector * SECTOR;
  p->size = sectors * SECTOR;
}

static int
read_gpt (const struct disk *d, struct table *t)
{
  uint8_t h[SECTOR], e[4096];
  uint64_t entries_lba;
  uint32_t count, esize;
  int r;

  if ((r = read_at (d, SECTOR, h, sizeof h)) <= 0 || memcmp (h, "EFI PART", 8) != 0)
    return r == -1 ? -1 : 0;
  entries_lba = le64 (h + 72);
  count = le32 (h + 80);
  esize = le32 (h + 84);
  if (esize < 128 || esize > sizeof e || (esize & (esize - 1)) || count > 4 * MAX_PARTITIONS)
    return 0;                   /* not a header we can trust: no table */
  t->kind = "GPT";
  for (uint32_t i = 0; i < count && t->n < MAX_PARTITIONS; i++) {
    static const uint8_t unused[16];
    if (entries_lba > d->size / SECTOR)
      break;
    if ((r = read_at (d, entries_lba * SECTOR + (uint64_t) i * esize, e, esize)) <= 0) {
      if (r == -1)
        return -1;
      break;
    }
    uint64_t first = le64 (e + 32), last = le64 (e + 40);
    if (memcmp (e, unused, 16) != 0 && last >= first)
      add_partition (d, t, i + 1, first, last - first + 1);
  }
  return 1;
}

static bool
is_extended (uint8_t type)
{
  return type == 0x05 || type == 0x0f || type == 0x85;
}

static int
read_mbr (const struct disk *d, struct table *t)
{
  uint8_t s[SECTOR];
  uint64_t ext_base = 0;
  int r, used = 0;

  if ((r = read_at (d, 0, s, sizeof s)) <= 0)
    return r;
  if (s[510] != 0x55 || s[511] != 0xaa)
    return 0;
  for (int i = 0; i < 4; i++) {
    const uint8_t *pe = s + 446 + 16 * i;
    if (pe[0] != 0 && pe[0] != 0x80)
      return 0;                 /* a boot sector of some other kind */
    used += pe[4] != 0;
  }
  if (used == 0)
    return 0;
  t->kind = "MBR";
  for (int i = 0; i < 4; i++) {
    const uint8_t *pe = s + 446 + 16 * i;
    if (is_extended (pe[4]) && !ext_base)
      ext_base = le32 (pe + 8);
    else if (pe[4])
      add_partition (d, t, i + 1, le32 (pe + 8), le32 (pe + 12));
  }
  /* Logical partitions: a chain of EBRs, each relative to the extended
   * partition.  A crafted chain may loop: it is cut at MAX_PARTITIONS. */
  uint64_t ebr = ext_base;
  for (int n = 5; ebr && n < 5 + MAX_PARTITIONS; n++) {
    if ((r = read_at (d, ebr * SECTOR, s, sizeof s)) <= 0 || s[510] != 0x55 || s[511] != 0xaa)
      return r == -1 ? -1 : 1;
    add_partition (d, t, n, ebr + le32 (s + 446 + 8), le32 (s + 446 + 12));
    uint32_t next = le32 (s + 446 + 16 + 8);
    ebr = is_extended (s[446 + 16 + 4]) && next ? ext_base + next : 0;
  }
  return 1;
}

static void
describe_table (const struct table *t, char *buf, size_t len)
{
  int n = snprintf (buf, len, "%s partition table with %d partition%s", t->kind,
                    t->n, t->n == 1 ? "" : "s");
  for (int i = 0; i < t->n && n > 0 && (size_t) n < len; i++)
    n += snprintf (buf + n, len - n, "%s%d: %s", i ? ", " : " (", t->parts[i].number,
                   t->parts[i].fstype[0] ? t->parts[i].fstype : "unknown");
  if (t->n && n > 0 && (size_t) n < len)
    snprintf (buf + n, len - n, ")");
}

int
probe_disk (const struct disk *d, int partition, struct probe *p)
{
  static struct table t;        /* 128 entries: too big for the stack */
  int r, found = -1, ext_count = 0;

  memset (p, 0, sizeof *p);
  p->size = d->size;
  if (partition == 0) {
    if ((r = probe_ext (d, 0, d->size, p->fstype)) == -1)
      return -1;
    if (r) {
      p->ext = true;
      snprintf (p->what, sizeof p->what, "%s filesystem on the whole disk", p->fstype);
      return 0;
    }
  }

  memset (&t, 0, sizeof t);
  if ((r = read_gpt (d, &t)) == 0)
    r = read_mbr (d, &t);
  if (r == -1)
    return -1;
  if (r == 0) {
    if (partition) {
      errno = EINVAL;
      ow_error ("%s has no partition table, so there is no partition %d", d->label, partition);
      return -1;
    }
    if ((r = probe_other (d, 0, d->size, p->fstype)) == -1)
      return -1;
    snprintf (p->what, sizeof p->what, r ? "%s (not ext2/3/4)"
              : "no filesystem or partition table that oneway-merge knows", p->fstype);
    return 0;
  }

  for (int i = 0; i < t.n; i++) {
    struct partition *q = &t.parts[i];
    if ((r = probe_ext (d, q->offset, q->size, q->fstype)) == -1
        || (!r && probe_other (d, q->offset, q->size, q->fstype) == -1))
      return -1;
    q->ext = r == 1;
    ext_count += q->ext;
    if ((partition && q->number == partition) || (!partition && q->ext))
      found = i;
  }
  describe_table (&t, p->what, sizeof p->what);
  if (partition && found == -1) {
    errno = EINVAL;
    ow_error ("%s has no partition %d: %s", d->label, partition, p->what);
    return -1;
  }
  if (!partition && ext_count > 1) {
    errno = EINVAL;
    ow_error ("%s has %d ext partitions (%s): choose one with --partition N",
              d->label, ext_count, p->what);
    return -1;
  }
  if (found >= 0) {
    struct partition *q = &t.parts[found];
    size_t n = strlen (p->what);
    p->ext = q->ext;
    p->partition = q->number;
    p->offset = q->offset;
    p->size = q->size;
    snprintf (p->fstype, sizeof p->fstype, "%s", q->fstype);
    snprintf (p->what + n, sizeof p->what - n, "; using partition %d (%s, at byte %" PRIu64 ")",
              q->number, q->fstype[0] ? q->fstype : "unknown", q->offset);
  }
  return 0;
}
