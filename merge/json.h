/* oneway-merge: a small streaming JSON writer.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * Strings are written through ow_escape first, so whatever bytes the
 * SEE put in a name, the output is valid JSON of printable text that
 * maps back to those bytes (see oneway-merge(1), "JSON strings").
 */
#ifndef ONEWAY_MERGE_JSON_H
#define ONEWAY_MERGE_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

struct json {
  FILE *f;
  int depth;
  bool first[JSON_MAX_DEPTH];
  bool after_key;
};

void json_init (struct json *j, FILE *f);
void json_object_begin (struct json *j);
void json_object_end (struct json *j);
void json_array_begin (struct json *j);
void json_array_end (struct json *j);
void json_key (struct json *j, const char *key);
void json_string (struct json *j, const char *s);
void json_bytes (struct json *j, const char *s, size_t len);
/* A string that is escaped already (made of ow_escape's output and
 * fixed text): written as it is, save JSON's own escapes. */
void json_escaped (struct json *j, const char *s);
void json_u64 (struct json *j, uint64_t v);
void json_double (struct json *j, double v);
void json_bool (struct json *j, bool v);
void json_null (struct json *j);
/* Ends the document with a newline. */
void json_finish (struct json *j);

#endif
