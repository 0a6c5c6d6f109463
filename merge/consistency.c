/* oneway-merge: conflicts with the host and policy findings.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "change-paths.h"
#include "commit-record.h"
#include "consistency.h"
#include "host-compare.h"
#include "oneway/escape.h"
#include "oneway/util.h"
#include "xattrs.h"

const char *const issue_kind_names[ISSUE_KINDS] = {
  "read-write", "write-write", "name", "gone", "selection",
  "setuid", "capability", "device", "protected", "other-filesystem",
  "stale-listing",
};

enum issue_class
issue_class_of (enum issue_kind k)
{
  return k <= ISSUE_SELECTION ? ISSUE_CONFLICT : k <= ISSUE_OTHER_FILESYSTEM ? ISSUE_POLICY
    : ISSUE_NOTE;
}

struct checking {
  const struct consistency *c;
  struct verdict *v;
  struct leaving leaving;
};

/* A new issue at path (copied); NULL on out of memory. */
static struct issue *
add (struct checking *r, enum issue_kind kind, const struct path *path, int64_t change)
{
  struct verdict *v = r->v;
  struct issue *is;

  if (ow_grow_array (&v->issue, &v->cap, v->n + 1, sizeof *v->issue) == -1)
    return NULL;
  is = &v->issue[v->n];
  memset (is, 0, sizeof *is);
  if (!(is->path.s = malloc (path->len ? path->len : 1)))
    return NULL;
  memcpy (is->path.s, path->s, path->len);
  is->path.len = path->len;
  is->kind = kind;
  is->change = change;
  v->n++;
  return is;
}

/* detail = before + escaped bytes + after. */
static int
set_detail (struct issue *is, const char *before, const char *s, size_t len, const char *after)
{
  char *e = ow_escape (s, len);
  int r = e && asprintf (&is->detail, "%s%s%s", before, e, after) >= 0 ? 0 : -1;

  if (r == -1)
    is->detail = NULL;
  free (e);
  return r;
}

static bool
read_by_see (const struct checking *r, uint32_t ino)
{
  /* Without a read set nothing can be called blind. */
  return !r->c->reads || reads_find (r->c->reads, ino);
}

/* Where and why a host lookup stopped, for people. */
static int
stopped_detail (struct issue *is, const struct host_obj *h, const struct path *looked_up)
{
  switch (h->where) {
  case HOST_MOUNT:
    return set_detail (is, "", looked_up->s, h->at, " is a mount point on the host: another "
                       "filesystem, not looked into");
  case HOST_SYMLINK:
    return set_detail (is, "the host replaced ", looked_up->s, h->at,
                       " with a symlink (not followed)");
  case HOST_NOT_DIR:
    return set_detail (is, "the host replaced ", looked_up->s, h->at,
                       " with something that is not a directory");
  case HOST_ABSENT: default:
    return set_detail (is, "the host removed ", looked_up->s, h->at, "");
  }
}

/* A host lookup that stopped before the object: the issue it makes
 * (mount_kind at a mount point, else gone), or none when the object is
 * merely not there and that is fine (absent_ok: a deletion). */
static int
not_found (struct checking *r, const struct host_obj *h, const struct path *at, int64_t change,
           const struct path *looked_up, bool absent_ok, enum issue_kind mount_kind)
{
  struct issue *is;

  if (h->where != HOST_MOUNT && absent_ok)
    return 0;
  if (!(is = add (r, h->where == HOST_MOUNT ? mount_kind : ISSUE_GONE, at, change)))
    return -1;
  return stopped_detail (is, h, looked_up);
}

static int
lookup (struct checking *r, const struct path *p, struct host_obj *h)
{
  return host_lookup (r->c->host, p->s, p->len, h);
}

/* The object of view v with inode ino, copied (analysis_object may
 * move the table). */
static int
inode_of (struct checking *r, int v, uint32_t ino, struct ext2_inode_large *in)
{
  struct object *o = analysis_object (r->c->an, ino);

  if (!o)
    return -1;
  *in = o->in[v];
  return 0;
}

/* The host's object at base path b against the base's inode: a
 * write-write conflict at the change's path if it differs. */
