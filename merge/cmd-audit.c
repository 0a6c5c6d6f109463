/* oneway-merge audit: every written block and what owns it.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "commands.h"
#include "json.h"
#include "oneway/escape.h"
#include "oneway/util.h"

/* A run of written blocks with one owner. */
struct arange {
  uint64_t start, count;
  struct owner o;
  uint32_t last_ino;            /* inode tables: the last inode in the run */
  const struct path *path;
};

struct audit {
  struct analysis *an;
  struct arange *r;
  size_t n, cap;
  uint64_t classes[OWNER_CLASSES];
  uint64_t written;
  uint32_t *inos;               /* for naming, sorted, unique */
  size_t ninos;
  struct path **paths;
  size_t *npaths;
};

static bool
has_path (const struct analysis *an, const struct owner *o)
{
  return (o->cls == OWNER_FILE_DATA || o->cls == OWNER_DIRECTORY || o->cls == OWNER_EXTENT_TREE
          || o->cls == OWNER_XATTR)
    && o->ino >= EXT2_FIRST_INODE (an->v[S1].fs->super);
}

static bool
continues (const struct arange *r, const struct owner *o)
{
  if (r->o.cls != o->cls)
    return false;
  if (o->cls == OWNER_INODE_TABLE)
    return o->ino == r->last_ino + 1;
  if (o->cls == OWNER_FILE_DATA || o->cls == OWNER_DIRECTORY)
    return o->ino == r->o.ino && o->file_block == r->o.file_block + r->count;
  return o->ino == r->o.ino;
}

static int
collect (struct audit *a)
{
  struct analysis *an = a->an;
  uint32_t ipb = an->v[S1].bs / EXT2_INODE_SIZE (an->v[S1].fs->super);

  for (size_t k = 0; k < an->written.n; k++) {
    const struct range *rg = &an->written.r[k];
    for (uint64_t i = 0; i < rg->count; i++) {
      const struct owner *o = &an->own[S1].o[rg->rank + i];
      struct arange *last = a->n ? &a->r[a->n - 1] : NULL;
      a->classes[o->cls]++;
      a->written++;
      if (last && last->start + last->count == rg->start + i && continues (last, o)) {
        last->count++;
        if (o->cls == OWNER_INODE_TABLE)
          last->last_ino += ipb;
        continue;
      }
      if (ow_grow_array (&a->r, &a->cap, a->n + 1, sizeof *a->r) == -1)
        return -1;
      a->r[a->n++] = (struct arange) { rg->start + i, 1, *o, o->ino + ipb - 1, NULL };
    }
  }
  /* Outside the filesystem: counted in filesystem blocks, rounded up. */
  for (size_t k = 0; k < an->outside.n; k++) {
    uint64_t n = (an->outside.r[k].count + an->v[S1].bs - 1) / an->v[S1].bs;
    a->classes[OWNER_OUTSIDE] += n;
    a->written += n;
  }
  return 0;
}

static int
compare_u32 (const void *x, const void *y)
{
  uint32_t a = *(const uint32_t *) x, b = *(const uint32_t *) y;
  return a < b ? -1 : a > b;
}

/* One name per owning inode (the least, by bytes), found together. */
static int
name_owners (struct audit *a)
{
  struct analysis *an = a->an;
  size_t n = 0;

  if (!(a->inos = malloc ((a->n ? a->n : 1) * sizeof *a->inos)))
    return -1;
  for (size_t i = 0; i < a->n; i++)
    if (has_path (an, &a->r[i].o))
      a->inos[n++] = a->r[i].o.ino;
  qsort (a->inos, n, sizeof *a->inos, compare_u32);
  for (size_t i = 0; i < n; i++)
    if (a->ninos == 0 || a->inos[a->ninos - 1] != a->inos[i])
      a->inos[a->ninos++] = a->inos[i];
  if (!(a->paths = calloc (a->ninos ? a->ninos : 1, sizeof *a->paths))
      || !(a->npaths = calloc (a->ninos ? a->ninos : 1, sizeof *a->npaths))
      || analysis_names (an, S1, a->inos, a->ninos, a->paths, a->npaths) == -1)
    return -1;
  for (size_t i = 0; i < a->ninos; i++)
    if (a->npaths[i] > 1)
      qsort (a->paths[i], a->npaths[i], sizeof **a->paths, path_compare_v);
  for (size_t i = 0; i < a->n; i++) {
    uint32_t *f;
    if (has_path (an, &a->r[i].o)
        && (f = bsearch (&a->r[i].o.ino, a->inos, a->ninos, sizeof *a->inos, compare_u32))
        && a->npaths[f - a->inos])
      a->r[i].path = &a->paths[f - a->inos][0];
  }
  return 0;
}

