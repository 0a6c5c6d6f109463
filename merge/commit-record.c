/* oneway-merge: what commits applied, as the overlay keeps it.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commit-record.h"
#include "oneway/error.h"
#include "oneway/overlay.h"
#include "oneway/sha256.h"
#include "oneway/util.h"

static const char kind_chars[CHANGE_KINDS] = { 'A', 'M', 'D', 'R' };

void
change_token (struct analysis *an, const struct change *c, uint8_t token[CHANGE_TOKEN_SIZE])
{
  struct ow_sha256 h;
  uint8_t digest[32];
  /* A deletion has no object in the SEE view: the base's, which does
   * not change, and the path say all. */
  int v = c->ino[S1] ? S1 : S0;
  struct object *o = analysis_object (an, c->ino[v]);
  uint64_t state[6] = { v, c->ino[v], 0, 0, 0, 0 };

  if (o) {
    state[2] = o->in[v].i_generation;
    state[3] = o->in[v].i_ctime | (uint64_t) o->in[v].i_ctime_extra << 32;
    state[4] = EXT2_I_SIZE (&o->in[v]);
    state[5] = o->in[v].i_mode | (uint64_t) o->in[v].i_links_count << 16;
  }
  ow_sha256_init (&h);
  ow_sha256_update (&h, state, sizeof state);
  ow_sha256_final (&h, digest);
  memcpy (token, digest, CHANGE_TOKEN_SIZE);
}

int
hex_append (char **buf, size_t *len, size_t *cap, const void *bytes, size_t n)
{
  static const char digits[] = "0123456789abcdef";
  const unsigned char *b = bytes;

  if (ow_grow_array (buf, cap, *len + 2 * n + 1, 1) == -1)
    return -1;
  for (size_t i = 0; i < n; i++) {
    (*buf)[(*len)++] = digits[b[i] >> 4];
    (*buf)[(*len)++] = digits[b[i] & 15];
  }
  (*buf)[*len] = '\0';
  return 0;
}