static int
compare_with_base (struct checking *r, size_t i, const struct path *b, bool removes_dir)
{
  const struct change *c = &r->c->cs->c[i];
  struct ext2_inode_large in;
  struct host_obj h;
  struct issue *is;
  int w = 0;

  if (lookup (r, b, &h) == -1) {
    host_obj_close (&h);
    return -1;
  }
  if (h.where != HOST_FOUND)
    w = not_found (r, &h, &c->path, i, b, c->kind == CHANGE_DELETED, ISSUE_OTHER_FILESYSTEM);
  else if (inode_of (r, S0, c->ino[S0], &in) == -1)
    w = -1;
  else {
    /* Names the host added where the SEE removes the directory would
     * go with it; names the host removed there, the SEE removes too. */
    w = host_compare (&h, &r->c->an->v[S0], c->ino[S0], &in, removes_dir ? COMPARE_NEW_NAMES : 0);
    if (w > 0) {
      if (!(is = add (r, ISSUE_WRITE_WRITE, &c->path, i)))
        w = -1;
      else {
        is->host = w;
        is->see = c->kind == CHANGE_DELETED ? 0 : c->what;
        is->blind = !read_by_see (r, c->ino[S0]);
        if (c->kind == CHANGE_RENAMED
            && set_detail (is, "renamed from ", c->from.s, c->from.len, "") == -1)
          w = -1;
        else if (c->kind == CHANGE_DELETED && !(is->detail = strdup ("deleted by the SEE")))
          w = -1;
      }
    }
  }
  host_obj_close (&h);
  return w < 0 ? -1 : 0;
}

/* Nothing may be at a name the SEE made, where the base had nothing,
 * unless it is what the SEE made (added) or some other change handles
 * the base's object there (a deletion at the same path). */
static int
check_new_name (struct checking *r, size_t i)
{
  const struct change *c = &r->c->cs->c[i];
  struct path place;
  struct host_obj h;
  int w, ret = -1;

  if ((w = changes_base_path (r->c->cs, &c->path, false, &place)) != 0)
    return w == 1 ? 0 : -1;     /* in a directory new in the SEE: its own change says */
  h.fd = -1;
  h.shown = NULL;
  if (leaving_has (&r->leaving, &place)) {
    ret = 0;                    /* the base's object there goes (deleted, renamed away) */
    goto out;
  }
  if (lookup (r, &place, &h) == -1)
    goto out;
  if (h.where != HOST_FOUND)
    ret = h.where == HOST_ABSENT && h.at == place.len ? 0
      : not_found (r, &h, &c->path, i, &place, false, ISSUE_OTHER_FILESYSTEM);
  else if (c->kind == CHANGE_RENAMED) {
    struct issue *is = add (r, ISSUE_NAME, &c->path, i);
    ret = is ? set_detail (is, "the host made this name too; the SEE renamed ", c->from.s,
                           c->from.len, " to it") : -1;
  }
  else {
    struct ext2_inode_large in;
    if (inode_of (r, S1, c->ino[S1], &in) == -1)
      goto out;
    w = host_compare (&h, &r->c->an->v[S1], c->ino[S1], &in, 0);
    if (w > 0) {
      struct issue *is = add (r, ISSUE_NAME, &c->path, i);
      char what[128] = "";
      for (int a = 0; a < ASPECTS; a++)
        if (w & (1u << a))
          snprintf (what + strlen (what), sizeof what - strlen (what), "%s%s",
                    what[0] ? ", " : "", aspect_names[a]);
      if (!is || asprintf (&is->detail, "added by both, different %s", what) < 0) {
        if (is)
          is->detail = NULL;
        goto out;
      }
      is->host = w;
    }
    ret = w < 0 ? -1 : 0;
  }
 out:
  host_obj_close (&h);
  free (place.s);
  return ret;
}

/* The host side of one chosen change. */
static int
check_change (struct checking *r, size_t i)
{
  const struct change *c = &r->c->cs->c[i];
  struct path b;
  int w;

  switch (c->kind) {
  case CHANGE_DELETED:
    return compare_with_base (r, i, &c->path, true);
  case CHANGE_RENAMED:
    if (compare_with_base (r, i, &c->from, false) == -1)
      return -1;
    return check_new_name (r, i);
  case CHANGE_ADDED:
    return check_new_name (r, i);
  case CHANGE_MODIFIED:
  default:
    /* In place: where the directories above it are in the base. */
    if ((w = changes_base_path (r->c->cs, &c->path, false, &b)) != 0)
      return w == 1 ? 0 : -1;
    /* The directory's names count if the SEE's change removes it. */
    w = compare_with_base (r, i, &b, (c->what & (1u << ASPECT_TYPE)) || c->ino[S0] != c->ino[S1]);
    free (b.s);
    return w;
  }
}