static void
audit_free (struct audit *a)
{
  for (size_t i = 0; i < a->ninos && a->paths; i++) {
    for (size_t k = 0; k < a->npaths[i]; k++)
      free (a->paths[i][k].s);
    free (a->paths[i]);
  }
  free (a->paths);
  free (a->npaths);
  free (a->inos);
  free (a->r);
}

static const enum owner_class shown[] = {
  OWNER_SUPERBLOCK, OWNER_GROUP_DESCRIPTORS, OWNER_BLOCK_BITMAP, OWNER_INODE_BITMAP,
  OWNER_INODE_TABLE, OWNER_JOURNAL, OWNER_DIRECTORY, OWNER_EXTENT_TREE, OWNER_XATTR,
  OWNER_FILE_DATA, OWNER_FREE, OWNER_UNATTRIBUTED, OWNER_OUTSIDE,
};
#define NSHOWN (sizeof shown / sizeof shown[0])

static void
print_json (struct audit *a)
{
  struct analysis *an = a->an;
  struct json j;

  json_init (&j, stdout);
  json_object_begin (&j);
  json_key (&j, "block_size"); json_u64 (&j, an->v[S1].bs);
  json_key (&j, "filesystem"); json_string (&j, an->probe.fstype);
  json_key (&j, "content"); json_string (&j, an->probe.what);
  json_key (&j, "partition"); json_u64 (&j, an->probe.partition);
  json_key (&j, "fs_offset"); json_u64 (&j, an->probe.offset);
  json_key (&j, "written_blocks"); json_u64 (&j, a->written);
  json_key (&j, "inode_scan"); json_bool (&j, an->scanned);
  json_key (&j, "classes");
  json_object_begin (&j);
  for (size_t i = 0; i < NSHOWN; i++) {
    json_key (&j, owner_class_name (shown[i]));
    json_u64 (&j, a->classes[shown[i]]);
  }
  json_object_end (&j);
  json_key (&j, "ranges");
  json_array_begin (&j);
  for (size_t i = 0; i < a->n; i++) {
    const struct arange *r = &a->r[i];
    json_object_begin (&j);
    json_key (&j, "start"); json_u64 (&j, r->start);
    json_key (&j, "count"); json_u64 (&j, r->count);
    json_key (&j, "class"); json_string (&j, owner_class_name (r->o.cls));
    if (r->o.cls == OWNER_INODE_TABLE) {
      json_key (&j, "inodes");
      json_array_begin (&j);
      json_u64 (&j, r->o.ino);
      json_u64 (&j, r->last_ino);
      json_array_end (&j);
    }
    else if (r->o.ino) {
      json_key (&j, "inode"); json_u64 (&j, r->o.ino);
      if (has_path (an, &r->o)) {
        json_key (&j, "path");
        if (r->path)
          json_bytes (&j, r->path->s, r->path->len ? r->path->len : 1);
        else
          json_null (&j);
      }
      if (r->o.cls == OWNER_FILE_DATA || r->o.cls == OWNER_DIRECTORY) {
        json_key (&j, "file_block"); json_u64 (&j, r->o.file_block);
      }
    }
    json_object_end (&j);
  }
  for (size_t k = 0; k < an->outside.n; k++) {
    json_object_begin (&j);
    json_key (&j, "class"); json_string (&j, "outside");
    json_key (&j, "disk_offset"); json_u64 (&j, an->outside.r[k].start);
    json_key (&j, "bytes"); json_u64 (&j, an->outside.r[k].count);
    json_object_end (&j);
  }
  json_array_end (&j);
  merge_findings_json (&j, an);
  json_object_end (&j);
  json_finish (&j);
}

static void
print_blocks (uint64_t start, uint64_t count)
{
  char buf[48];
  if (count == 1)
    snprintf (buf, sizeof buf, "%" PRIu64, start);
  else
    snprintf (buf, sizeof buf, "%" PRIu64 "-%" PRIu64, start, start + count - 1);
  printf ("  %-22s", buf);
}

