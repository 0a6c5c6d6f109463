/* oneway-merge: a commit's plan, and the intent journal that keeps it.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "change-paths.h"
#include "commit-plan.h"
#include "oneway/error.h"
#include "oneway/escape.h"
#include "oneway/util.h"

static const char *const op_names[] = {
  "detach", "attach", "exchange", "link", "relink", "attrs", "times",
};

void
plan_free (struct plan *p)
{
  for (size_t i = 0; i < p->n; i++) {
    free (p->s[i].path.s);
    free (p->s[i].from.s);
    xattrs_free (&p->s[i].before);
  }
  free (p->s);
  for (size_t i = 0; i < p->ndt; i++)
    free (p->dt[i].path.s);
  free (p->dt);
  free (p->m);
  free (p->host);
  free (p->record);
  leaving_free (&p->leaving);
  memset (p, 0, sizeof *p);
}

static int
copy_path (struct path *to, const char *s, size_t len)
{
  if (!(to->s = malloc (len ? len : 1)))
    return -1;
  memcpy (to->s, s, len);
  to->len = len;
  return 0;
}

static struct step *
add_step (struct plan *p, enum step_op op, const struct path *path)
{
  struct step *s;

  if (ow_grow_array (&p->s, &p->cap, p->n + 1, sizeof *p->s) == -1)
    return NULL;
  s = &p->s[p->n];
  memset (s, 0, sizeof *s);
  if (copy_path (&s->path, path->s, path->len) == -1)
    return NULL;
  s->op = op;
  p->n++;
  return s;
}

static void
ident_of (const struct stat *st, struct ident *id)
{
  id->present = true;
  id->dev = st->st_dev;
  id->ino = st->st_ino;
  id->mode = st->st_mode;
  id->uid = st->st_uid;
  id->gid = st->st_gid;
  if (!S_ISDIR (st->st_mode)) {
    id->size = st->st_size;
    id->ctime_sec = st->st_ctim.tv_sec;
    id->ctime_nsec = st->st_ctim.tv_nsec;
  }
}

/* What the host has at path p now: ident (not present if nothing). */
static int
host_ident (struct review *rv, const struct path *p, struct ident *id)
{
  struct host_obj h;
  int r = host_lookup (&rv->host, p->s, p->len, &h);

  memset (id, 0, sizeof *id);
  if (r == 0 && h.where == HOST_FOUND)
    ident_of (&h.st, id);
  host_obj_close (&h);
  return r;
}

/* The directory a path is in ("/" for "/" itself). */
static struct path
parent_of (const struct path *p)
{
  struct path d = *p;

  while (d.len > 1 && d.s[d.len - 1] != '/')
    d.len--;
  if (d.len > 1)
    d.len--;
  return d;
}

static bool
is_dir_in (struct review *rv, uint32_t ino, int v)
{
  struct object *o = ino ? analysis_object (&rv->an, ino) : NULL;
  return o && LINUX_S_ISDIR (o->in[v].i_mode);
}


/* An object kept in place: what it is, and what --abort would put back. */
static int
host_before (struct review *rv, const struct path *p, struct step *s)
{
  struct host_obj h;
  int r = host_lookup (&rv->host, p->s, p->len, &h);

  memset (&s->expect, 0, sizeof s->expect);
  if (r == 0 && h.where == HOST_FOUND) {
    ident_of (&h.st, &s->expect);
    s->before_times[0] = h.st.st_atim.tv_sec;
    s->before_times[1] = h.st.st_atim.tv_nsec;
    s->before_times[2] = h.st.st_mtim.tv_sec;
    s->before_times[3] = h.st.st_mtim.tv_nsec;
    if (!S_ISLNK (h.st.st_mode))
      r = host_read_xattrs (&h, &s->before);
  }
  host_obj_close (&h);
  return r;
}

/* A file replaced by a new copy keeps its other names: each name the
 * base gave the same inode, which the SEE's inode still has, becomes a
 * link to the copy. */