/* The policy on one chosen change: what it brings, and where. */
static int
check_policy (struct checking *r, size_t i)
{
  const struct change *c = &r->c->cs->c[i];
  const struct path *rule;
  struct issue *is;
  bool dir = strcmp (c->type, "dir") == 0;

  if ((rule = policy_protects (r->c->policy, &c->path, dir && c->kind != CHANGE_ADDED))
      || (c->kind == CHANGE_RENAMED && (rule = policy_protects (r->c->policy, &c->from, dir)))) {
    if (!(is = add (r, ISSUE_PROTECTED, &c->path, i)))
      return -1;
    is->rule = rule;
  }
  if (c->kind == CHANGE_DELETED || (c->kind == CHANGE_MODIFIED && c->what == 1u << ASPECT_LINKS))
    return 0;

  struct ext2_inode_large in;
  if (inode_of (r, S1, c->ino[S1], &in) == -1)
    return -1;
  if (LINUX_S_ISCHR (in.i_mode) || LINUX_S_ISBLK (in.i_mode))
    return add (r, ISSUE_DEVICE, &c->path, i) ? 0 : -1;
  if (!LINUX_S_ISREG (in.i_mode))
    return 0;
  if ((in.i_mode & (LINUX_S_ISUID | LINUX_S_ISGID))
      && !add (r, ISSUE_SETUID, &c->path, i))
    return -1;
  struct xattrs xs = { 0 };
  int ret = extfs_read_xattrs (&r->c->an->v[S1], c->ino[S1], &xs);
  if (ret == 0 && xattrs_find (&xs, "security.capability") && !add (r, ISSUE_CAPABILITY, &c->path, i))
    ret = -1;
  xattrs_free (&xs);
  return ret;
}

/* A file read at name p, where an earlier commit applied the SEE's
 * change: the host's object against what that commit left there. */
static int
check_read_applied (struct checking *r, const struct path *p, const struct applied_change *ac,
                    struct host_obj *h)
{
  struct ext2_inode_large in;
  struct issue *is;
  ext2_ino_t ino;
  int w;

  if (ac->kind == CHANGE_DELETED) {
    if (h->where != HOST_FOUND)
      return 0;
    return (is = add (r, ISSUE_READ_WRITE, p, -1))
      ? set_detail (is, "an earlier commit deleted ", p->s, p->len, ", and the host made it again")
      : -1;
  }
  if ((w = pathres_find (&r->c->an->v[S1], p->s, p->len, &ino)) == -1)
    return -1;
  if (w == 1 || h->where != HOST_FOUND)
    return w == 1 ? 0 : not_found (r, h, p, -1, p, false, ISSUE_READ_WRITE);
  if (inode_of (r, S1, ino, &in) == -1)
    return -1;
  if ((w = host_compare (h, &r->c->an->v[S1], ino, &in, 0)) > 0) {
    if (!(is = add (r, ISSUE_READ_WRITE, p, -1)))
      return -1;
    is->host = w;
    return set_detail (is, "changed since an earlier commit put the SEE's ", p->s, p->len,
                       " in place");
  }
  return w < 0 ? -1 : 0;
}

/* Every name the SEE reached a file it read by, against the host. */
static int
check_read (struct checking *r, const struct read_object *o)
{
  struct ext2_inode_large in;

  if (inode_of (r, S0, o->ino, &in) == -1)
    return -1;
  for (size_t k = 0; k < o->nnames; k++) {
    const struct path *p = &o->names[k];
    const struct applied_change *ac = o->listing ? NULL : applied_at (r->c->applied, p);
    struct host_obj h;
    struct issue *is;
    int w = 0;

    if (lookup (r, p, &h) == -1) {
      host_obj_close (&h);
      return -1;
    }
    if (ac) {
      w = check_read_applied (r, p, ac, &h);
      host_obj_close (&h);
      if (w < 0)
        return -1;
      continue;
    }
    if (o->listing) {
      /* A listing: only its set of names matters, and only as a note;
       * an mtime that did not change says the names did not either.
       * The root's lost+found is mke2fs's, not a host tree's. */
      if (h.where == HOST_FOUND && S_ISDIR (h.st.st_mode)
          && host_same_mtime (&h, &r->c->an->v[S0], &in, true))
        w = 0;
      else if (h.where == HOST_FOUND)
        w = host_compare (&h, &r->c->an->v[S0], o->ino, &in, COMPARE_NAMES);
      if (w >= 0 && (h.where != HOST_FOUND || (w & (1u << ASPECT_TYPE | 1u << ASPECT_CONTENT)))
          && !(h.where == HOST_ABSENT && p->len == 11 && memcmp (p->s, "/lost+found", 11) == 0)) {
        if (!(is = add (r, ISSUE_STALE_LISTING, p, -1)))
          w = -1;
        else if (h.where != HOST_FOUND && stopped_detail (is, &h, p) == -1)
          w = -1;
        else if (h.where == HOST_FOUND && (w & (1u << ASPECT_TYPE))
                 && set_detail (is, "the host replaced ", p->s, p->len,
                                " with something that is not a directory") == -1)
          w = -1;
      }
    }
    else if (h.where != HOST_FOUND)
      w = not_found (r, &h, p, -1, p, false, ISSUE_READ_WRITE);
    else if ((w = host_compare (&h, &r->c->an->v[S0], o->ino, &in, 0)) > 0) {
      if (!(is = add (r, ISSUE_READ_WRITE, p, -1)))
        w = -1;
      else
        is->host = w;
    }
    host_obj_close (&h);
    if (w < 0)
      return -1;
  }
  return 0;
}