static int
hex_digit (char c)
{
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int
hex_decode (const char *s, size_t n, char **out, size_t *outlen)
{
  char *b;

  if (n % 2) {
    errno = EINVAL;
    return -1;
  }
  if (!(b = malloc (n / 2 + 1)))
    return -1;
  for (size_t i = 0; i < n; i += 2) {
    int hi = hex_digit (s[i]), lo = hex_digit (s[i + 1]);
    if (hi < 0 || lo < 0) {
      free (b);
      errno = EINVAL;
      return -1;
    }
    b[i / 2] = hi << 4 | lo;
  }
  b[n / 2] = '\0';
  *out = b;
  *outlen = n / 2;
  return 0;
}

static int
append_text (char **buf, size_t *len, size_t *cap, const char *s)
{
  size_t n = strlen (s);

  if (ow_grow_array (buf, cap, *len + n + 1, 1) == -1)
    return -1;
  memcpy (*buf + *len, s, n + 1);
  *len += n;
  return 0;
}

int
commit_record_encode (const uint8_t id[COMMIT_ID_SIZE], int64_t time, const char *host,
                      struct analysis *an, const struct changes *cs, const bool *chosen,
                      char **out)
{
  char *b = NULL, line[64];
  size_t len = 0, cap = 0;
  int r = -1;

  if (append_text (&b, &len, &cap, "oneway commit 1\nid ") == -1
      || hex_append (&b, &len, &cap, id, COMMIT_ID_SIZE) == -1)
    goto out;
  snprintf (line, sizeof line, "\ntime %" PRId64 "\nhost ", time);
  if (append_text (&b, &len, &cap, line) == -1
      || hex_append (&b, &len, &cap, host, strlen (host)) == -1
      || append_text (&b, &len, &cap, "\n") == -1)
    goto out;
  for (size_t i = 0; i < cs->n; i++) {
    const struct change *c = &cs->c[i];
    uint8_t token[CHANGE_TOKEN_SIZE];
    char k[3] = { kind_chars[c->kind], ' ', '\0' };

    if (!chosen[i])
      continue;
    change_token (an, c, token);
    if (append_text (&b, &len, &cap, k) == -1
        || hex_append (&b, &len, &cap, token, sizeof token) == -1
        || append_text (&b, &len, &cap, " ") == -1
        || hex_append (&b, &len, &cap, c->path.s, c->path.len) == -1
        || (c->kind == CHANGE_RENAMED
            && (append_text (&b, &len, &cap, " ") == -1
                || hex_append (&b, &len, &cap, c->from.s, c->from.len) == -1))
        || append_text (&b, &len, &cap, "\n") == -1)
      goto out;
  }
  *out = b;
  b = NULL;
  r = 0;
 out:
  free (b);
  return r;
}

/* ---- reading them back ------------------------------------------ */

struct loading {
  struct applied *a;
  const char *shown;
  size_t record;
};

static int
decode_line_fields (const char *line, size_t n, const char **f, size_t *fl, int max)
{
  int k = 0;
  size_t pos = 0;

  while (pos < n && k < max) {
    size_t end = pos;
    while (end < n && line[end] != ' ')
      end++;
    f[k] = line + pos;
    fl[k++] = end - pos;
    pos = end + 1;
  }
  return pos < n ? -1 : k;
}

static int
load_change (struct applied *a, struct commit_summary *cm, const char **f, size_t *fl, int nf)
{
  struct applied_change ch = { 0 };
  const char *k = memchr (kind_chars, f[0][0], CHANGE_KINDS);
  char *tok = NULL;
  size_t toklen;

  if (!k || fl[0] != 1 || nf < 3 || nf != (k - kind_chars == CHANGE_RENAMED ? 4 : 3))
    return -1;
  ch.kind = k - kind_chars;
  if (hex_decode (f[1], fl[1], &tok, &toklen) == -1 || toklen != CHANGE_TOKEN_SIZE
      || hex_decode (f[2], fl[2], &ch.path.s, &ch.path.len) == -1
      || (nf == 4 && hex_decode (f[3], fl[3], &ch.from.s, &ch.from.len) == -1)
      || ow_grow_array (&a->c, &a->cap, a->n + 1, sizeof *a->c) == -1) {
    free (tok);
    free (ch.path.s);
    free (ch.from.s);
    return -1;
  }
  memcpy (ch.token, tok, CHANGE_TOKEN_SIZE);
  free (tok);
  a->c[a->n++] = ch;
  cm->count[ch.kind]++;
  return 0;
}

static int
load_record (void *opaque, const void *payload, uint32_t len)
{
  struct loading *l = opaque;

  l->record++;
  return commit_record_decode (l->a, payload, len, l->shown, l->record);
}

int
commit_record_decode (struct applied *a, const void *payload, size_t len, const char *shown,
                      size_t record)
{
  struct commit_summary *cm;
  const char *p = payload, *end = p + len;
  int line = 0;

  if (ow_grow_array (&a->commit, &a->capcommits, a->ncommits + 1, sizeof *a->commit) == -1)
    return -1;
  cm = &a->commit[a->ncommits++];
  memset (cm, 0, sizeof *cm);
  while (p < end) {
    const char *nl = memchr (p, '\n', end - p), *f[4];
    size_t fl[4], n = nl ? (size_t) (nl - p) : (size_t) (end - p);
    int nf = decode_line_fields (p, n, f, fl, 4);
    char *bytes = NULL;
    size_t blen;
    int bad = nf < 1;

    if (bad)
      ;
    else if (line == 0)
      bad = n != 15 || memcmp (p, "oneway commit 1", 15) != 0;
    else if (line == 1)
      bad = nf != 2 || memcmp (f[0], "id", 2) != 0
        || hex_decode (f[1], fl[1], &bytes, &blen) == -1 || blen != COMMIT_ID_SIZE
        || (memcpy (cm->id, bytes, COMMIT_ID_SIZE), false);
    else if (line == 2)
      bad = nf != 2 || fl[0] != 4 || memcmp (f[0], "time", 4) != 0
        || sscanf (f[1], "%" SCNd64, &cm->time) != 1;
    else if (line == 3)
      bad = nf != 2 || fl[0] != 4 || memcmp (f[0], "host", 4) != 0
        || hex_decode (f[1], fl[1], &cm->host.s, &cm->host.len) == -1;
    else
      bad = load_change (a, cm, f, fl, nf) == -1;
    free (bytes);
    if (bad) {
      if (errno != ENOMEM)
        ow_error ("overlay %s: commit record %zu is damaged at its line %d: the record of "
                  "what earlier commits applied cannot be read (oneway-merge info shows "
                  "the others)", shown, record, line + 1);
      return -1;
    }
    line++;
    p += n + 1;
  }
  if (line < 4) {
    ow_error ("overlay %s: commit record %zu is cut short", shown, record);
    return -1;
  }
  return 0;
}

static int
compare_applied (const void *x, const void *y)
{
  const struct applied_change *a = x, *b = y;
  int c = path_compare (&a->path, &b->path);

  if (!c)
    c = (int) a->kind - (int) b->kind;
  if (!c)
    c = memcmp (a->token, b->token, CHANGE_TOKEN_SIZE);
  return c;
}

int
applied_load (struct ow_overlay *ov, const char *shown, struct applied *a)
{
  struct loading l = { a, shown, 0 };

  memset (a, 0, sizeof *a);
  if (ow_commit_records (ov, load_record, &l) != 0) {
    if (errno == ENOMEM)
      ow_error ("overlay %s: reading its commit records: %m", shown);
    applied_free (a);
    return -1;
  }
  if (a->n > 1)
    qsort (a->c, a->n, sizeof *a->c, compare_applied);
  return 0;
}

void
applied_free (struct applied *a)
{
  for (size_t i = 0; i < a->n; i++) {
    free (a->c[i].path.s);
    free (a->c[i].from.s);
  }
  for (size_t i = 0; i < a->ncommits; i++)
    free (a->commit[i].host.s);
  free (a->c);
  free (a->commit);
  memset (a, 0, sizeof *a);
}

bool
applied_has (const struct applied *a, const struct change *c, const uint8_t t[CHANGE_TOKEN_SIZE])
{
  struct applied_change key = { .kind = c->kind, .path = c->path };

  memcpy (key.token, t, CHANGE_TOKEN_SIZE);
  return a->n && bsearch (&key, a->c, a->n, sizeof *a->c, compare_applied) != NULL;
}

size_t
applied_filter (const struct applied *a, struct analysis *an, struct changes *cs)
{
  size_t k = 0, skipped = 0;

  for (size_t i = 0; i < cs->n; i++) {
    uint8_t t[CHANGE_TOKEN_SIZE];
    change_token (an, &cs->c[i], t);
    if (applied_has (a, &cs->c[i], t)) {
      cs->count[cs->c[i].kind]--;
      change_free (&cs->c[i]);
      skipped++;
      continue;
    }
    cs->c[k++] = cs->c[i];
  }
  cs->n = k;
  return skipped;
}

static int
compare_applied_path (const void *key, const void *elem)
{
  return path_compare (key, &((const struct applied_change *) elem)->path);
}

const struct applied_change *
applied_at (const struct applied *a, const struct path *p)
{
  return a && a->n ? bsearch (p, a->c, a->n, sizeof *a->c, compare_applied_path) : NULL;
}