static int
add_relinks (struct plan *p, struct review *rv, const struct change *c)
{
  struct object *o = analysis_object (&rv->an, c->ino[S1]);
  struct path *names = NULL;
  size_t count = 0;
  ext2_ino_t ino = c->ino[S1];
  int r = 0;

  if (!o || o->in[S1].i_links_count < 2 || !LINUX_S_ISREG (o->in[S1].i_mode))
    return o ? 0 : -1;
  if (analysis_names (&rv->an, S1, &ino, 1, &names, &count) == -1)
    return -1;
  for (size_t k = 0; k < count && r == 0; k++) {
    struct path place;
    ext2_ino_t base_ino;
    struct step *s;
    int w;

    if (path_compare (&names[k], &c->path) == 0)
      continue;
    if ((w = changes_base_path (&rv->cs, &names[k], true, &place)) != 0) {
      r = w == 1 ? 0 : -1;      /* a name new in the SEE: its own change */
      continue;
    }
    w = pathres_find (&rv->an.v[S0], place.s, place.len, &base_ino);
    if (w == 0 && base_ino == c->ino[S0]) {
      if (!(s = add_step (p, STEP_RELINK, &names[k])) || copy_path (&s->from, c->path.s, c->path.len) == -1
          || host_ident (rv, &place, &s->expect) == -1)
        r = -1;
      else
        s->name = p->next_name++;
    }
    else if (w == -1)
      r = -1;
    free (place.s);
  }
  for (size_t k = 0; k < count; k++)
    free (names[k].s);
  free (names);
  return r;
}

/* A new object made from SEE inode ino; its staged name. */
static int
add_make (struct plan *p, struct review *rv, uint32_t ino, uint32_t *name)
{
  struct object *o = analysis_object (&rv->an, ino);
  struct make *m;

  if (!o || ow_grow_array (&p->m, &p->capm, p->nm + 1, sizeof *p->m) == -1)
    return -1;
  m = &p->m[p->nm++];
  memset (m, 0, sizeof *m);
  m->name = *name = p->next_name++;
  m->ino = ino;
  if (LINUX_S_ISREG (o->in[S1].i_mode))
    p->bytes += m->bytes = EXT2_I_SIZE (&o->in[S1]);
  return 0;
}


/* The SEE's times for its directory ino at path, once its entries are
 * in. */
static int
add_times_step (struct plan *p, const struct path *path, ext2_ino_t ino)
{
  struct step *s = add_step (p, STEP_TIMES, path);

  if (!s)
    return -1;
  s->ino = ino;
  return 0;
}

/* A time step for the directory that held base path b (deleted or
 * renamed away), wherever the SEE has that directory now. */
static int
add_times_of_base_parent (struct plan *p, struct review *rv, const struct path *b)
{
  struct path d = parent_of (b), *names = NULL;
  size_t count = 0;
  ext2_ino_t ino;
  int r;

  if ((r = pathres_find (&rv->an.v[S0], d.s, d.len, &ino)) != 0)
    return r == 1 ? 0 : -1;
  if (!is_dir_in (rv, ino, S1))
    return 0;                   /* the SEE removed it too */
  if (analysis_names (&rv->an, S1, &ino, 1, &names, &count) == -1)
    return -1;
  r = count ? add_times_step (p, &names[0], ino) : 0;
  for (size_t k = 0; k < count; k++)
    free (names[k].s);
  free (names);
  return r;
}

/* A time step for the SEE's directory at path (its parent, with
 * parent), if the SEE has a directory there. */
static int
add_times (struct plan *p, struct review *rv, const struct path *path, bool parent)
{
  struct path d = parent ? parent_of (path) : *path;
  ext2_ino_t ino;
  int r;

  /* Not there in the SEE (a path whose parent went too): no times. */
  if ((r = pathres_find (&rv->an.v[S1], d.s, d.len, &ino)) != 0)
    return r == 1 ? 0 : -1;
  if (!is_dir_in (rv, ino, S1))
    return 0;
  return add_times_step (p, &d, ino);
}

/* A staged object lands at the SEE's path: beside nothing, unless the
 * host made that name too and the user accepted that (then swapped:
 * the host's object goes to staging), or the base's object there is
 * on its way out (detached first). */
