/* oneway-merge: the filesystem-level change list.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * Cost: directories are listed only if they changed (O(their size)),
 * files are compared only if they changed, and within a file only the
 * blocks whose mapping moved or that were written are read.  Names of
 * objects changed in place come from one walk of the directories.
 */
#include <config.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "changes.h"
#include "oneway/error.h"
#include "oneway/escape.h"
#include "oneway/util.h"
#include "xattrs.h"

const char *const aspect_names[ASPECTS] = {
  "type", "content", "size", "mode", "owner", "mtime", "xattrs", "target", "links",
};

const char *const change_kind_names[CHANGE_KINDS] = {
  "added", "modified", "deleted", "renamed",
};

/* ---- comparing two inodes ------------------------------------------ */

/* What a file holds at logical block l, as extfs_segment_at says;
 * inline data is "mapped" over its own length and a hole after it. */
static struct segment
file_segment (const struct extfs_file *f, uint64_t l, uint32_t bs)
{
  uint64_t inline_blocks = f->inline_len / bs + (f->inline_len % bs != 0);

  if (!f->is_inline)
    return extfs_segment_at (&f->runs, l);
  if (l < inline_blocks)
    return (struct segment) { .mapped = true, .len = inline_blocks - l };
  return (struct segment) { .len = UINT64_MAX };
}

/* 1 if the bytes of two regular files differ, 0 if not, -1 on error. */
static int
content_differs (struct analysis *an, uint32_t ino0, struct ext2_inode_large *a,
                 uint32_t ino1, struct ext2_inode_large *b)
{
  uint64_t size = EXT2_I_SIZE (a);
  uint32_t bs = an->v[S1].bs;
  struct extfs_file f0, f1;
  char *b0 = NULL, *b1 = NULL;
  int r = 0;

  if (size != EXT2_I_SIZE (b))
    return 1;
  if (size == 0)
    return 0;
  if (extfs_file_open (&an->v[S0], ino0, a, &f0) == -1)
    return -1;
  if (extfs_file_open (&an->v[S1], ino1, b, &f1) == -1) {
    extfs_file_close (&f0);
    return -1;
  }
  if (!(b0 = malloc (bs)) || !(b1 = malloc (bs)))
    r = -1;

  uint64_t nblocks = size / bs + (size % bs != 0);
  for (uint64_t l = 0; l < nblocks && r == 0;) {
    struct segment s0 = file_segment (&f0, l, bs), s1 = file_segment (&f1, l, bs);
    uint64_t len = ow_min64 (ow_min64 (s0.len, s1.len), nblocks - l);
    bool zero0 = !s0.mapped || s0.uninit, zero1 = !s1.mapped || s1.uninit;

    /* Equal without reading: both read as zeroes, or both are the
     * same blocks and the SEE wrote none of them.  So a huge sparse
     * file costs its mapped blocks, not its size. */
    if ((zero0 && zero1)
        || (!f0.is_inline && !f1.is_inline && !zero0 && !zero1
            && s0.physical == s1.physical
            && !rangeset_intersects (&an->written, s1.physical, len))) {
      l += len;
      continue;
    }
    for (uint64_t i = 0; i < len && r == 0; i++, l++) {
      uint64_t n = l == nblocks - 1 && size % bs ? size % bs : bs;
      if (extfs_file_block (&f0, l, b0) == -1 || extfs_file_block (&f1, l, b1) == -1)
        r = -1;
      else if (memcmp (b0, b1, n) != 0)
        r = 1;
    }
  }
  free (b0);
  free (b1);
  extfs_file_close (&f0);
  extfs_file_close (&f1);
  return r;
}

static int
xattrs_differ (struct analysis *an, uint32_t ino0, uint32_t ino1)
{
  struct xattrs x0 = { 0 }, x1 = { 0 };
  int r;

  if (extfs_read_xattrs (&an->v[S0], ino0, &x0) == -1
      || extfs_read_xattrs (&an->v[S1], ino1, &x1) == -1)
    r = -1;
  else
    r = !xattrs_equal (&x0, &x1);
  xattrs_free (&x0);
  xattrs_free (&x1);
  return r;
}

