/* oneway-merge: a small streaming JSON writer.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "oneway/escape.h"

void
json_init (struct json *j, FILE *f)
{
  memset (j, 0, sizeof *j);
  j->f = f;
  j->first[0] = true;
}

/* Separator before a value: none after a key, else a comma unless it
 * is the first item of its container. */
static void
before_value (struct json *j)
{
  if (j->after_key) {
    j->after_key = false;
    return;
  }
  if (!j->first[j->depth])
    fputs (", ", j->f);
  j->first[j->depth] = false;
}

static void
open_container (struct json *j, char c)
{
  before_value (j);
  fputc (c, j->f);
  if (j->depth + 1 < JSON_MAX_DEPTH)
    j->depth++;
  j->first[j->depth] = true;
}

static void
close_container (struct json *j, char c)
{
  fputc (c, j->f);
  if (j->depth > 0)
    j->depth--;
}

void json_object_begin (struct json *j) { open_container (j, '{'); }
void json_object_end (struct json *j) { close_container (j, '}'); }
void json_array_begin (struct json *j) { open_container (j, '['); }
void json_array_end (struct json *j) { close_container (j, ']'); }

/* s is already printable UTF-8 (from ow_escape): only the quote and
 * the backslash need JSON escapes. */
static void
put_quoted (FILE *f, const char *s)
{
  fputc ('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      fputc ('\\', f);
    fputc (*s, f);
  }
  fputc ('"', f);
}

void
json_key (struct json *j, const char *key)
{
  before_value (j);
  put_quoted (j->f, key);
  fputs (": ", j->f);
  j->after_key = true;
}

void
json_bytes (struct json *j, const char *s, size_t len)
{
  char *e = ow_escape (s, len);

  before_value (j);
  put_quoted (j->f, e ? e : "");
  free (e);
}

void
json_escaped (struct json *j, const char *s)
{
  before_value (j);
  put_quoted (j->f, s);
}

void
json_string (struct json *j, const char *s)
{
  json_bytes (j, s, strlen (s));
}

void
json_u64 (struct json *j, uint64_t v)
{
  before_value (j);
  fprintf (j->f, "%" PRIu64, v);
}

void
json_double (struct json *j, double v)
{
  before_value (j);
  fprintf (j->f, "%.3f", v);
}

void
json_bool (struct json *j, bool v)
{
  before_value (j);
  fputs (v ? "true" : "false", j->f);
}

void
json_null (struct json *j)
{
  before_value (j);
  fputs ("null", j->f);
}

void
json_finish (struct json *j)
{
  fputc ('\n', j->f);
}