static int
add_landing (struct plan *p, struct review *rv, size_t i, uint32_t name)
{
  const struct change *c = &rv->cs.c[i];
  struct ident id = { 0 };
  struct path place;
  struct step *s;
  int w;

  if ((w = changes_base_path (&rv->cs, &c->path, false, &place)) == -1)
    return -1;
  if (w == 0) {
    w = leaving_has (&p->leaving, &place) ? 0 : host_ident (rv, &place, &id);
    free (place.s);
    if (w == -1)
      return -1;
  }
  if (!(s = add_step (p, id.present ? STEP_EXCHANGE : STEP_ATTACH, &c->path)))
    return -1;
  s->name = name;
  s->expect = id;
  return 0;
}

static int
plan_change (struct plan *p, struct review *rv, size_t i)
{
  const struct change *c = &rv->cs.c[i];
  bool dir1 = is_dir_in (rv, c->ino[S1], S1);
  unsigned attrs = 1u << ASPECT_MODE | 1u << ASPECT_OWNER | 1u << ASPECT_XATTRS;
  uint32_t name;
  struct path place;
  struct step *s;
  int w;

  switch (c->kind) {
  case CHANGE_DELETED:
    if (!(s = add_step (p, STEP_DETACH, &c->path)) || host_ident (rv, &c->path, &s->expect) == -1)
      return -1;
    if (!s->expect.present) {   /* the host removed it too */
      free (s->path.s);
      p->n--;
      return 0;
    }
    s->name = p->next_name++;
    return add_times_of_base_parent (p, rv, &c->path);

  case CHANGE_RENAMED:
    if (!(s = add_step (p, STEP_DETACH, &c->from)) || host_ident (rv, &c->from, &s->expect) == -1)
      return -1;
    s->name = p->next_name++;
    name = s->name;
    /* A file with anything more than a new name lands as a new copy;
     * a directory keeps its inode (its entries are changes of their
     * own) and gets its attributes in place. */
    if (!dir1 && (c->what & ~(1u << ASPECT_LINKS)) && add_make (p, rv, c->ino[S1], &name) == -1)
      return -1;
    if (add_landing (p, rv, i, name) == -1)
      return -1;
    if (dir1 && (c->what & attrs)) {
      if (!(s = add_step (p, STEP_ATTRS, &c->path)) || host_before (rv, &c->from, s) == -1)
        return -1;
      s->ino = c->ino[S1];
    }
    if (add_times_of_base_parent (p, rv, &c->from) == -1 || add_times (p, rv, &c->path, true) == -1)
      return -1;
    return dir1 ? add_times (p, rv, &c->path, false) : 0;

  case CHANGE_ADDED:
    if (c->link_of.s) {
      if (!(s = add_step (p, STEP_LINK, &c->path))
          || copy_path (&s->from, c->link_of.s, c->link_of.len) == -1)
        return -1;
    }
    else if (add_make (p, rv, c->ino[S1], &name) == -1 || add_landing (p, rv, i, name) == -1)
      return -1;
    if (add_times (p, rv, &c->path, true) == -1)
      return -1;
    return dir1 ? add_times (p, rv, &c->path, false) : 0;

  case CHANGE_MODIFIED:
  default:
    if (c->what == 1u << ASPECT_LINKS)
      return 0;                 /* a name of its added or removed: a change of its own */
    if ((w = changes_base_path (&rv->cs, &c->path, false, &place)) != 0)
      return w == 1 ? 0 : -1;
    /* In place: a directory's attributes, or a file's when its bytes
     * stayed (its other names keep it, and nothing is copied). */
    bool lnk = c->type && strcmp (c->type, "symlink") == 0;
    if (c->ino[S0] == c->ino[S1] && !(c->what & (1u << ASPECT_TYPE))
        && (dir1 || (!lnk && !(c->what & (1u << ASPECT_CONTENT | 1u << ASPECT_SIZE
                                          | 1u << ASPECT_TARGET))))) {
      if (c->what & (attrs | (dir1 ? 0 : 1u << ASPECT_MTIME))) {
        if (!(s = add_step (p, STEP_ATTRS, &c->path)) || host_before (rv, &place, s) == -1) {
          free (place.s);
          return -1;
        }
        s->ino = c->ino[S1];
      }
      free (place.s);
      return dir1 ? add_times (p, rv, &c->path, false) : 0;
    }
    if (add_make (p, rv, c->ino[S1], &name) == -1
        || !(s = add_step (p, STEP_EXCHANGE, &c->path))
        || host_ident (rv, &place, &s->expect) == -1) {
      free (place.s);
      return -1;
    }
    free (place.s);
    s->name = name;
    if (!s->expect.present)     /* gone: check said so, and it was accepted */
      s->op = STEP_ATTACH;
    if (add_times (p, rv, &c->path, true) == -1 || add_relinks (p, rv, c) == -1)
      return -1;
    return dir1 ? add_times (p, rv, &c->path, false) : 0;
  }
}