static int
targets_differ (struct analysis *an, uint32_t ino0, struct ext2_inode_large *a,
                uint32_t ino1, struct ext2_inode_large *b)
{
  char *t0 = malloc (an->v[S0].bs + 1), *t1 = malloc (an->v[S1].bs + 1);
  int64_t n0, n1;
  int r = -1;

  /* A target that cannot be read (a finding says why) counts as
   * changed: the review must not take it for the old one. */
  if (t0 && t1) {
    n0 = extfs_read_symlink (&an->v[S0], ino0, a, t0);
    n1 = extfs_read_symlink (&an->v[S1], ino1, b, t1);
    r = n0 < 0 || n1 < 0 || n0 != n1 || memcmp (t0, t1, n0) != 0;
  }
  free (t0);
  free (t1);
  return r;
}

/* The aspects in which base inode a and SEE inode b differ; -1 on an
 * I/O error. */
static int
aspects_of (struct analysis *an, uint32_t ino0, struct ext2_inode_large *a,
            uint32_t ino1, struct ext2_inode_large *b, bool entries_changed)
{
  unsigned w = 0;
  int r = 0;
  bool dir = LINUX_S_ISDIR (b->i_mode);
  size_t mtime_end = offsetof (struct ext2_inode_large, i_mtime_extra) + sizeof b->i_mtime_extra;

  if ((a->i_mode & LINUX_S_IFMT) != (b->i_mode & LINUX_S_IFMT))
    w |= 1u << ASPECT_TYPE;
  else if (LINUX_S_ISREG (b->i_mode)) {
    if ((r = content_differs (an, ino0, a, ino1, b)) == 1)
      w |= 1u << ASPECT_CONTENT;
    if (EXT2_I_SIZE (a) != EXT2_I_SIZE (b))
      w |= 1u << ASPECT_SIZE;
  }
  else if (LINUX_S_ISCHR (b->i_mode) || LINUX_S_ISBLK (b->i_mode)) {
    if (a->i_block[0] != b->i_block[0] || a->i_block[1] != b->i_block[1])
      w |= 1u << ASPECT_CONTENT;
  }
  else if (LINUX_S_ISLNK (b->i_mode) && (r = targets_differ (an, ino0, a, ino1, b)) == 1)
    w |= 1u << ASPECT_TARGET;
  if (r == -1)
    return -1;
  if ((a->i_mode & 07777) != (b->i_mode & 07777))
    w |= 1u << ASPECT_MODE;
  if (extfs_uid (a) != extfs_uid (b) || extfs_gid (a) != extfs_gid (b))
    w |= 1u << ASPECT_OWNER;
  if ((a->i_mtime != b->i_mtime
       || (extfs_has_extra (&an->v[S0], a, mtime_end) && extfs_has_extra (&an->v[S1], b, mtime_end)
           && a->i_mtime_extra != b->i_mtime_extra))
      && !(dir && LINUX_S_ISDIR (a->i_mode) && entries_changed))
    w |= 1u << ASPECT_MTIME;
  if ((r = xattrs_differ (an, ino0, ino1)) == -1)
    return -1;
  if (r)
    w |= 1u << ASPECT_XATTRS;
  if (!dir && !LINUX_S_ISDIR (a->i_mode) && a->i_links_count != b->i_links_count)
    w |= 1u << ASPECT_LINKS;
  return w;
}

/* ---- directory entries ------------------------------------------- */

/* An entry that differs between the views: removed (in the base view)
 * or added (in the SEE view). */
struct echange {
  uint32_t dir, ino;
  int view;
  char *name;
  size_t len;
};

struct echanges {
  struct echange *e;
  size_t n, cap;
};

static int
push_echange (struct echanges *es, uint32_t dir, int view, const struct dirents *d,
              const struct dirent_rec *r)
{
  if (ow_grow_array (&es->e, &es->cap, es->n + 1, sizeof *es->e) == -1)
    return -1;
  struct echange *e = &es->e[es->n];
  if (!(e->name = malloc (r->name_len ? r->name_len : 1)))
    return -1;
  memcpy (e->name, DIRENT_NAME (d, r), r->name_len);
  e->len = r->name_len;
  e->dir = dir;
  e->ino = r->ino;
  e->view = view;
  es->n++;
  return 0;
}