/* ---- read-ahead ------------------------------------------------- */

struct path_batch {
  struct path *p;
  size_t n, cap;
};

static int
batch_add (struct path_batch *b, const struct path *p)
{
  struct path copy = { malloc (p->len ? p->len : 1), p->len };

  if (!copy.s || ow_grow_array (&b->p, &b->cap, b->n + 1, sizeof *b->p) == -1) {
    free (copy.s);
    return -1;
  }
  memcpy (copy.s, p->s, p->len);
  b->p[b->n++] = copy;
  return 0;
}

/* Where the host lookups of change i go. */
static int
batch_change (struct checking *r, size_t i, struct path_batch *b)
{
  const struct change *c = &r->c->cs->c[i];
  struct path place;
  int w;

  if (c->kind == CHANGE_DELETED)
    return batch_add (b, &c->path);
  if (c->kind == CHANGE_RENAMED && batch_add (b, &c->from) == -1)
    return -1;
  if ((w = changes_base_path (r->c->cs, &c->path, false, &place)) != 0)
    return w == 1 ? 0 : -1;
  w = batch_add (b, &place);
  free (place.s);
  return w;
}

static void
prefetch_base (struct prefetch *pf, struct checking *r, uint32_t ino)
{
  struct object *o = ino ? analysis_object (r->c->an, ino) : NULL;

  if (o && o->live[S0])
    prefetch_data (pf, ino, &o->in[S0]);
}

/* For a cold cache: what the checks will look at, the host's objects
 * (looked up several at a time) and the base's data, asked for at once
 * rather than waited for one by one.  Only hints: their failures are
 * the checks' to report. */
static void
prefetch_all (struct checking *r)
{
  const struct consistency *c = r->c;
  struct path_batch b = { 0 };
  struct host_prefetch *host = NULL;
  struct prefetch pf;
  int err = 0;

  for (size_t i = 0; i < c->cs->n && !err; i++)
    if (r->v->chosen[i])
      err = batch_change (r, i, &b);
  for (size_t k = 0; c->reads && k < c->reads->n && !err; k++)
    for (size_t j = 0; j < c->reads->o[k].nnames && !err; j++)
      err = batch_add (&b, &c->reads->o[k].names[j]);
  /* In order, so that lookups made together share their directories;
   * in the background, while the base's side is asked for here. */
  if (!err && b.n > 1)
    qsort (b.p, b.n, sizeof *b.p, path_compare_v);
  if (!err)
    host = host_prefetch_begin (c->host, b.p, b.n);
  prefetch_init (&pf, &c->an->v[S0]);
  for (size_t i = 0; i < c->cs->n; i++)
    if (r->v->chosen[i])
      prefetch_base (&pf, r, c->cs->c[i].ino[S0]);
  for (size_t k = 0; c->reads && k < c->reads->n; k++)
    prefetch_base (&pf, r, c->reads->o[k].ino);
  prefetch_issue (&pf);
  prefetch_free (&pf);
  host_prefetch_end (host);
  for (size_t k = 0; k < b.n; k++)
    free (b.p[k].s);
  free (b.p);
}

