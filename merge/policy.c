/* oneway-merge: the policy: protected paths and allowed findings.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oneway/error.h"
#include "oneway/escape.h"
#include "oneway/util.h"
#include "policy.h"

/* merge/default-policy as a C string, made by make. */
#include "default-policy.h"

const char *const policy_kind_names[POLICY_KINDS] = {
  "setuid", "capability", "device", "protected", "other-filesystem",
};

static int
push_allow (struct policy *p, enum policy_kind kind, struct path under)
{
  if (ow_grow_array (&p->allow, &p->capallow, p->nallow + 1, sizeof *p->allow) == -1) {
    free (under.s);
    return -1;
  }
  p->allow[p->nallow++] = (struct policy_allow) { kind, under };
  return 0;
}

/* The kind named by the len bytes at s, or -1 with a message in what's
 * terms. */
static int
kind_of (const char *s, size_t len, const char *what)
{
  for (int k = 0; k < POLICY_KINDS; k++)
    if (strlen (policy_kind_names[k]) == len && memcmp (policy_kind_names[k], s, len) == 0) {
      if (k == POLICY_OTHER_FILESYSTEM) {
        ow_error ("%s: other-filesystem cannot be allowed: a commit never crosses a mount "
                  "point (commit into that filesystem with --host at its root instead)", what);
        return -1;
      }
      return k;
    }
  char *e = ow_escape (s, len);
  ow_error ("%s: '%s' is not a kind that can be allowed: setuid, capability, device or "
            "protected", what, e ? e : "?");
  free (e);
  return -1;
}

static int
parse_line (struct policy *p, const char *line, size_t len, const char *where)
{
  size_t word = 0, rest;
  struct path path = { NULL, 0 };

  while (word < len && line[word] != ' ' && line[word] != '\t')
    word++;
  rest = word;
  while (rest < len && (line[rest] == ' ' || line[rest] == '\t'))
    rest++;
  if (word == 7 && memcmp (line, "protect", 7) == 0) {
    if (rest == len) {
      ow_error ("%s: 'protect' needs a PATH", where);
      return -1;
    }
    if (path_from_user (line + rest, len - rest, where, &path) == -1)
      return -1;
    return path_list_push (&p->protect, path);
  }
  if (word == 5 && memcmp (line, "allow", 5) == 0) {
    size_t kend = rest;
    int kind;
    while (kend < len && line[kend] != ' ' && line[kend] != '\t')
      kend++;
    if (rest == len) {
      ow_error ("%s: 'allow' needs a KIND: setuid, capability, device or protected", where);
      return -1;
    }
    if ((kind = kind_of (line + rest, kend - rest, where)) == -1)
      return -1;
    while (kend < len && (line[kend] == ' ' || line[kend] == '\t'))
      kend++;
    if (path_from_user (kend < len ? line + kend : "/", kend < len ? len - kend : 1, where,
                        &path) == -1)
      return -1;
    return push_allow (p, kind, path);
  }
  char *e = ow_escape (line, word);
  ow_error ("%s: unknown word '%s': a line is 'protect PATH', 'allow KIND [PATH]', a "
            "comment (#) or empty", where, e ? e : "?");
  free (e);
  return -1;
}

static int
parse (struct policy *p, const char *text, size_t len, const char *name)
{
  size_t pos = 0;
  unsigned lineno = 0;

  while (pos < len) {
    const char *nl = memchr (text + pos, '\n', len - pos);
    size_t end = nl ? (size_t) (nl - text) : len, a = pos, b = end;
    char where[256];

    lineno++;
    while (a < b && (text[a] == ' ' || text[a] == '\t'))
      a++;
    while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\r'))
      b--;
    if (a < b && text[a] != '#') {
      snprintf (where, sizeof where, "%s, line %u", name, lineno);
      if (parse_line (p, text + a, b - a, where) == -1)
        return -1;
    }
    pos = end + 1;
  }
  return 0;
}

int
policy_load (struct policy *p, const char *file)
{
  FILE *f;
  char *text = NULL, *e;
  size_t len = 0;
  int r;

  memset (p, 0, sizeof *p);
  if (!file)
    return parse (p, default_policy, strlen (default_policy), "the default policy");
  e = ow_escape (file, strlen (file));
  if (!(f = fopen (file, "r"))) {
    ow_error ("policy file %s: %m", e ? e : "?");
    free (e);
    return -1;
  }
  /* Small by design: a megabyte is more than any list of paths. */
  if (!(text = malloc ((1 << 20) + 1)))
    r = -1;
  else if ((len = fread (text, 1, (1 << 20) + 1, f)) > 1 << 20 || ferror (f)) {
    if (ferror (f))
      ow_error ("policy file %s: %m", e ? e : "?");
    else
      ow_error ("policy file %s is larger than 1 MiB: is it the policy file?", e ? e : "?");
    r = -1;
  }
  else {
    char name[512];
    snprintf (name, sizeof name, "policy file %s", e ? e : "?");
    r = parse (p, text, len, name);
  }
  fclose (f);
  free (text);
  free (e);
  if (r == -1)
    policy_free (p);
  return r;
}

int
policy_add_protect (struct policy *p, const char *arg)
{
  struct path path;

  if (path_from_user (arg, strlen (arg), "--protect", &path) == -1)
    return -1;
  return path_list_push (&p->protect, path);
}

int
policy_add_allow (struct policy *p, const char *arg)
{
  const char *eq = strchr (arg, '=');
  size_t klen = eq ? (size_t) (eq - arg) : strlen (arg);
  struct path under;
  int kind;

  if ((kind = kind_of (arg, klen, "--allow")) == -1)
    return -1;
  if (path_from_user (eq ? eq + 1 : "/", eq ? strlen (eq + 1) : 1, "--allow", &under) == -1)
    return -1;
  return push_allow (p, kind, under);
}

void
policy_free (struct policy *p)
{
  path_list_free (&p->protect);
  for (size_t i = 0; i < p->nallow; i++)
    free (p->allow[i].under.s);
  free (p->allow);
  memset (p, 0, sizeof *p);
}

const struct path *
policy_protects (const struct policy *p, const struct path *path, bool directory)
{
  for (size_t i = 0; i < p->protect.n; i++) {
    const struct path *r = &p->protect.p[i];
    if (path_within (path->s, path->len, r->s, r->len)
        || (directory && path_within (r->s, r->len, path->s, path->len)))
      return r;
  }
  return NULL;
}

bool
policy_allows (const struct policy *p, enum policy_kind kind, const struct path *path)
{
  for (size_t i = 0; i < p->nallow; i++)
    if (p->allow[i].kind == kind
        && path_within (path->s, path->len, p->allow[i].under.s, p->allow[i].under.len))
      return true;
  return false;
}