static void
echanges_free (struct echanges *es)
{
  for (size_t i = 0; i < es->n; i++)
    free (es->e[i].name);
  free (es->e);
}

/* Inodes whose bytes did not change are the same object in both
 * views; so are changed ones with the same generation. */
static bool
same_object_at (struct analysis *an, uint32_t ino)
{
  int64_t i = inomap_get (&an->objmap, ino);
  return i < 0 || !an->obj[i].candidate || object_same (&an->obj[i]);
}

static int
name_cmp (const struct dirents *a, const struct dirent_rec *x,
          const struct dirents *b, const struct dirent_rec *y)
{
  int c = memcmp (DIRENT_NAME (a, x), DIRENT_NAME (b, y),
                  x->name_len < y->name_len ? x->name_len : y->name_len);
  return c ? c : (int) x->name_len - (int) y->name_len;
}

/* The entries of one changed directory, compared as sets of names. */
static int
diff_directory (struct analysis *an, size_t idx, struct echanges *es)
{
  struct object *o = &an->obj[idx];
  struct dirents d[2];
  bool same = object_same (o);
  size_t before = es->n;
  int r = 0;

  memset (d, 0, sizeof d);
  for (int v = S0; v <= S1 && r == 0; v++)
    if (o->live[v] && LINUX_S_ISDIR (o->in[v].i_mode)) {
      r = extfs_read_dir (&an->v[v], o->ino, &o->in[v], &d[v]);
      dirents_sort (&d[v]);
    }
  size_t i = 0, j = 0;
  while (r == 0 && (i < d[S0].n || j < d[S1].n)) {
    const struct dirent_rec *e0 = i < d[S0].n ? &d[S0].e[i] : NULL;
    const struct dirent_rec *e1 = j < d[S1].n ? &d[S1].e[j] : NULL;
    int c = !same ? (e0 ? -1 : 1) : !e0 ? 1 : !e1 ? -1 : name_cmp (&d[S0], e0, &d[S1], e1);
    if (c < 0) {
      r = push_echange (es, o->ino, S0, &d[S0], e0);
      i++;
    }
    else if (c > 0) {
      r = push_echange (es, o->ino, S1, &d[S1], e1);
      j++;
    }
    else {
      if (e0->ino != e1->ino || !same_object_at (an, e0->ino)) {
        r = push_echange (es, o->ino, S0, &d[S0], e0);
        if (r == 0)
          r = push_echange (es, o->ino, S1, &d[S1], e1);
      }
      i++;
      j++;
    }
  }
  an->obj[idx].entries_changed = es->n > before;
  dirents_free (&d[S0]);
  dirents_free (&d[S1]);
  return r;
}

static int
compare_echange (const void *a, const void *b)
{
  const struct echange *x = a, *y = b;
  if (x->ino != y->ino)
    return x->ino < y->ino ? -1 : 1;
  return x->view - y->view;
}

/* ---- the change list --------------------------------------------- */

static int
path_copy (const struct path *p, struct path *out)
{
  /* The root is the empty prefix of its children; alone it is "/". */
  size_t len = p->len ? p->len : 1;
  if (!(out->s = malloc (len)))
    return -1;
  memcpy (out->s, p->len ? p->s : "/", len);
  out->len = len;
  return 0;
}

static struct change *
new_change (struct changes *cs, enum change_kind kind, const char *type,
            uint32_t ino0, uint32_t ino1)
{
  if (ow_grow_array (&cs->c, &cs->cap, cs->n + 1, sizeof *cs->c) == -1)
    return NULL;
  struct change *c = &cs->c[cs->n++];
  memset (c, 0, sizeof *c);
  c->kind = kind;
  c->type = type;
  c->ino[S0] = ino0;
  c->ino[S1] = ino1;
  return c;
}

void
change_free (struct change *c)
{
  free (c->path.s);
  free (c->from.s);
  free (c->link_of.s);
}

