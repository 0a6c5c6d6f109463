/* oneway-merge: the commands and what they share.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#ifndef ONEWAY_MERGE_COMMANDS_H
#define ONEWAY_MERGE_COMMANDS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oneway/overlay.h"

/* Exit status, as DESIGN.md fixes it. */
#define EXIT_YES 0
#define EXIT_NO 1
#define EXIT_ERROR 2

/* An option that may be given several times, in order. */
struct arg_list {
  const char **v;
  size_t n, cap;
};

struct merge_opts {
  const char *command;
  const char *overlay;
  const char *base;             /* --base, overriding the header */
  const char *path;             /* cat's PATH */
  bool json;
  bool base_view;               /* cat --base-view: the base's version */
  bool ignore_journal;          /* read an unclean SEE filesystem as it is */
  bool dry_run;
  int partition;                /* --partition N; 0: find it */
  /* check (and commit): the host tree, the policy, the selection */
  const char *host;             /* --host DIR */
  const char *policy;           /* --policy FILE; NULL: the default */
  struct arg_list protect, allow, only, exclude, from, accept;
  bool nul;                     /* -z: --from lists are NUL-separated */
  bool yes;                     /* discard: do not ask */
  bool resume, abort;           /* commit: finish, or undo, an interrupted one */
};

/* Open the overlay for reading (refused while a plugin has it open for
 * writing).  Prints the reason and returns -1 on failure. */
int merge_open (const struct merge_opts *o, bool need_base, struct ow_overlay **ov);
/* Open it for writing on the user's behalf (recover): exclusive, with
 * its settings kept, and these reads kept out of the read set. */
int merge_open_for_tool (const struct merge_opts *o, struct ow_overlay **ov);

/* The stderr error sink, and one that keeps the last message in buf
 * instead (for errors that are part of an answer). */
void merge_print_error (const char *fmt, va_list ap);
void merge_capture_errors (char *buf, size_t len);

struct analysis;

/* Open the overlay with its base, and both views through libext2fs.
 * Returns 0 (an ext filesystem: the written set is loaded), 1 (the SEE
 * view holds something else, an->probe.what says what), or -1 (printed). */
int merge_open_views (const struct merge_opts *o, struct ow_overlay **ov,
                      struct analysis *an);
/* The same, the overlay opened for writing if writable (as
 * merge_open_for_tool opens it). */
int merge_open_views_for (const struct merge_opts *o, bool writable, struct ow_overlay **ov,
                          struct analysis *an);
/* An overlay's id (16 bytes) as 8-4-4-4-12 hexadecimal digits, into
 * buf of at least 37 bytes. */
void merge_format_uuid (const uint8_t *u, char *buf);

/* -1 (said) if a commit of the overlay was interrupted (its journal is
 * there): nothing may change the SEE view until it is finished or
 * undone. */
int merge_refuse_while_committing (const struct merge_opts *o);

/* Findings as warnings on stderr, escaped. */
void merge_print_findings (const struct analysis *an);
/* The same as the "findings" array of a JSON answer. */
struct json;
void merge_findings_json (struct json *j, const struct analysis *an);
/* key: an array of the names of the aspects set in w (changes.h). */
void merge_aspects_json (struct json *j, const char *key, unsigned w);

int cmd_info (const struct merge_opts *o);
int cmd_blocks (const struct merge_opts *o);
int cmd_audit (const struct merge_opts *o);
int cmd_diff (const struct merge_opts *o);
int cmd_cat (const struct merge_opts *o);
int cmd_recover (const struct merge_opts *o);
int cmd_check (const struct merge_opts *o);
int cmd_discard (const struct merge_opts *o);
int cmd_commit (const struct merge_opts *o);

#endif