/* The host directory at base path b (its parent, with parent): its
 * times, once. */
static int
note_dir_times (struct plan *p, struct review *rv, const struct path *b, bool parent)
{
  struct path d = parent ? parent_of (b) : *b;
  struct host_obj h;
  struct dir_times *t;
  int r;

  for (size_t i = 0; i < p->ndt; i++)
    if (path_compare (&p->dt[i].path, &d) == 0)
      return 0;
  if ((r = host_lookup (&rv->host, d.s, d.len, &h)) == 0 && h.where == HOST_FOUND
      && S_ISDIR (h.st.st_mode)) {
    if (ow_grow_array (&p->dt, &p->capdt, p->ndt + 1, sizeof *p->dt) == -1
        || copy_path (&p->dt[p->ndt].path, d.s, d.len) == -1)
      r = -1;
    else {
      t = &p->dt[p->ndt++];
      t->ino = h.st.st_ino;
      t->t[0] = h.st.st_atim.tv_sec;
      t->t[1] = h.st.st_atim.tv_nsec;
      t->t[2] = h.st.st_mtim.tv_sec;
      t->t[3] = h.st.st_mtim.tv_nsec;
    }
  }
  host_obj_close (&h);
  return r;
}

/* Every host directory the steps change (the one a name leaves or
 * lands in, or whose times are set), where the base has it. */
static int
note_all_dir_times (struct plan *p, struct review *rv)
{
  for (size_t i = 0; i < p->n; i++) {
    const struct step *s = &p->s[i];
    struct path place;
    int w;

    if (s->op == STEP_DETACH) {
      if (note_dir_times (p, rv, &s->path, true) == -1)
        return -1;
      continue;
    }
    if ((w = changes_base_path (&rv->cs, &s->path, s->op == STEP_TIMES, &place)) != 0) {
      if (w == -1)
        return -1;
      continue;                 /* in a directory new in the SEE: undone with it */
    }
    w = note_dir_times (p, rv, &place, s->op != STEP_TIMES);
    free (place.s);
    if (w == -1)
      return -1;
  }
  return 0;
}

/* The order of the switch phase: detaches deepest first, then what
 * lands and what changes in place, parents first; links; times. */
static int
step_order (const struct step *s)
{
  switch (s->op) {
  case STEP_DETACH: return 0;
  case STEP_ATTACH: case STEP_EXCHANGE: case STEP_ATTRS: return 1;
  case STEP_LINK: case STEP_RELINK: return 2;
  case STEP_TIMES: default: return 3;
  }
}

static int
compare_steps (const void *a, const void *b)
{
  const struct step *x = a, *y = b;
  int c = step_order (x) - step_order (y);

  if (c)
    return c;
  c = path_compare (&x->path, &y->path);
  if (x->op == STEP_DETACH)
    c = -c;
  /* At one path: what lands before its attributes. */
  return c ? c : (int) x->op - (int) y->op;
}

/* One time step per directory. */
static void
dedupe_times (struct plan *p)
{
  size_t k = 0;

  for (size_t i = 0; i < p->n; i++) {
    if (k && p->s[i].op == STEP_TIMES && p->s[k - 1].op == STEP_TIMES
        && path_compare (&p->s[i].path, &p->s[k - 1].path) == 0) {
      free (p->s[i].path.s);
      continue;
    }
    p->s[k++] = p->s[i];
  }
  p->n = k;
}