void
changes_free (struct changes *cs)
{
  for (size_t i = 0; i < cs->n; i++)
    change_free (&cs->c[i]);
  free (cs->c);
  memset (cs, 0, sizeof *cs);
}

/* Per object: its entry changes and what else the walk must find. */
struct plan {
  size_t obj;
  struct echange *e;            /* its run in the sorted entry changes, or NULL */
  size_t nr, na;                /* removed (first), then added */
  int what;
  bool walk[2];                 /* names from the walk of view v */
  struct path *names[2];
  size_t nnames[2];
};

static void
paths_free (struct path *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (p[i].s);
  free (p);
}

/* The full paths of a run of entry changes, in view v, sorted. */
static int
entry_paths (struct analysis *an, int v, struct echange *e, size_t n, struct path **out)
{
  *out = calloc (n ? n : 1, sizeof **out);
  if (!*out)
    return -1;
  for (size_t i = 0; i < n; i++)
    if (pathres_join (&an->paths[v], e[i].dir, e[i].name, e[i].len, &(*out)[i]) == -1)
      return -1;
  if (n > 1)
    qsort (*out, n, sizeof **out, path_compare_v);
  return 0;
}

/* Names from the walk that are not among the added entries: the names
 * the object kept. */
static size_t
kept_names (struct plan *p, struct path *added, size_t na)
{
  size_t k = 0;

  for (size_t i = 0; i < p->nnames[S1]; i++) {
    bool is_added = false;
    for (size_t j = 0; j < na && !is_added; j++)
      is_added = path_compare (&p->names[S1][i], &added[j]) == 0;
    if (is_added)
      free (p->names[S1][i].s);
    else
      p->names[S1][k++] = p->names[S1][i];
  }
  p->nnames[S1] = k;
  if (k > 1)
    qsort (p->names[S1], k, sizeof *p->names[S1], path_compare_v);
  return k;
}

static int
emit_same (struct analysis *an, struct plan *p, struct changes *cs)
{
  struct object *o = &an->obj[p->obj];
  const char *type = extfs_type_name (o->in[S1].i_mode);
  struct path *rp = NULL, *ap = NULL, other = { NULL, 0 };
  struct change *c;
  size_t pairs = p->nr < p->na ? p->nr : p->na, kept;
  int r = -1;

  if (entry_paths (an, S0, p->e, p->nr, &rp) == -1
      || entry_paths (an, S1, p->e ? p->e + p->nr : NULL, p->na, &ap) == -1)
    goto out;
  if (LINUX_S_ISDIR (o->in[S1].i_mode)) {
    /* A directory has one name: its entry in its parent. */
    const struct path *dp;
    kept = 0;
    if (p->na == 0 && (dp = pathres_dir (&an->paths[S1], o->ino))) {
      if (!(p->names[S1] = malloc (sizeof *p->names[S1])) || path_copy (dp, &p->names[S1][0]) == -1)
        goto out;
      p->nnames[S1] = kept = 1;
    }
  }
  else
    kept = kept_names (p, ap, p->na);

  /* A new name of an object that had one is a link of that name: one
   * it kept, else one it had in the base. */
  if (p->na > pairs && (kept || p->nr)
      && path_copy (kept ? &p->names[S1][0] : &rp[0], &other) == -1)
    goto out;
  for (size_t i = 0; i < pairs; i++) {
    if (!(c = new_change (cs, CHANGE_RENAMED, type, o->ino, o->ino)))
      goto out;
    c->what = p->what;
    c->path = ap[i];
    c->from = rp[i];
    ap[i].s = rp[i].s = NULL;
  }
  for (size_t i = pairs; i < p->na; i++) {
    if (!(c = new_change (cs, CHANGE_ADDED, type, o->ino, o->ino)))
      goto out;
    c->path = ap[i];
    ap[i].s = NULL;
    if (other.s && path_copy (&other, &c->link_of) == -1)
      goto out;
  }
  for (size_t i = pairs; i < p->nr; i++) {
    if (!(c = new_change (cs, CHANGE_DELETED, extfs_type_name (o->in[S0].i_mode), o->ino, o->ino)))
      goto out;
    c->path = rp[i];
    rp[i].s = NULL;
  }
  if (p->what && kept) {
    if (!(c = new_change (cs, CHANGE_MODIFIED, type, o->ino, o->ino))
        || path_copy (&p->names[S1][0], &c->path) == -1)
      goto out;
    c->what = p->what;
  }
  else if (p->what && !pairs && o->ino >= EXT2_FIRST_INODE (an->v[S1].fs->super))
    findings_add (&an->findings, "inode %" PRIu32 " (%s) changed, but no directory names it "
                  "in the SEE view", o->ino, type);
  r = 0;
 out:
  free (other.s);
  paths_free (rp, p->nr);
  paths_free (ap, p->na);
  return r;
}

