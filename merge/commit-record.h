/* oneway-merge: what commits applied, as the overlay keeps it.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * Each finished commit into a host tree appends one commit record to
 * the overlay (ow_append_commit_record): the host, the time, the
 * commit's id and every change it applied.  A change is known again by
 * its kind, its paths and a token of the SEE's state of the object (its
 * inode, generation, ctime and size in the SEE view): a later commit
 * skips a change whose token is recorded, and takes a change the SEE
 * made again after the commit (the same path, a new state) as new.
 *
 * The payload is text, one line each, so that a person can read it
 * out of the file: "oneway commit 1", "id HEX", "time SECONDS",
 * "host HEX", then per change "KIND TOKEN PATH [FROM]" with KIND one of
 * A M D R and the paths in hexadecimal (they are bytes, any bytes).
 */
#ifndef ONEWAY_MERGE_COMMIT_RECORD_H
#define ONEWAY_MERGE_COMMIT_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis.h"
#include "changes.h"

#define COMMIT_ID_SIZE 16
#define CHANGE_TOKEN_SIZE 16

struct applied_change {
  enum change_kind kind;
  struct path path, from;
  uint8_t token[CHANGE_TOKEN_SIZE];
};

struct commit_summary {
  uint8_t id[COMMIT_ID_SIZE];
  int64_t time;
  struct path host;             /* as the user named it */
  size_t count[CHANGE_KINDS];
};

struct applied {
  struct applied_change *c;     /* sorted, for applied_has */
  size_t n, cap;
  struct commit_summary *commit; /* oldest first */
  size_t ncommits, capcommits;
};

/* The token of change c's object as the SEE view has it now. */
void change_token (struct analysis *an, const struct change *c, uint8_t token[CHANGE_TOKEN_SIZE]);

/* Add one record's commit and changes to a (unsorted); record is its
 * number in shown, for messages.  -1 with a message. */
int commit_record_decode (struct applied *a, const void *payload, size_t len, const char *shown,
                          size_t record);
/* Every commit recorded in ov.  -1 with a message (a damaged record). */
int applied_load (struct ow_overlay *ov, const char *shown, struct applied *a);
void applied_free (struct applied *a);
/* Whether change c (with token t) was applied by a recorded commit. */
bool applied_has (const struct applied *a, const struct change *c,
                  const uint8_t t[CHANGE_TOKEN_SIZE]);
/* A change a recorded commit applied at path p (the SEE's path, or a
 * deletion's), or NULL. */
const struct applied_change *applied_at (const struct applied *a, const struct path *p);
/* Leave out of cs the changes a recorded commit applied; how many. */
size_t applied_filter (const struct applied *a, struct analysis *an, struct changes *cs);

/* The record of a commit of the changes cs->c[i] with chosen[i]: a
 * malloc'ed string into *out.  -1 on out of memory. */
int commit_record_encode (const uint8_t id[COMMIT_ID_SIZE], int64_t time, const char *host,
                          struct analysis *an, const struct changes *cs, const bool *chosen,
                          char **out);

/* Hexadecimal, both ways: the record's and the journal's way to keep
 * bytes on a line.  hex_decode: -1 on a bad digit or an odd length. */
int hex_append (char **buf, size_t *len, size_t *cap, const void *bytes, size_t n);
int hex_decode (const char *s, size_t n, char **out, size_t *outlen);

#endif