int
plan_build (struct review *rv, const bool *chosen, const char *host, struct plan *p)
{
  struct ow_info info;
  struct stat st;

  memset (p, 0, sizeof *p);
  p->next_name = 1;
  if (getrandom (p->id, sizeof p->id, 0) != sizeof p->id) {
    ow_error ("commit: no random bytes for the commit's id: %m");
    return -1;
  }
  snprintf (p->staging, sizeof p->staging,
            ".oneway-commit-%02x%02x%02x%02x%02x%02x%02x%02x", p->id[0], p->id[1], p->id[2],
            p->id[3], p->id[4], p->id[5], p->id[6], p->id[7]);
  if (fstat (rv->host.root, &st) == -1 || ow_get_info (rv->ov, &info) == -1) {
    ow_error ("commit: %m");
    return -1;
  }
  p->root_dev = st.st_dev;
  p->root_ino = st.st_ino;
  p->root_times[0] = st.st_atim.tv_sec;
  p->root_times[1] = st.st_atim.tv_nsec;
  p->root_times[2] = st.st_mtim.tv_sec;
  p->root_times[3] = st.st_mtim.tv_nsec;
  memcpy (p->overlay_uuid, info.header.uuid, sizeof p->overlay_uuid);
  if (!(p->host = strdup (host)) || leaving_init (&p->leaving, &rv->cs, chosen) == -1)
    goto nomem;
  for (size_t i = 0; i < rv->cs.n; i++)
    if (chosen[i] && plan_change (p, rv, i) == -1)
      goto fail;
  if (p->n > 1)
    qsort (p->s, p->n, sizeof *p->s, compare_steps);
  dedupe_times (p);
  leaving_free (&p->leaving);
  if (note_all_dir_times (p, rv) == -1)
    goto fail;
  /* What lands, for --abort and --resume to know it by. */
  for (size_t i = 0; i < p->n; i++)
    if (p->s[i].op == STEP_DETACH)
      for (size_t j = 0; j < p->n; j++)
        if (p->s[j].op == STEP_ATTACH && p->s[j].name == p->s[i].name)
          p->s[j].obj = p->s[i].expect.ino;
  if (commit_record_encode (p->id, time (NULL), host, &rv->an, &rv->cs, chosen,
                            &p->record) == -1)
    goto nomem;
  return 0;
 nomem:
  ow_error ("commit: %m");
 fail:
  plan_free (p);
  return -1;
}

/* ---- the journal ------------------------------------------------ */

char *
journal_name (const char *overlay)
{
  char *n;
  return asprintf (&n, "%s.commit", overlay) < 0 ? NULL : n;
}