/* Not the same object in both views: what the base had is deleted,
 * what the SEE has is new. */
static int
emit_replaced (struct analysis *an, struct plan *p, struct changes *cs)
{
  struct object *o = &an->obj[p->obj];
  struct path *names[2] = { NULL, NULL };
  size_t n[2] = { p->nr, p->na };
  int r = -1;

  if (entry_paths (an, S0, p->e, p->nr, &names[S0]) == -1
      || entry_paths (an, S1, p->e ? p->e + p->nr : NULL, p->na, &names[S1]) == -1)
    goto out;
  for (int v = S0; v <= S1; v++)
    if (p->walk[v]) {
      paths_free (names[v], n[v]);
      names[v] = p->names[v];
      n[v] = p->nnames[v];
      p->names[v] = NULL;
      p->nnames[v] = 0;
      if (n[v] > 1)
        qsort (names[v], n[v], sizeof *names[v], path_compare_v);
    }
  if (o->live[S0])
    for (size_t i = 0; i < n[S0]; i++) {
      struct change *c = new_change (cs, CHANGE_DELETED, extfs_type_name (o->in[S0].i_mode),
                                     o->ino, 0);
      if (!c)
        goto out;
      c->path = names[S0][i];
      names[S0][i].s = NULL;
    }
  if (!o->live[S1])
    for (size_t i = 0; i < p->na; i++) {
      char *e = ow_escape (names[S1][i].s, names[S1][i].len);
      findings_add (&an->findings, "SEE view: %s names inode %" PRIu32 ", which is not in "
                    "use (no mode, no links, or deleted): a crafted entry, left out",
                    e ? e : "?", o->ino);
      free (e);
    }
  if (o->live[S1]) {
    size_t first = cs->n;
    for (size_t i = 0; i < n[S1]; i++) {
      struct change *c = new_change (cs, CHANGE_ADDED, extfs_type_name (o->in[S1].i_mode),
                                     0, o->ino);
      if (!c)
        goto out;
      c->path = names[S1][i];
      names[S1][i].s = NULL;
      if (i > 0 && path_copy (&cs->c[first].path, &c->link_of) == -1)
        goto out;
    }
    if (n[S1] == 0 && o->candidate && o->ino >= EXT2_FIRST_INODE (an->v[S1].fs->super))
      findings_add (&an->findings, "inode %" PRIu32 " (%s) is in use in the SEE view, but no "
                    "directory names it", o->ino, extfs_type_name (o->in[S1].i_mode));
  }
  r = 0;
 out:
  paths_free (names[S0], n[S0]);
  paths_free (names[S1], n[S1]);
  return r;
}

/* The names the walks must find, in one walk per view. */
static int
walk_for_names (struct analysis *an, struct plan *plans, size_t np, int v)
{
  uint32_t *inos = malloc ((np ? np : 1) * sizeof *inos);
  size_t *idx = malloc ((np ? np : 1) * sizeof *idx), n = 0;
  struct path **paths = NULL;
  size_t *counts = NULL;
  int r = -1;

  if (!inos || !idx)
    goto out;
  for (size_t i = 0; i < np; i++)
    if (plans[i].walk[v]) {
      inos[n] = an->obj[plans[i].obj].ino;
      idx[n++] = i;
    }
  r = 0;
  if (n == 0)
    goto out;
  r = -1;
  if (!(paths = calloc (n, sizeof *paths)) || !(counts = calloc (n, sizeof *counts)))
    goto out;
  if (analysis_names (an, v, inos, n, paths, counts) == -1)
    goto out;
  for (size_t k = 0; k < n; k++) {
    plans[idx[k]].names[v] = paths[k];
    plans[idx[k]].nnames[v] = counts[k];
  }
  r = 0;
 out:
  free (inos);
  free (idx);
  free (paths);
  free (counts);
  return r;
}