static int
compare_issues (const void *a, const void *b)
{
  const struct issue *x = a, *y = b;
  int c = (int) x->kind - (int) y->kind;

  if (!c)
    c = path_compare (&x->path, &y->path);
  if (!c)
    c = strcmp (x->detail ? x->detail : "", y->detail ? y->detail : "");
  /* Of two the same, the one of a change first: it says more. */
  if (!c)
    c = (x->change < 0) - (y->change < 0);
  return c;
}

/* One issue once: a file the SEE read and changed, which the host
 * removed, is gone for both reasons. */
static void
dedupe (struct verdict *v)
{
  size_t k = 0;

  if (v->n > 1)
    qsort (v->issue, v->n, sizeof *v->issue, compare_issues);
  for (size_t i = 0; i < v->n; i++) {
    struct issue *is = &v->issue[i], *last = k ? &v->issue[k - 1] : NULL;
    if (last && last->kind == is->kind && path_compare (&last->path, &is->path) == 0
        && last->host == is->host
        && strcmp (last->detail ? last->detail : "", is->detail ? is->detail : "") == 0) {
      free (is->path.s);
      free (is->detail);
      continue;
    }
    v->issue[k++] = *is;
  }
  v->n = k;
}

static bool
accepted (const struct checking *r, const struct issue *is)
{
  const struct selection *s = r->c->sel;
  const struct change *c = is->change >= 0 ? &r->c->cs->c[is->change] : NULL;

  return selection_accepts (s, &is->path)
    || (c && (selection_accepts (s, &c->path)
              || (c->kind == CHANGE_RENAMED && selection_accepts (s, &c->from))));
}

static void
judge (struct checking *r)
{
  struct verdict *v = r->v;

  for (size_t k = 0; k < v->n; k++) {
    struct issue *is = &v->issue[k];
    enum issue_class cls = issue_class_of (is->kind);
    switch (is->kind) {
    case ISSUE_SELECTION: case ISSUE_OTHER_FILESYSTEM: case ISSUE_STALE_LISTING:
      break;
    case ISSUE_SETUID: case ISSUE_CAPABILITY: case ISSUE_DEVICE: case ISSUE_PROTECTED:
      is->overridden = policy_allows (r->c->policy, is->kind - ISSUE_SETUID, &is->path);
      break;
    default:
      is->overridden = accepted (r, is);
    }
    v->count[cls]++;
    if (cls != ISSUE_NOTE && !is->overridden)
      v->blocking++;
  }
}

int
consistency_check (const struct consistency *c, struct verdict *v)
{
  const struct changes *cs = c->cs;
  struct checking r = { c, v, { NULL, 0 } };
  struct selection_problem *probs = NULL;
  size_t nprobs = 0;
  int ret = -1;

  memset (v, 0, sizeof *v);
  if (!(v->chosen = calloc (cs->n ? cs->n : 1, sizeof *v->chosen)))
    return -1;
  if (selection_resolve (c->sel, cs, v->chosen, &probs, &nprobs) == -1)
    goto out;
  for (size_t k = 0; k < nprobs; k++) {
    struct issue *is = add (&r, ISSUE_SELECTION, &cs->c[probs[k].change].path, probs[k].change);
    if (!is)
      goto out;
    is->detail = probs[k].detail;
    probs[k].detail = NULL;
  }
  if (leaving_init (&r.leaving, cs, v->chosen) == -1)
    goto out;
  prefetch_all (&r);
  for (size_t i = 0; i < cs->n; i++)
    if (v->chosen[i]) {
      v->nchosen++;
      if (check_policy (&r, i) == -1 || check_change (&r, i) == -1)
        goto out;
    }
  if (!c->reads) {
    struct path root = { (char *) "/", 1 };
    struct issue *is = add (&r, ISSUE_READ_WRITE, &root, -1);
    if (!is || !(is->detail = strdup ("the read set was not recorded at the SEE's last run "
                                      "(track-reads=false), so what it read, and whether the "
                                      "host changed that since, cannot be known")))
      goto out;
  }
  else
    for (size_t k = 0; k < c->reads->n; k++)
      if (check_read (&r, &c->reads->o[k]) == -1)
        goto out;
  dedupe (v);
  judge (&r);
  ret = 0;
 out:
  leaving_free (&r.leaving);
  for (size_t k = 0; k < nprobs; k++)
    free (probs[k].detail);
  free (probs);
  return ret;
}

void
verdict_free (struct verdict *v)
{
  for (size_t k = 0; k < v->n; k++) {
    free (v->issue[k].path.s);
    free (v->issue[k].detail);
  }
  free (v->issue);
  free (v->chosen);
  memset (v, 0, sizeof *v);
}