static int
sync_dir_of (const char *name)
{
  char *copy = strdup (name);
  int fd = copy ? open (dirname (copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1, r = -1;

  if (fd >= 0) {
    r = fsync (fd);
    close (fd);
  }
  free (copy);
  return r;
}

static int
put (char **b, size_t *len, size_t *cap, const char *fmt, ...)
  __attribute__ ((format (printf, 4, 5)));
static int
put (char **b, size_t *len, size_t *cap, const char *fmt, ...)
{
  va_list ap;
  char *s;
  int n;

  va_start (ap, fmt);
  n = vasprintf (&s, fmt, ap);
  va_end (ap);
  if (n < 0)
    return -1;
  if (ow_grow_array (b, cap, *len + n + 1, 1) == -1) {
    free (s);
    return -1;
  }
  memcpy (*b + *len, s, n + 1);
  *len += n;
  free (s);
  return 0;
}

static int
put_hex (char **b, size_t *len, size_t *cap, const void *s, size_t n)
{
  /* An empty path still needs a field: "-". */
  return n ? hex_append (b, len, cap, s, n) : put (b, len, cap, "-");
}

static int
encode_plan (const struct plan *p, char **out, size_t *outlen)
{
  char *b = NULL;
  size_t len = 0, cap = 0;
  int e = 0;

  e |= put (&b, &len, &cap, "oneway commit journal 1\nid ");
  e |= hex_append (&b, &len, &cap, p->id, sizeof p->id);
  e |= put (&b, &len, &cap, "\noverlay ");
  e |= hex_append (&b, &len, &cap, p->overlay_uuid, sizeof p->overlay_uuid);
  e |= put (&b, &len, &cap, "\nhost ");
  e |= put_hex (&b, &len, &cap, p->host, strlen (p->host));
  e |= put (&b, &len, &cap, "\nroot %" PRIu64 " %" PRIu64 " %" PRId64 " %" PRId64 " %" PRId64
            " %" PRId64 "\nstaging %s\nbytes %" PRIu64 "\n", p->root_dev, p->root_ino,
            p->root_times[0], p->root_times[1], p->root_times[2], p->root_times[3], p->staging,
            p->bytes);
  for (size_t i = 0; i < p->nm && !e; i++)
    e |= put (&b, &len, &cap, "make %" PRIu32 " %" PRIu32 " %" PRIu64 "\n", p->m[i].name,
              p->m[i].ino, p->m[i].bytes);
  for (size_t i = 0; i < p->n && !e; i++) {
    const struct step *s = &p->s[i];
    const struct ident *x = &s->expect;
    e |= put (&b, &len, &cap, "step %s %" PRIu32 " %" PRIu32 " %" PRIu64 " %d %" PRIu64 " %"
              PRIu64 " %" PRIu64 " %" PRId64 " %" PRId64 " %" PRIu32 " %" PRIu32 " %" PRIu32
              " ", op_names[s->op], s->name, s->ino, s->obj, x->present, x->dev, x->ino,
              x->size, x->ctime_sec, x->ctime_nsec, x->mode, x->uid, x->gid);
    e |= put_hex (&b, &len, &cap, s->path.s, s->path.len);
    e |= put (&b, &len, &cap, " ");
    e |= put_hex (&b, &len, &cap, s->from.s, s->from.len);
    e |= put (&b, &len, &cap, " %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 "\n",
              s->before_times[0], s->before_times[1], s->before_times[2], s->before_times[3]);
    for (size_t k = 0; k < s->before.n && !e; k++) {
      e |= put (&b, &len, &cap, "xattr ");
      e |= hex_append (&b, &len, &cap, s->before.x[k].name, strlen (s->before.x[k].name));
      e |= put (&b, &len, &cap, " ");
      e |= put_hex (&b, &len, &cap, s->before.x[k].value, s->before.x[k].len);
      e |= put (&b, &len, &cap, "\n");
    }
  }
  for (size_t i = 0; i < p->ndt && !e; i++) {
    const struct dir_times *t = &p->dt[i];
    e |= put (&b, &len, &cap, "dirtimes %" PRIu64 " %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64
              " ", t->ino, t->t[0], t->t[1], t->t[2], t->t[3]);
    e |= put_hex (&b, &len, &cap, t->path.s, t->path.len);
    e |= put (&b, &len, &cap, "\n");
  }
  e |= put (&b, &len, &cap, "record ");
  e |= hex_append (&b, &len, &cap, p->record, strlen (p->record));
  e |= put (&b, &len, &cap, "\nplan end\n");
  if (e) {
    free (b);
    return -1;
  }
  *out = b;
  *outlen = len;
  return 0;
}

int
journal_create (const char *name, const struct plan *p)
{
  char *text, *shown = ow_escape (name, strlen (name));
  size_t len;
  int fd = -1, r = -1;

  if (encode_plan (p, &text, &len) == -1) {
    ow_error ("commit: %m");
    free (shown);
    return -1;
  }
  commit_point ();
  fd = open (name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd == -1 && errno == EEXIST)
    ow_error ("commit journal %s exists: a commit of this overlay is under way or was "
              "interrupted; finish it with commit --resume, or undo it with commit --abort",
              shown);
  else if (fd == -1)
    ow_error ("commit journal %s: %m", shown);
  else if (ow_pwrite_full (fd, text, len, 0) == -1 || fsync (fd) == -1 || sync_dir_of (name) == -1) {
    ow_error ("commit journal %s: %m", shown);
    unlink (name);
  }
  else
    r = 0;
  if (fd >= 0)
    close (fd);
  free (text);
  free (shown);
  return r;
}

int
journal_phase (const char *name, struct plan *p, const char *phase)
{
  char *b = NULL;
  size_t len = 0, cap = 0;
  int e = put (&b, &len, &cap, "%s", phase), fd, r = -1;

  for (size_t i = 0; i < p->nm && !e && strcmp (phase, "written") == 0; i++)
    e |= put (&b, &len, &cap, " %" PRIu64, p->m[i].made);
  e |= put (&b, &len, &cap, "\n");
  commit_point ();
  fd = e ? -1 : open (name, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
  if (fd >= 0 && write (fd, b, len) == (ssize_t) len && fdatasync (fd) == 0)
    r = 0;
  if (r == -1)
    ow_error ("commit journal: cannot note the end of the %s phase: %m", phase);
  if (fd >= 0)
    close (fd);
  free (b);
  return r;
}

int
journal_remove (const char *name)
{
  commit_point ();
  if (unlink (name) == -1 || sync_dir_of (name) == -1) {
    ow_error ("commit journal: cannot remove it: %m");
    return -1;
  }
  return 0;
}

/* ---- reading it back -------------------------------------------- */

static int
field_path (const char *f, struct path *out)
{
  if (strcmp (f, "-") == 0) {
    out->s = NULL;
    out->len = 0;
    return 0;
  }
  return hex_decode (f, strlen (f), &out->s, &out->len);
}

static int
parse_step (struct plan *p, char *line)
{
  char op[16], *fpath, *ffrom, *ftimes;
  struct step s = { 0 };
  int present, k;
  struct ident *x = &s.expect;

  if (sscanf (line, "step %15s %" SCNu32 " %" SCNu32 " %" SCNu64 " %d %" SCNu64 " %" SCNu64
              " %" SCNu64 " %" SCNd64 " %" SCNd64 " %" SCNu32 " %" SCNu32 " %" SCNu32 " %n",
              op, &s.name, &s.ino, &s.obj, &present, &x->dev, &x->ino, &x->size,
              &x->ctime_sec, &x->ctime_nsec, &x->mode, &x->uid, &x->gid, &k) != 13)
    return -1;
  x->present = present;
  fpath = line + k;
  if (!(ffrom = strchr (fpath, ' ')) || !(ftimes = strchr (ffrom + 1, ' ')))
    return -1;
  *ffrom++ = '\0';
  *ftimes++ = '\0';
  if (sscanf (ftimes, "%" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64, &s.before_times[0],
              &s.before_times[1], &s.before_times[2], &s.before_times[3]) != 4)
    return -1;
  for (s.op = 0; s.op <= STEP_TIMES && strcmp (op_names[s.op], op) != 0; s.op++)
    ;
  if (s.op > STEP_TIMES || field_path (fpath, &s.path) == -1 || !s.path.len
      || field_path (ffrom, &s.from) == -1
      || ow_grow_array (&p->s, &p->cap, p->n + 1, sizeof *p->s) == -1) {
    free (s.path.s);
    free (s.from.s);
    return -1;
  }
  p->s[p->n++] = s;
  return 0;
}

/* "NAME VALUE" in hexadecimal: one xattr an ATTRS step's object had. */
static int
parse_xattr (struct step *s, char *line)
{
  char *sp = strchr (line, ' '), *name = NULL, *value = NULL;
  size_t nlen, vlen;
  int r = -1;

  if (sp && hex_decode (line, sp - line, &name, &nlen) == 0 && !memchr (name, '\0', nlen)
      && (strcmp (sp + 1, "-") == 0 ? (value = strdup (""), vlen = 0, value != NULL)
          : hex_decode (sp + 1, strlen (sp + 1), &value, &vlen) == 0))
    r = xattrs_add (&s->before, name, value, vlen);
  free (name);
  free (value);
  return r;
}

static int
parse_line (struct plan *p, char *line, int *state)
{
  char *b;
  size_t n;

  if (*state == 0)
    return strcmp (line, "oneway commit journal 1") == 0 ? (*state = 1, 0) : -1;
  if (*state == 2) {
    if (strncmp (line, "written", 7) == 0) {
      char *q = line + 7;
      for (size_t i = 0; i < p->nm; i++)
        p->m[i].made = strtoull (q, &q, 10);
      p->written = true;
      return 0;
    }
    if (strcmp (line, "switched") == 0)
      return p->switched = true, 0;
    return -1;
  }
  if (strncmp (line, "id ", 3) == 0)
    return hex_decode (line + 3, strlen (line + 3), &b, &n) == -1 || n != sizeof p->id ? -1
      : (memcpy (p->id, b, n), free (b), 0);
  if (strncmp (line, "overlay ", 8) == 0)
    return hex_decode (line + 8, strlen (line + 8), &b, &n) == -1 || n != sizeof p->overlay_uuid
      ? -1 : (memcpy (p->overlay_uuid, b, n), free (b), 0);
  if (strncmp (line, "host ", 5) == 0)
    return hex_decode (line + 5, strlen (line + 5), &p->host, &n);
  if (strncmp (line, "root ", 5) == 0)
    return sscanf (line, "root %" SCNu64 " %" SCNu64 " %" SCNd64 " %" SCNd64 " %" SCNd64 " %"
                   SCNd64, &p->root_dev, &p->root_ino, &p->root_times[0], &p->root_times[1],
                   &p->root_times[2], &p->root_times[3]) == 6 ? 0 : -1;
  if (strncmp (line, "staging ", 8) == 0)
    return strlen (line + 8) < sizeof p->staging
      && strncmp (line + 8, ".oneway-commit-", 15) == 0 && !strchr (line + 8, '/')
      ? (strcpy (p->staging, line + 8), 0) : -1;
  if (strncmp (line, "bytes ", 6) == 0)
    return sscanf (line, "bytes %" SCNu64, &p->bytes) == 1 ? 0 : -1;
  if (strncmp (line, "make ", 5) == 0) {
    struct make m = { 0 };
    if (sscanf (line, "make %" SCNu32 " %" SCNu32 " %" SCNu64, &m.name, &m.ino, &m.bytes) != 3
        || ow_grow_array (&p->m, &p->capm, p->nm + 1, sizeof *p->m) == -1)
      return -1;
    p->m[p->nm++] = m;
    return 0;
  }
  if (strncmp (line, "step ", 5) == 0)
    return parse_step (p, line);
  if (strncmp (line, "xattr ", 6) == 0 && p->n)
    return parse_xattr (&p->s[p->n - 1], line + 6);
  if (strncmp (line, "dirtimes ", 9) == 0) {
    struct dir_times t = { 0 };
    int k;
    if (sscanf (line, "dirtimes %" SCNu64 " %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64 " %n",
                &t.ino, &t.t[0], &t.t[1], &t.t[2], &t.t[3], &k) != 5
        || field_path (line + k, &t.path) == -1)
      return -1;
    if (!t.path.len || ow_grow_array (&p->dt, &p->capdt, p->ndt + 1, sizeof *p->dt) == -1) {
      free (t.path.s);
      return -1;
    }
    p->dt[p->ndt++] = t;
    return 0;
  }
  if (strncmp (line, "record ", 7) == 0)
    return hex_decode (line + 7, strlen (line + 7), &p->record, &n);
  if (strcmp (line, "plan end") == 0)
    return *state = 2, 0;
  return -1;
}

int
journal_load (const char *name, struct plan *p)
{
  char *shown = ow_escape (name, strlen (name)), *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int state = 0, lineno = 0, r = -1;
  FILE *f;

  memset (p, 0, sizeof *p);
  if (!(f = fopen (name, "re"))) {
    if (errno == ENOENT)
      r = 1;
    else
      ow_error ("commit journal %s: %m", shown);
    free (shown);
    return r;
  }
  while ((n = getline (&line, &cap, f)) > 0) {
    lineno++;
    if (line[n - 1] != '\n')
      break;                    /* a phase line cut short: not written */
    line[n - 1] = '\0';
    if (parse_line (p, line, &state) == -1) {
      ow_error ("commit journal %s is damaged at line %d: it was not written by this "
                "oneway-merge, or was changed; the host tree may hold part of the commit "
                "(see the staging directory .oneway-commit-* at its top)", shown, lineno);
      goto out;
    }
  }
  /* Cut short before its end: written before the host was touched. */
  r = state == 2 ? 0 : 2;
 out:
  if (r != 0)
    plan_free (p);
  free (line);
  fclose (f);
  free (shown);
  return r;
}