static int
order (const struct change *c)
{
  return c->kind == CHANGE_DELETED ? 0 : 1;
}

static int
compare_change (const void *a, const void *b)
{
  const struct change *x = a, *y = b;
  int c = path_compare (&x->path, &y->path);
  return c ? c : order (x) - order (y);
}

/* Two directories that are different objects: do they list the same
 * (name, inode) pairs? */
static int
entries_differ (struct analysis *an, uint32_t ino0, struct ext2_inode_large *a,
                uint32_t ino1, struct ext2_inode_large *b)
{
  struct dirents d[2];
  int r = 1;

  if (!LINUX_S_ISDIR (a->i_mode) || !LINUX_S_ISDIR (b->i_mode))
    return 0;
  if (extfs_read_dir (&an->v[S0], ino0, a, &d[S0]) == -1)
    return -1;
  if (extfs_read_dir (&an->v[S1], ino1, b, &d[S1]) == -1) {
    dirents_free (&d[S0]);
    return -1;
  }
  dirents_sort (&d[S0]);
  dirents_sort (&d[S1]);
  if (d[S0].n == d[S1].n) {
    r = 0;
    for (size_t i = 0; i < d[S0].n && !r; i++)
      r = d[S0].e[i].ino != d[S1].e[i].ino
        || name_cmp (&d[S0], &d[S0].e[i], &d[S1], &d[S1].e[i]) != 0;
  }
  dirents_free (&d[S0]);
  dirents_free (&d[S1]);
  return r;
}

/* A name whose object was replaced (deleted, then added anew at the
 * same path) is one modification of that name. */
static int
merge_replacements (struct analysis *an, struct changes *cs)
{
  size_t k = 0, i;

  for (i = 0; i < cs->n; i++) {
    struct change *d = &cs->c[i], *a = i + 1 < cs->n ? &cs->c[i + 1] : NULL;
    if (a && d->kind == CHANGE_DELETED && a->kind == CHANGE_ADDED && !a->link_of.s
        && path_compare (&d->path, &a->path) == 0) {
      struct object *o0 = analysis_object (an, d->ino[S0]);
      struct object *o1 = analysis_object (an, a->ino[S1]);
      int what;
      if (!o0 || !o1)
        goto fail;
      /* analysis_object may move the table: take the inodes by copy. */
      struct ext2_inode_large i0 = an->obj[inomap_get (&an->objmap, d->ino[S0])].in[S0];
      struct ext2_inode_large i1 = an->obj[inomap_get (&an->objmap, a->ino[S1])].in[S1];
      int differ = entries_differ (an, d->ino[S0], &i0, a->ino[S1], &i1);
      if (differ == -1
          || (what = aspects_of (an, d->ino[S0], &i0, a->ino[S1], &i1, differ)) == -1)
        goto fail;
      a->kind = CHANGE_MODIFIED;
      a->what = what;
      a->ino[S0] = d->ino[S0];
      change_free (d);
      cs->c[k++] = *a;
      i++;
      continue;
    }
    cs->c[k++] = *d;
  }
  cs->n = k;
  return 0;

 fail:
  {
    char *e = ow_escape (cs->c[i].path.s, cs->c[i].path.len);
    ow_error ("cannot compare %s in the base view with the new object the SEE put in "
              "its place", e ? e : "a path");
    free (e);
  }
  /* Changes before i were moved down to k, and their old slots still
   * hold copies: move the rest down too, so that changes_free frees
   * each once. */
  while (i < cs->n)
    cs->c[k++] = cs->c[i++];
  cs->n = k;
  return -1;
}