static void
print_human (struct audit *a)
{
  struct analysis *an = a->an;

  printf ("content:  %s\n", an->probe.what);
  printf ("written:  %" PRIu64 " blocks of %" PRIu32 " bytes%s\n", a->written, an->v[S1].bs,
          an->scanned ? " (some needed a scan of every inode to attribute)" : "");
  for (size_t i = 0; i < NSHOWN; i++)
    if (a->classes[shown[i]])
      printf ("  %-18s %10" PRIu64 "\n", owner_class_name (shown[i]), a->classes[shown[i]]);
  if (a->classes[OWNER_UNATTRIBUTED])
    printf ("UNATTRIBUTED: %" PRIu64 " written blocks are marked in use, yet nothing in the "
            "filesystem owns them: data the SEE wrote where no file shows it\n",
            a->classes[OWNER_UNATTRIBUTED]);
  printf ("ranges:\n");
  for (size_t i = 0; i < a->n; i++) {
    const struct arange *r = &a->r[i];
    print_blocks (r->start, r->count);
    printf (" %-17s", owner_class_name (r->o.cls));
    if (r->o.cls == OWNER_INODE_TABLE)
      printf (" inodes %" PRIu32 "-%" PRIu32, r->o.ino, r->last_ino);
    else if (r->o.ino) {
      printf (" inode %" PRIu32, r->o.ino);
      if (r->path) {
        char *e = ow_escape (r->path->len ? r->path->s : "/", r->path->len ? r->path->len : 1);
        printf (" %s", e ? e : "?");
        free (e);
      }
      if (r->o.cls == OWNER_FILE_DATA || r->o.cls == OWNER_DIRECTORY)
        printf (r->count == 1 ? " (block %" PRIu64 ")" : " (blocks %" PRIu64 "-%" PRIu64 ")",
                r->o.file_block, r->o.file_block + r->count - 1);
    }
    printf ("\n");
  }
  for (size_t k = 0; k < an->outside.n; k++)
    printf ("  outside the filesystem: %" PRIu64 " bytes at disk offset %" PRIu64 "\n",
            an->outside.r[k].count, an->outside.r[k].start);
}

/* Content we do not read: the written blocks, owned by "unknown". */
struct unknown {
  struct json *j;
  uint64_t total;
};

static int
unknown_range (void *opaque, uint64_t first, uint64_t count)
{
  struct unknown *u = opaque;

  u->total += count;
  if (u->j) {
    json_object_begin (u->j);
    json_key (u->j, "start"); json_u64 (u->j, first);
    json_key (u->j, "count"); json_u64 (u->j, count);
    json_key (u->j, "class"); json_string (u->j, "unknown");
    json_object_end (u->j);
  }
  else {
    print_blocks (first, count);
    printf (" unknown\n");
  }
  return 0;
}

static int
audit_unknown (const struct merge_opts *o, struct ow_overlay *ov, const struct analysis *an)
{
  struct json j;
  struct unknown u = { o->json ? &j : NULL, 0 };
  int r;

  fprintf (stderr, "oneway-merge: the SEE view holds %s: not understood at the filesystem "
           "level, so only the written blocks are shown\n", an->probe.what);
  if (!o->json) {
    printf ("content:  %s (not understood at the filesystem level)\n", an->probe.what);
    printf ("written blocks (of %" PRIu32 " bytes):\n", ow_block_size (ov));
    return ow_written_ranges (ov, unknown_range, &u);
  }
  json_init (&j, stdout);
  json_object_begin (&j);
  json_key (&j, "block_size"); json_u64 (&j, ow_block_size (ov));
  json_key (&j, "filesystem"); json_null (&j);
  json_key (&j, "content"); json_string (&j, an->probe.what);
  json_key (&j, "ranges");
  json_array_begin (&j);
  r = ow_written_ranges (ov, unknown_range, &u);
  json_array_end (&j);
  json_key (&j, "written_blocks"); json_u64 (&j, u.total);
  json_key (&j, "classes");
  json_object_begin (&j);
  json_key (&j, "unknown"); json_u64 (&j, u.total);
  json_object_end (&j);
  json_object_end (&j);
  json_finish (&j);
  return r;
}

int
cmd_audit (const struct merge_opts *o)
{
  struct ow_overlay *ov;
  struct analysis an;
  struct audit a = { .an = &an };
  int r = merge_open_views (o, &ov, &an);

  if (r == -1)
    return EXIT_ERROR;
  if (r == 1)
    r = audit_unknown (o, ov, &an);
  else if ((r = analysis_attribute (&an)) == 0 && (r = collect (&a)) == 0
           && (r = name_owners (&a)) == 0) {
    if (o->json)
      print_json (&a);
    else
      print_human (&a);
    merge_print_findings (&an);
  }
  audit_free (&a);
  analysis_close (&an);
  ow_close (ov);
  if (r) {
    fprintf (stderr, "oneway-merge: audit failed (see above)\n");
    return EXIT_ERROR;
  }
  return EXIT_YES;
}