int
analysis_diff (struct analysis *an, struct changes *out)
{
  struct echanges es = { 0 };
  struct plan *plans = NULL;
  size_t np = 0, ncand = an->nobj;
  uint32_t first_ino = EXT2_FIRST_INODE (an->v[S1].fs->super);
  int r = -1;

  memset (out, 0, sizeof *out);
  for (int v = S0; v <= S1; v++) {
    struct prefetch pf;
    prefetch_init (&pf, &an->v[v]);
    for (size_t i = 0; i < ncand; i++) {
      struct object *o = &an->obj[i];
      if (o->candidate && o->live[v] && LINUX_S_ISDIR (o->in[v].i_mode))
        prefetch_data (&pf, o->ino, &o->in[v]);
    }
    prefetch_issue (&pf);
    prefetch_free (&pf);
  }
  for (size_t i = 0; i < ncand; i++) {
    struct object *o = &an->obj[i];
    if (o->candidate && ((o->live[S0] && LINUX_S_ISDIR (o->in[S0].i_mode))
                         || (o->live[S1] && LINUX_S_ISDIR (o->in[S1].i_mode)))
        && diff_directory (an, i, &es) == -1)
      goto out;
  }
  for (size_t i = 0; i < es.n; i++)
    if (!analysis_object (an, es.e[i].ino))
      goto out;
  if (es.n > 1)
    qsort (es.e, es.n, sizeof *es.e, compare_echange);

  /* Plan each object: its entry changes, its aspects, the names to
   * look for. */
  if (!(plans = calloc (an->nobj ? an->nobj : 1, sizeof *plans)))
    goto out;
  for (size_t i = 0; i < an->nobj; i++) {
    struct object *o = &an->obj[i];
    struct plan *p = &plans[np];
    bool dir;

    memset (p, 0, sizeof *p);
    p->obj = i;
    /* The entry changes are sorted by inode; objects are not. */
    struct echange key = { .ino = o->ino, .view = S0 };
    struct echange *e = es.n ? bsearch (&key, es.e, es.n, sizeof *es.e, compare_echange) : NULL;
    if (!e && es.n) {
      key.view = S1;
      e = bsearch (&key, es.e, es.n, sizeof *es.e, compare_echange);
    }
    if (e) {
      while (e > es.e && e[-1].ino == o->ino)
        e--;
      p->e = e;
      for (; e < es.e + es.n && e->ino == o->ino; e++)
        e->view == S0 ? p->nr++ : p->na++;
    }
    if (o->ino < first_ino && o->ino != EXT2_ROOT_INO)
      continue;                 /* the journal, quota and other reserved inodes */
    if (!o->candidate && p->nr == 0 && p->na == 0)
      continue;
    if (object_same (o)) {
      dir = LINUX_S_ISDIR (o->in[S1].i_mode);
      if (o->candidate
          && (p->what = aspects_of (an, o->ino, &o->in[S0], o->ino, &o->in[S1],
                                    o->entries_changed)) == -1)
        goto out;
      if (!dir && (p->what || p->na > p->nr) && o->in[S1].i_links_count > p->na)
        p->walk[S1] = true;
    }
    else {
      p->walk[S0] = o->candidate && o->live[S0] && p->nr == 0;
      p->walk[S1] = o->candidate && o->live[S1] && p->na == 0;
    }
    np++;
  }
  if (walk_for_names (an, plans, np, S0) == -1 || walk_for_names (an, plans, np, S1) == -1)
    goto out;
  for (size_t i = 0; i < np; i++)
    if ((object_same (&an->obj[plans[i].obj]) ? emit_same (an, &plans[i], out)
         : emit_replaced (an, &plans[i], out)) == -1)
      goto out;
  if (out->n > 1)
    qsort (out->c, out->n, sizeof *out->c, compare_change);
  if (merge_replacements (an, out) == -1)
    goto out;
  for (size_t i = 0; i < out->n; i++)
    out->count[out->c[i].kind]++;
  r = 0;
 out:
  for (size_t i = 0; plans && i < np; i++)
    for (int v = S0; v <= S1; v++)
      paths_free (plans[i].names[v], plans[i].nnames[v]);
  free (plans);
  echanges_free (&es);
  return r;
}
